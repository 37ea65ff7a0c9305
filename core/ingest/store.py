"""Storing snapshots: bulk statements, duplicates skipped, each linked to its predecessor.

One batch costs a handful of round trips whatever its size: the event upsert (none when
the cache knows every event), one INSERT … ON CONFLICT DO NOTHING RETURNING for the
snapshots, one for their listings, one query for the previous snapshot of each, and one
for the listing ids of previous snapshots from earlier batches when listings came in.
The unique constraint on (event_id, source, observed_at) is the final word on
duplicates, so two concurrent batches on PostgreSQL never store the same observation
twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import ensure_utc
from core.db.models import MarketSnapshot, SnapshotListing
from core.db.statements import bulk_insert, insert_skipping_returning
from core.domain import EventInfo, MarketPoint, SnapshotIn, StoredSnapshot
from core.history import market_point
from core.ingest.events import (
    EventCache,
    EventKey,
    KnownEvent,
    chunks,
    merge,
    upsert_events,
)

SNAPSHOTS: Table = MarketSnapshot.__table__  # type: ignore[assignment]
LISTINGS: Table = SnapshotListing.__table__  # type: ignore[assignment]
ZERO = timedelta(0)
_UNIQUE = ("event_id", "source", "observed_at")
# The snapshot columns of MarketPoint's fields after event_id, in its order.
_MARKET_COLUMNS = tuple(f.name for f in fields(MarketPoint))[1:]


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What `store_snapshots` did.

    `stored` is in observation order (oldest first, then input order), the order the
    alert engine should see them. `duplicate_indexes` are positions in the input.
    `events` is every event of the batch as stored, for `EventCache.update` after commit.
    """

    accepted: int
    duplicates: int
    stored: list[StoredSnapshot]
    duplicate_indexes: tuple[int, ...] = ()
    events: Mapping[EventKey, KnownEvent] = field(default_factory=dict)


def _snapshot_row(item: SnapshotIn, event_id: int, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "source": item.source,
        "observed_at": item.observed_at,
        "currency": item.currency,
        "min_price": item.min_price,
        "median_price": item.median_price,
        "avg_price": item.avg_price,
        "max_price": item.max_price,
        "listing_count": item.listing_count,
        "ticket_count": item.ticket_count,
        "ingested_at": now,
    }


def _previous_statement() -> Select[Any]:
    """Each snapshot with id in [:lo, :hi] joined to its event's newest earlier one."""
    cur, prev, older = SNAPSHOTS.alias("cur"), SNAPSHOTS.alias("prev"), SNAPSHOTS.alias("older")
    newest_before = (
        select(older.c.id)
        .where(older.c.event_id == cur.c.event_id, older.c.observed_at < cur.c.observed_at)
        .order_by(older.c.observed_at.desc())
        .limit(1)
        .correlate(cur)
        .scalar_subquery()
    )
    return (
        select(cur.c.id, prev.c.id, *(prev.c[name] for name in _MARKET_COLUMNS))
        .join_from(cur, prev, prev.c.id == newest_before)
        .where(cur.c.id.between(bindparam("lo"), bindparam("hi")))
    )


# Built once: constructing it costs more than running it through the compiled cache.
_PREVIOUS = _previous_statement()


async def _previous(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[int, Any]]:
    """Map each new snapshot id to (previous snapshot id, its market columns).

    The market columns come in MarketPoint's order after the event id, ready for
    `MarketPoint(event_id, *columns)`.
    """
    if not ids:
        return {}
    # One id range instead of a list of ids: the statement stays the same, whatever the
    # batch. Other transactions' snapshots inside the range are skipped.
    wanted = set(ids)
    found: dict[int, tuple[int, Any]] = {}
    for row in await session.execute(_PREVIOUS, {"lo": min(wanted), "hi": max(wanted)}):
        if row[0] in wanted:
            found[row[0]] = (row[1], row[2:])
    return found


async def _listing_ids(session: AsyncSession, snapshot_ids: set[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {snapshot_id: set() for snapshot_id in snapshot_ids}
    for part in chunks(sorted(snapshot_ids)):
        stmt = select(LISTINGS.c.snapshot_id, LISTINGS.c.listing_id).where(
            LISTINGS.c.snapshot_id.in_(list(part)), LISTINGS.c.listing_id.is_not(None)
        )
        for snapshot_id, listing_id in await session.execute(stmt):
            found[snapshot_id].add(listing_id)
    return found


def _utc(item: SnapshotIn) -> SnapshotIn:
    """`item` with an aware UTC observed_at (checked items already have one)."""
    observed_at = item.observed_at
    if observed_at.tzinfo is UTC or observed_at.utcoffset() == ZERO:
        return item
    return replace(item, observed_at=ensure_utc(observed_at))


def _newest_descriptions(
    items: Sequence[SnapshotIn], order: Sequence[int]
) -> tuple[dict[EventKey, EventInfo], dict[EventKey, datetime]]:
    """Each event's description, folded oldest to newest observation (`order`), and the
    time of its newest observation in the batch."""
    described: dict[EventKey, EventInfo] = {}
    newest: dict[EventKey, datetime] = {}
    for index in order:
        item = items[index]
        event = item.event
        key = (item.source, event.external_id)
        newest[key] = item.observed_at
        held = described.get(key)
        if held is None or held is event:
            described[key] = event
        else:
            described[key] = merge(held, event)
    return described, newest


_NONE: frozenset[str] = frozenset()


def _new_listing_ids(item: SnapshotIn, before: Set[str]) -> tuple[str, ...]:
    fresh: dict[str, None] = {}
    for listing in item.listings:
        if listing.listing_id is not None and listing.listing_id not in before:
            fresh[listing.listing_id] = None
    return tuple(fresh)


async def store_snapshots(
    session: AsyncSession,
    items: Sequence[SnapshotIn],
    now: datetime,
    *,
    cache: EventCache | None = None,
) -> StoreResult:
    """Upsert the events and append the snapshots (and listings) of one batch.

    The same (source, external_id, observed_at) twice, within the batch or across
    batches, is counted as a duplicate and stored once. `previous` of each stored
    snapshot is its event's newest earlier snapshot; `new_listing_ids` are its listing
    ids that the previous snapshot did not have (all of them for an event's first one).

    Args:
        session: an open transaction; nothing is committed here.
        items: snapshots already checked by `check_snapshot` (aware UTC times).
        now: the ingest time, stored as `ingested_at`.
        cache: optional known-event cache; read only, feed it `result.events` after commit.
    """
    items = [_utc(item) for item in items]
    first: dict[tuple[str, str, datetime], int] = {}
    duplicate_indexes: list[int] = []
    for index, item in enumerate(items):
        key = (item.source, item.event.external_id, item.observed_at)
        if key in first:
            duplicate_indexes.append(index)
        else:
            first[key] = index
    if not first:
        return StoreResult(0, len(duplicate_indexes), [], tuple(duplicate_indexes))

    # Oldest first, ties in input order (the sort is stable).
    order = sorted(range(len(items)), key=lambda i: items[i].observed_at)
    described, observed = _newest_descriptions(items, order)
    events = await upsert_events(session, described, now, cache, observed=observed)
    by_point = {
        (events[(source, external_id)].id, observed_at): index
        for (source, external_id, observed_at), index in first.items()
    }
    rows = [  # in (event_id, observed_at) order: one lock order for every writer
        _snapshot_row(items[index], event_id, now)
        for (event_id, _), index in sorted(by_point.items())
    ]
    returned = await insert_skipping_returning(
        session, SNAPSHOTS, _UNIQUE, rows, ("id", "event_id", "observed_at")
    )
    inserted: dict[int, tuple[int, int]] = {}  # input index -> (snapshot id, event id)
    for snapshot_id, event_id, observed_at in returned:
        inserted[by_point[(event_id, observed_at)]] = (snapshot_id, event_id)
    duplicate_indexes.extend(index for index in first.values() if index not in inserted)

    listing_rows = [
        {
            "snapshot_id": snapshot_id,
            "event_id": event_id,
            "listing_id": listing.listing_id,
            "section": listing.section,
            "row": listing.row,
            "quantity": listing.quantity,
            "price": listing.price,
            "url": listing.url,
        }
        for index, (snapshot_id, event_id) in inserted.items()
        for listing in items[index].listings
    ]
    await bulk_insert(session, LISTINGS, listing_rows)

    previous = await _previous(session, [snapshot_id for snapshot_id, _ in inserted.values()])
    # Listing ids of previous snapshots: those stored just now are known, others are read.
    before_ids: dict[int, set[str]] = {}
    wanting: set[int] = set()
    if listing_rows:
        batch_index = {snapshot_id: index for index, (snapshot_id, _) in inserted.items()}
        for index, (snapshot_id, _) in inserted.items():
            prev = previous.get(snapshot_id)
            if prev is None or not items[index].listings or prev[0] in before_ids:
                continue
            prev_index = batch_index.get(prev[0])
            if prev_index is None:
                wanting.add(prev[0])
            else:
                before_ids[prev[0]] = {
                    listing.listing_id
                    for listing in items[prev_index].listings
                    if listing.listing_id is not None
                }
    if wanting:
        before_ids.update(await _listing_ids(session, wanting))

    stored: list[StoredSnapshot] = []
    points: dict[int, MarketPoint] = {}  # this batch's, by snapshot id: previous of later ones
    for index in order:
        ids = inserted.get(index)
        if ids is None:
            continue
        item, (snapshot_id, event_id) = items[index], ids
        point = points[snapshot_id] = market_point(event_id, item)
        prev = previous.get(snapshot_id)
        if prev is None:
            prev_point = None
        else:
            prev_point = points.get(prev[0]) or MarketPoint(event_id, *prev[1])
        stored.append(
            StoredSnapshot(
                snapshot_id=snapshot_id,
                event=events[(item.source, item.event.external_id)].ref(),
                point=point,
                previous=prev_point,
                listings=item.listings,
                new_listing_ids=(
                    _new_listing_ids(item, before_ids.get(prev[0], _NONE) if prev else _NONE)
                    if item.listings
                    else ()
                ),
            )
        )
    duplicate_indexes.sort()
    return StoreResult(
        len(stored), len(duplicate_indexes), stored, tuple(duplicate_indexes), events
    )
