"""`market`'s forecast sentence and price-history chart: the predictor and ml.charts
behind core.chat.MarketInsightProvider.

Both read the snapshots the headline reads (core.handlers_market): none stamped later
than now + FUTURE_TOLERANCE, the clock skew ingest accepts; the chart's axis names the
currency of the newest of them, as the headline's prices do.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alert_payload import event_ref
from core.chat import MarketInsight
from core.db.models import Event, MarketSnapshot
from core.domain import band_end
from core.history import market_point
from core.ingest import FUTURE_TOLERANCE
from core.ports import Forecast, ForecastRequest, Predictor
from ml.charts import Outlook, price_chart_png

logger = logging.getLogger(__name__)

HISTORY_POINTS = 200


class MarketInsights:
    """Forecasts one event from its stored history and draws its cheapest-price chart."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], predictor: Predictor) -> None:
        self._sessions = sessions
        self._predictor = predictor

    async def insight(self, event_id: int, *, now: datetime) -> MarketInsight | None:
        async with self._sessions() as session:
            event = await session.get(Event, event_id)
            if event is None:
                return None
            rows = list(
                (
                    await session.execute(
                        select(MarketSnapshot)
                        .where(
                            MarketSnapshot.event_id == event_id,
                            MarketSnapshot.observed_at <= now + FUTURE_TOLERANCE,
                        )
                        .order_by(MarketSnapshot.observed_at.desc(), MarketSnapshot.id.desc())
                        .limit(HISTORY_POINTS)
                    )
                ).scalars()
            )
        history = [market_point(row.event_id, row) for row in reversed(rows)]
        if not history:
            return MarketInsight(sentence=None)
        currency = rows[0].currency  # the headline's snapshot's
        forecast = (
            await self._predictor.forecast([ForecastRequest(event_ref(event), history, now)])
        )[0]
        priced = [(p.observed_at, p.min_price) for p in history if p.min_price is not None]
        chart = None
        if priced:
            try:
                chart = await price_chart_png(
                    priced,
                    title=event.name,
                    max_price=None,
                    outlook=_outlook(forecast, event, now),
                    currency=currency,
                    starts_at=event.starts_at,
                )
            except Exception:  # a chart is a nicety: the answer goes out without it
                logger.exception("price chart failed for event_id=%s", event_id)
        return MarketInsight(sentence=forecast.recommendation.sentence, chart_png=chart)


def _outlook(forecast: Forecast, event: Event, now: datetime) -> Outlook | None:
    """The 72 h forecast band (or to the start, if sooner), when the forecast has one."""
    p = forecast.prediction
    if p.p10_72h is None or p.p50_72h is None or p.p90_72h is None:
        return None
    at = band_end(now, event.starts_at)
    return Outlook(at, p.p10_72h, p.p50_72h, p.p90_72h) if at > now else None
