"""Value builders shared by unit tests: the game most tests watch and its market points."""

from __future__ import annotations

from datetime import UTC, datetime

from core.domain import EventRef, MarketPoint

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
GAME_STARTS = datetime(2024, 3, 31, 20, 10, tzinfo=UTC)


def game(starts_at: datetime = GAME_STARTS) -> EventRef:
    """Event 1, Rockies at Diamondbacks at Chase Field."""
    return EventRef(
        id=1,
        name="Rockies at Diamondbacks",
        starts_at=starts_at,
        category="mlb",
        performers=("Arizona Diamondbacks", "Colorado Rockies"),
        venue="Chase Field",
        city="Phoenix",
    )


def point(
    min_price: float | None = 28.0,
    tickets: int | None = 1344,
    *,
    at: datetime = NOW,
    listings: int | None = 315,
    event_id: int = 1,
) -> MarketPoint:
    """A market point: $83 average, $473 top, the given cheapest price and counts."""
    return MarketPoint(event_id, at, min_price, None, 83.0, 473.0, listings, tickets)
