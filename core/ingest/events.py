"""Event upsert for ingest: find or create each (source, external_id), keep it current.

A snapshot that leaves a descriptive field empty (venue, performers …) does not erase
what an earlier snapshot said; name and start time always follow the newest snapshot,
so one observed before the newest stored one (a backfill, a late retry) only fills in
empty fields: it cannot move a rescheduled game back to its old time.
`EventCache` remembers ids and stored descriptions so a steady stream of snapshots for
known events costs no event queries at all. A start that moves by 15 minutes or more
is told to the people who follow the event (`core.reschedule`), in the same transaction;
no other change costs a query for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import ensure_utc
from core.db.models import Event, MarketSnapshot
from core.db.statements import insert_skipping
from core.domain import EventInfo, EventRef
from core.reschedule import Move, is_move, tell_moves

EventKey = tuple[str, str]  # (source, external_id)
T = TypeVar("T")
CHUNK = 500
EVENTS: Table = Event.__table__  # type: ignore[assignment]
SNAPSHOTS: Table = MarketSnapshot.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class KnownEvent:
    """An event as stored: its id and its merged description."""

    id: int
    info: EventInfo
    # The EventRef, built on first use: a cached event serves many batches.
    _ref: EventRef | None = field(default=None, init=False, repr=False, compare=False)

    def ref(self) -> EventRef:
        if self._ref is not None:
            return self._ref
        info = self.info
        ref = EventRef(
            id=self.id,
            name=info.name,
            starts_at=info.starts_at,
            category=info.category,
            performers=info.performers,
            venue=info.venue,
            city=info.city,
            capacity=info.capacity,
            timezone=info.timezone,
        )
        object.__setattr__(self, "_ref", ref)
        return ref


class EventCache:
    """Ids and descriptions of events this process has stored, keyed by (source, id).

    Only fed with what committed transactions wrote (`update` after commit); `clear` it
    whenever a transaction fails in a way that may mean a cached row is gone.
    """

    def __init__(self, max_size: int = 100_000) -> None:
        self._entries: dict[EventKey, KnownEvent] = {}
        self._max_size = max_size

    def get(self, key: EventKey) -> KnownEvent | None:
        return self._entries.get(key)

    def update(self, entries: Mapping[EventKey, KnownEvent]) -> None:
        if len(self._entries) + len(entries) > self._max_size:
            self._entries.clear()
        self._entries.update(entries)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def merge(old: EventInfo, new: EventInfo) -> EventInfo:
    """`new`, with empty descriptive fields filled in from `old`."""
    return EventInfo(
        external_id=new.external_id,
        name=new.name,
        starts_at=new.starts_at,
        category=new.category if new.category is not None else old.category,
        performers=new.performers or old.performers,
        venue=new.venue if new.venue is not None else old.venue,
        city=new.city if new.city is not None else old.city,
        capacity=new.capacity if new.capacity is not None else old.capacity,
        timezone=new.timezone if new.timezone is not None else old.timezone,
    )


def _unchanged_by(old: EventInfo, new: EventInfo) -> bool:
    """True when merging `new` into `old` changes nothing (equal means unchanged too)."""
    return old is new or old == new or merge(old, new) == old


def _columns(info: EventInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "category": info.category,
        "performers": list(info.performers),
        "venue": info.venue,
        "city": info.city,
        "capacity": info.capacity,
        "starts_at": info.starts_at,
        "timezone": info.timezone,
    }


def _info(row: Any) -> EventInfo:
    return EventInfo(
        external_id=row.external_id,
        name=row.name,
        starts_at=row.starts_at,
        category=row.category,
        performers=tuple(row.performers or ()),
        venue=row.venue,
        city=row.city,
        capacity=row.capacity,
        timezone=row.timezone,
    )


async def _select(session: AsyncSession, keys: Iterable[EventKey]) -> dict[EventKey, KnownEvent]:
    found: dict[EventKey, KnownEvent] = {}
    for part in chunks(sorted(keys)):
        rows = await session.execute(
            select(EVENTS).where(tuple_(EVENTS.c.source, EVENTS.c.external_id).in_(list(part)))
        )
        for row in rows:
            found[(row.source, row.external_id)] = KnownEvent(row.id, _info(row))
    return found


async def _newest_stored(session: AsyncSession, ids: Iterable[int]) -> dict[int, datetime]:
    """The time of each event's newest stored snapshot (events without one are left out)."""
    found: dict[int, datetime] = {}
    for part in chunks(sorted(ids)):
        stmt = (
            select(SNAPSHOTS.c.event_id, func.max(SNAPSHOTS.c.observed_at))
            .where(SNAPSHOTS.c.event_id.in_(list(part)))
            .group_by(SNAPSHOTS.c.event_id)
        )
        for event_id, observed_at in await session.execute(stmt):
            if observed_at is not None:
                found[event_id] = ensure_utc(observed_at)
    return found


async def _insert(
    session: AsyncSession, wanted: Mapping[EventKey, EventInfo], now: datetime
) -> dict[EventKey, KnownEvent]:
    """Insert new events; a row another transaction inserted first is skipped, not failed."""
    created: dict[EventKey, KnownEvent] = {}
    rows = [
        {"source": key[0], "external_id": key[1], "created_at": now, **_columns(wanted[key])}
        for key in sorted(wanted)  # one lock order for every writer: no deadlocks
    ]
    stmt = insert_skipping(session, EVENTS, ("source", "external_id")).returning(
        EVENTS.c.id, EVENTS.c.source, EVENTS.c.external_id
    )
    for row in await session.execute(stmt, rows):
        key = (row.source, row.external_id)
        created[key] = KnownEvent(row.id, wanted[key])
    return created


async def upsert_events(
    session: AsyncSession,
    wanted: Mapping[EventKey, EventInfo],
    now: datetime,
    cache: EventCache | None = None,
    *,
    observed: Mapping[EventKey, datetime] | None = None,
) -> dict[EventKey, KnownEvent]:
    """Make every wanted event exist and carry its newest description.

    Args:
        session: the ingest transaction.
        wanted: the newest description of each event in the batch.
        now: creation time for new rows, and the time a moved start is told at.
        cache: known events; entries that already match cost no query.
        observed: when each wanted description was observed (its batch's newest); a
            description observed no later than the event's newest stored snapshot only
            fills in empty fields. Without it every description counts as the newest.

    Returns:
        Every wanted event as stored after this call (id and merged description).
    """
    result: dict[EventKey, KnownEvent] = {}
    unknown: dict[EventKey, EventInfo] = {}
    for key, info in wanted.items():
        known = cache.get(key) if cache is not None else None
        if known is not None and _unchanged_by(known.info, info):
            result[key] = known
        else:
            unknown[key] = info
    if not unknown:
        return result
    stored = await _select(session, unknown)
    missing = {key: info for key, info in unknown.items() if key not in stored}
    if missing:
        result.update(await _insert(session, missing, now))
        raced = [key for key in missing if key not in result]
        if raced:  # inserted concurrently by another transaction: now committed and visible
            stored.update(await _select(session, raced))
    merged = {key: merge(known.info, unknown[key]) for key, known in stored.items()}
    changed = [key for key, known in stored.items() if merged[key] != known.info]
    if observed is not None and changed:
        newest = await _newest_stored(session, (stored[key].id for key in changed))
        for key in changed:
            before = newest.get(stored[key].id)
            if before is not None and observed[key] <= before:  # older news: gaps only
                merged[key] = merge(unknown[key], stored[key].info)
    changes: list[dict[str, Any]] = []
    moves: list[Move] = []
    for key, known in stored.items():
        result[key] = now_known = KnownEvent(known.id, merged[key])
        if merged[key] != known.info:
            changes.append({"b_id": known.id, **_columns(merged[key])})
            if is_move(known.info.starts_at, merged[key].starts_at):
                moves.append(Move(now_known.ref(), known.info.starts_at))
    if changes:
        changes.sort(key=lambda change: int(change["b_id"]))
        await session.execute(update(EVENTS).where(EVENTS.c.id == bindparam("b_id")), changes)
    if moves:  # in this transaction: the people told of a move commit with it
        await tell_moves(session, moves, now)
    return result
