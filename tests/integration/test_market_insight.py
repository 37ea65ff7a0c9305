"""`market` answers with the forecast sentence and a price-history chart (PNG)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.insight import MarketInsights
from core.db.models import Event, MarketSnapshot
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
