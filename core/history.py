"""Recent market history per event, kept in memory for matching, scoring and forecasts.

Each event has a small ring of its newest points (the last 24 h, at most
`max_points`), loaded from `market_snapshots` the first time the event shows up and
then appended to as snapshots arrive. In a multi-process deployment a ring may miss
points ingested elsewhere; it only feeds the 24 h high and the forecast history.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.alert_payload import event_ref
from core.db.models import Event, MarketSnapshot, SnapshotListing
from core.domain import Listing, MarketPoint, StoredSnapshot

_CHUNK = 500
_SNAPSHOTS: Table = MarketSnapshot.__table__  # type: ignore[assignment]
_LISTINGS: Table = SnapshotListing.__table__  # type: ignore[assignment]


def market_point(event_id: int, row: Any) -> MarketPoint:
    """The market fields of any snapshot-like object (a row, a SnapshotIn) as a MarketPoint."""
    return MarketPoint(
        event_id=event_id,
        observed_at=row.observed_at,
        min_price=row.min_price,
        median_price=row.median_price,
        avg_price=row.avg_price,
        max_price=row.max_price,
        listing_count=row.listing_count,
        ticket_count=row.ticket_count,
        currency=row.currency,
    )


async def event_currencies(
    session: AsyncSession, event_ids: Iterable[int]
) -> dict[int, str | None]:
    """Each event's currency: its newest snapshot's (None without one: read as USD)."""
    newest = (
        select(MarketSnapshot.currency)
        .where(MarketSnapshot.event_id == Event.id)
        .order_by(MarketSnapshot.observed_at.desc(), MarketSnapshot.id.desc())
        .limit(1)
        .correlate(Event)
        .scalar_subquery()
    )
    rows = await session.execute(select(Event.id, newest).where(Event.id.in_(sorted(event_ids))))
    return {event_id: currency for event_id, currency in rows}


async def latest_snapshots(session: AsyncSession, event_ids: Sequence[int]) -> list[StoredSnapshot]:
    """Each event's newest stored snapshot, with its listings and its predecessor."""
    if not event_ids:
        return []
    market = [_SNAPSHOTS.c[name] for name in MarketPoint.__dataclass_fields__]
    rank = (
        func.row_number()
        .over(partition_by=_SNAPSHOTS.c.event_id, order_by=_SNAPSHOTS.c.observed_at.desc())
        .label("rank")
    )
    ranked = (
        select(_SNAPSHOTS.c.id, rank, *market)
        .where(_SNAPSHOTS.c.event_id.in_(list(event_ids)))
        .subquery()
    )
    rows = await session.execute(
        select(ranked).where(ranked.c.rank <= 2).order_by(ranked.c.event_id, ranked.c.rank)
    )
    newest: dict[int, tuple[int, MarketPoint]] = {}
    previous: dict[int, MarketPoint] = {}
    for row in rows:
        point = MarketPoint(*row[2:])
        if row.rank == 1:
            newest[point.event_id] = (row.id, point)
        else:
            previous[point.event_id] = point
    if not newest:
        return []
    events = {
        row.id: event_ref(row)
        for row in await session.scalars(select(Event).where(Event.id.in_(list(newest))))
    }
    listings: dict[int, list[Listing]] = {}
    wanted = [snapshot_id for snapshot_id, _ in newest.values()]
    query = (
        select(
            _LISTINGS.c.snapshot_id,
            _LISTINGS.c.listing_id,
            _LISTINGS.c.price,
            _LISTINGS.c.section,
            _LISTINGS.c.row,
            _LISTINGS.c.quantity,
            _LISTINGS.c.url,
        )
        .where(_LISTINGS.c.snapshot_id.in_(wanted))
        .order_by(_LISTINGS.c.id)
    )
    for snapshot_id, *fields in await session.execute(query):
        listings.setdefault(snapshot_id, []).append(Listing(*fields))
    return [
        StoredSnapshot(
            snapshot_id=snapshot_id,
            event=events[event_id],
            point=point,
            previous=previous.get(event_id),
            listings=tuple(listings.get(snapshot_id, ())),
        )
        for event_id, (snapshot_id, point) in newest.items()
        if event_id in events
    ]


class MarketHistory:
    """Rings of recent market points per event id."""

    def __init__(self, window_s: float = 86400.0, max_points: int = 128) -> None:
        self._window = timedelta(seconds=window_s)
        self._max = max_points
        self._rings: dict[int, deque[MarketPoint]] = {}

    def __len__(self) -> int:
        return len(self._rings)

    async def ensure(
        self,
        session: AsyncSession,
        event_ids: Iterable[int],
        *,
        exclude_snapshot_ids: Collection[int],
        now: datetime,
    ) -> None:
        """Load the last window of points of events not seen before (few queries).

        Args:
            session: the ingest session (its uncommitted rows are visible).
            event_ids: events about to be processed.
            exclude_snapshot_ids: the batch's own snapshots, appended later in order.
            now: the current time; the window ends here.
        """
        missing = sorted({e for e in event_ids if e not in self._rings})
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            rows = await session.execute(
                select(
                    MarketSnapshot.id,
                    MarketSnapshot.event_id,
                    MarketSnapshot.observed_at,
                    MarketSnapshot.min_price,
                    MarketSnapshot.median_price,
                    MarketSnapshot.avg_price,
                    MarketSnapshot.max_price,
                    MarketSnapshot.listing_count,
                    MarketSnapshot.ticket_count,
                    MarketSnapshot.currency,
                )
                .where(
                    MarketSnapshot.event_id.in_(chunk),
                    MarketSnapshot.observed_at >= now - self._window,
                )
                .order_by(MarketSnapshot.event_id, MarketSnapshot.observed_at)
            )
            for event_id in chunk:
                self._rings[event_id] = deque(maxlen=self._max)
            for row in rows:
                if row.id not in exclude_snapshot_ids:
                    self._rings[row.event_id].append(market_point(row.event_id, row))

    def append(self, point: MarketPoint) -> None:
        """Add `point` in time order; older points out of the window fall off."""
        ring = self._rings.setdefault(point.event_id, deque(maxlen=self._max))
        if not ring or ring[-1].observed_at < point.observed_at:
            ring.append(point)
        else:
            position = len(ring)
            while position > 0 and ring[position - 1].observed_at > point.observed_at:
                position -= 1
            if position > 0 and ring[position - 1].observed_at == point.observed_at:
                return
            if len(ring) == ring.maxlen:
                if position == 0:
                    return
                ring.popleft()
                position -= 1
            ring.insert(position, point)
        cutoff = ring[-1].observed_at - self._window
        while ring and ring[0].observed_at < cutoff:
            ring.popleft()

    def high(self, event_id: int, before: datetime) -> float | None:
        """The highest minimum price in the window before `before` (exclusive)."""
        ring = self._rings.get(event_id)
        if not ring:
            return None
        cutoff = before - self._window
        prices = [
            p.min_price
            for p in ring
            if p.min_price is not None and cutoff <= p.observed_at < before
        ]
        return max(prices) if prices else None

    def reference(
        self, point: MarketPoint, previous: MarketPoint | None, gap: timedelta
    ) -> MarketPoint | None:
        """The point to measure `point`'s ticket drain against: `previous` (the stored
        snapshot before it) when at least `gap` older, else the newest remembered point
        with a ticket count that is; `previous` when none is (too recent to count)."""
        cutoff = point.observed_at - gap
        if previous is None or previous.observed_at <= cutoff:
            return previous
        for candidate in reversed(self._rings.get(point.event_id, ())):
            if candidate.observed_at <= cutoff and candidate.ticket_count is not None:
                return candidate
        return previous

    def latest(self, event_id: int) -> MarketPoint | None:
        ring = self._rings.get(event_id)
        return ring[-1] if ring else None

    def points(self, event_id: int) -> tuple[MarketPoint, ...]:
        """The event's points, oldest first."""
        return tuple(self._rings.get(event_id, ()))

    def prune(self, now: datetime) -> int:
        """Forget events whose newest point left the window; return how many."""
        cutoff = now - self._window
        stale = [e for e, ring in self._rings.items() if not ring or ring[-1].observed_at < cutoff]
        for event_id in stale:
            del self._rings[event_id]
        return len(stale)
