"""`market` answers with the forecast sentence and a price-history chart (PNG), from the
snapshots its headline reads, in the event's currency."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import insight as insight_module
from bot.insight import MarketInsights
from core.db.models import Event, MarketSnapshot
from core.ports import Forecast, ForecastRequest
from ml.heuristic import HeuristicPredictor

NOW = datetime(2024, 3, 25, 12, tzinfo=UTC)


async def test_insight_has_a_sentence_and_a_chart(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        event = Event(
            source="seatgeek",
            external_id="1",
            name="Rockies at Diamondbacks",
            category="mlb",
            capacity=48405,
            starts_at=NOW + timedelta(days=6),
        )
        session.add(event)
        await session.flush()
        for day, price in enumerate([40.0, 38.0, 38.0, 35.0, 33.0]):
            session.add(
                MarketSnapshot(
                    event_id=event.id,
                    source="seatgeek",
                    observed_at=NOW - timedelta(days=4 - day),
                    min_price=price,
                    listing_count=300 - day * 20,
                    ticket_count=1200 - day * 90,
                )
            )
    insights = MarketInsights(sessions, HeuristicPredictor())
    insight = await insights.insight(event.id, now=NOW)
    assert insight is not None
    assert insight.sentence and "%" in insight.sentence
    assert insight.chart_png is not None and insight.chart_png.startswith(b"\x89PNG")
    assert await insights.insight(event.id + 999, now=NOW) is None


class RecordingPredictor(HeuristicPredictor):
    """The heuristic, keeping each request it forecasts."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ForecastRequest] = []

    async def forecast(self, requests: Sequence[ForecastRequest]) -> list[Forecast]:
        self.requests += requests
        return await super().forecast(requests)


async def test_the_chart_and_forecast_read_what_the_headline_reads(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In pounds, up to the clock skew ingest allows: a snapshot stamped 2 min ahead is
    the newest (the headline shows it), one a day ahead is not. The chart's axis read
    "Price" and both left out the newest snapshot."""
    async with sessions() as session, session.begin():
        event = Event(
            source="feed",
            external_id="ars-tot",
            name="Arsenal v Tottenham",
            category="football",
            starts_at=NOW + timedelta(days=6),
        )
        session.add(event)
        await session.flush()
        for offset, price in (
            (timedelta(days=-2), 60.0),
            (timedelta(days=-1), 55.0),
            (timedelta(hours=-3), 50.0),
            (timedelta(minutes=2), 45.0),  # within the skew
            (timedelta(days=1), 5.0),  # stamped a day ahead
        ):
            session.add(
                MarketSnapshot(
                    event_id=event.id, source="feed", observed_at=NOW + offset,
                    min_price=price, ticket_count=900, currency="GBP",
                )
            )  # fmt: skip
    drawn: list[tuple[list[tuple[datetime, float]], str | None]] = []
    starts: list[datetime | None] = []

    async def chart(points: Sequence[tuple[datetime, float]], **kwargs: Any) -> bytes:
        drawn.append((list(points), kwargs.get("currency")))
        starts.append(kwargs.get("starts_at"))
        return b"\x89PNG"

    monkeypatch.setattr(insight_module, "price_chart_png", chart)
    predictor = RecordingPredictor()
    insight = await MarketInsights(sessions, predictor).insight(event.id, now=NOW)

    assert insight is not None and insight.chart_png == b"\x89PNG"
    [(points, currency)] = drawn
    assert currency == "GBP"
    assert starts == [NOW + timedelta(days=6)]  # the chart marks the start when it shows it
    assert [p for _, p in points] == [60.0, 55.0, 50.0, 45.0]
    assert points[-1][0] == NOW + timedelta(minutes=2)
    [request] = predictor.requests
    assert [p.min_price for p in request.history] == [60.0, 55.0, 50.0, 45.0]
