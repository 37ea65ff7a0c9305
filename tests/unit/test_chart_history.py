"""High and critical alerts carry the event's recent cheapest prices for a chart."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from core.actions import ActionSigner
from core.domain import EventRef, Level, MarketPoint, StoredSnapshot
from core.engine_rows import CHART_POINTS, RowContext, _event_piece, _market_piece, chart_history
from core.metrics import NullMetrics
from core.render import event_dict, market_dict

NOW = datetime(2024, 3, 20, 12, tzinfo=UTC)
EVENT = EventRef(id=7, name="Rockies at Diamondbacks", starts_at=NOW + timedelta(days=5))


def _point(hours_ago: int, price: float | None) -> MarketPoint:
    return MarketPoint(7, NOW - timedelta(hours=hours_ago), price, None, None, None, None, None)


POINTS = [_point(h, None if h == 3 else 40.0 - h / 10) for h in range(60, 0, -1)]
STORED = StoredSnapshot(snapshot_id=1, event=EVENT, point=POINTS[-1], previous=POINTS[-2])


def _ctx(history: bool = True) -> RowContext:
    return RowContext(
        ActionSigner(b"k"),
        random.Random(1),
        NullMetrics(),
        "hourly",
        (lambda event_id: POINTS if event_id == 7 else ()) if history else None,
    )


def test_high_alerts_carry_the_latest_priced_points_oldest_first() -> None:
    chart = chart_history(Level.HIGH, STORED, _ctx())["history"]
    assert len(chart) == CHART_POINTS
    assert all(price is not None for _, price in chart)
    assert chart[-1] == [POINTS[-1].observed_at.isoformat(), POINTS[-1].min_price]
    assert chart == sorted(chart)


def test_lower_levels_and_engines_without_history_carry_none() -> None:
    assert chart_history(Level.MEDIUM, STORED, _ctx()) == {}
    assert chart_history(Level.CRITICAL, STORED, _ctx(history=False)) == {}


def test_rounds_of_one_snapshot_share_its_event_and_market_pieces() -> None:
    ctx = _ctx()
    high = _market_piece(Level.HIGH, STORED, ctx)
    assert high == market_dict(STORED.point) | chart_history(Level.HIGH, STORED, ctx)
    assert _market_piece(Level.CRITICAL, STORED, ctx) is high
    medium = _market_piece(Level.MEDIUM, STORED, ctx)
    assert medium == market_dict(STORED.point) and "history" not in medium
    assert _event_piece(EVENT, ctx) == event_dict(EVENT)
    assert _event_piece(EVENT, ctx) is _event_piece(EVENT, ctx)
    # Another snapshot of the same event, equal or not, gets its own pieces.
    other = StoredSnapshot(snapshot_id=2, event=EVENT, point=POINTS[-2], previous=POINTS[-3])
    assert _market_piece(Level.MEDIUM, other, ctx) == market_dict(POINTS[-2])
    assert _market_piece(Level.HIGH, STORED, _ctx(history=False)) == market_dict(STORED.point)
