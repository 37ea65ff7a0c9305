"""Ingest storage on SQLite and PostgreSQL: events, snapshots, listings, duplicates, order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Event, MarketSnapshot, SnapshotListing
from core.domain import EventInfo, Listing, SnapshotIn, StoredSnapshot
from core.ingest import IngestService, store_snapshots
from core.metrics import RecordingMetrics

PAYLOAD = Path(__file__).parents[1] / "payloads" / "ingest" / "seatgeek_batch.json"
T0 = datetime(2024, 3, 20, 9, 0, tzinfo=UTC)
START = datetime(2024, 4, 2, 1, 40, tzinfo=UTC)


class RecordingProcessor:
    """Remembers what it was given; fails on demand; may hold the transaction open."""

    def __init__(self, fail: bool = False, hold: float = 0.0) -> None:
        self.calls: list[list[StoredSnapshot]] = []
        self.fail = fail
        self.hold = hold

    async def process(
        self,
        session: AsyncSession,
        stored: Sequence[StoredSnapshot],
        now: datetime,
        *,
        alert: bool = True,
    ) -> object:
        self.calls.append(list(stored))
        # Proves we run inside the ingest transaction: the rows are visible here.
        visible = await session.scalar(select(func.count()).select_from(MarketSnapshot))
        assert visible is not None and visible >= len(stored)
        if self.hold:
            await asyncio.sleep(self.hold)  # integration: keep the transaction open briefly
        if self.fail:
            raise RuntimeError("alert engine exploded")
        return len(stored)

    @property
    def stored(self) -> list[StoredSnapshot]:
        return [snapshot for call in self.calls for snapshot in call]


class CountingSignal:
    def __init__(self) -> None:
        self.count = 0

    def notify(self) -> None:
        self.count += 1


def snap(
    external_id: str,
    minute: int,
    price: float = 50.0,
    listings: tuple[Listing, ...] = (),
    venue: str | None = "Chase Field",
    starts_at: datetime = START,
) -> SnapshotIn:
    return SnapshotIn(
        source="sim",
        event=EventInfo(external_id, f"Game {external_id}", starts_at, "mlb", ("A", "B"), venue),
        observed_at=T0 + timedelta(minutes=minute),
        min_price=price,
        listings=listings,
    )


def service(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    processor: RecordingProcessor | None = None,
    signal: CountingSignal | None = None,
    metrics: RecordingMetrics | None = None,
) -> IngestService:
    return IngestService(
        sessions, processor or RecordingProcessor(), clock, metrics or RecordingMetrics(), signal
    )


async def counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(Event)) or 0,
            await session.scalar(select(func.count()).select_from(MarketSnapshot)) or 0,
            await session.scalar(select(func.count()).select_from(SnapshotListing)) or 0,
        )


async def test_a_batch_stores_events_snapshots_listings_and_links_predecessors(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    processor, signal, metrics = RecordingProcessor(), CountingSignal(), RecordingMetrics()
    ingest = service(sessions, clock, processor, signal, metrics)
    payload = json.loads(PAYLOAD.read_text())
    report = await ingest.ingest(payload["source"], payload["snapshots"])

    assert (report.accepted, report.duplicates, report.rejected) == (3, 0, ())
    assert report.processed == 3
    assert await counts(sessions) == (2, 3, 4)
    assert signal.count == 1
    assert metrics.total("snapshots_ingested") == 3

    first, other, second = processor.stored  # observation order, then input order
    assert [first.event.name, other.event.name, second.event.name] == [
        "Rockies at Diamondbacks",
        "Yankees at Diamondbacks",
        "Rockies at Diamondbacks",
    ]
    assert other.previous is None and other.new_listing_ids == ()
    assert first.previous is None and first.new_listing_ids == ("L1", "L2")
    assert second.previous == first.point
    assert second.point.min_price == 26.5
    assert second.new_listing_ids == ("L3",)
    # The later snapshot left venue and performers out: what the first said is kept.
    assert second.event.venue == "Chase Field"
    assert second.event.performers == ("Arizona Diamondbacks", "Colorado Rockies")
    async with sessions() as session:
        event = (
            await session.execute(select(Event).where(Event.external_id == "6100043"))
        ).scalar_one()
        assert (event.venue, event.capacity, event.timezone) == (
            "Chase Field",
            48405,
            "America/Phoenix",
        )
        currencies = (await session.execute(select(MarketSnapshot.currency))).scalars().all()
        assert sorted(c or "" for c in currencies) == ["", "USD", "USD"]


async def test_duplicates_within_a_batch_and_across_batches_are_stored_once(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    processor, signal = RecordingProcessor(), CountingSignal()
    ingest = service(sessions, clock, processor, signal)
    batch = [snap("e1", 0), snap("e1", 0, price=99.0), snap("e2", 0), snap("e1", 5)]
    report = await ingest.ingest_snapshots(batch)
    assert (report.accepted, report.duplicates, report.duplicate_indexes) == (3, 1, (1,))

    again = await ingest.ingest_snapshots([snap("e1", 5), snap("e1", 10), snap("e2", 0)])
    assert (again.accepted, again.duplicates, again.duplicate_indexes) == (1, 2, (0, 2))
    only_dupes = await ingest.ingest_snapshots([snap("e1", 10)])
    assert (only_dupes.accepted, only_dupes.duplicates) == (0, 1)

    assert await counts(sessions) == (2, 4, 0)
    assert len(processor.calls) == 2  # nothing new, nothing to process
    assert signal.count == 2
    async with sessions() as session:
        kept = await session.scalar(
            select(MarketSnapshot.min_price)
            .where(MarketSnapshot.observed_at == T0)
            .join(Event)
            .where(Event.external_id == "e1")
        )
    assert kept == 50.0  # the first of the in-batch pair wins


async def test_previous_is_the_newest_earlier_snapshot_even_out_of_order(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    processor = RecordingProcessor()
    ingest = service(sessions, clock, processor)
    await ingest.ingest_snapshots([snap("e1", 20, price=40.0)])
    await ingest.ingest_snapshots([snap("e1", 30, price=30.0), snap("e1", 10, price=60.0)])
    late, early = processor.calls[1][1], processor.calls[1][0]
    assert early.point.observed_at == T0 + timedelta(minutes=10) and early.previous is None
    assert late.previous is not None and late.previous.min_price == 40.0
    await ingest.ingest_snapshots([snap("e1", 25, price=35.0)])
    inserted = processor.calls[2][0]
    assert inserted.previous is not None
    assert inserted.previous.observed_at == T0 + timedelta(minutes=20)


async def test_new_listing_ids_compare_with_the_previous_snapshot(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    processor = RecordingProcessor()
    ingest = service(sessions, clock, processor)
    a, b, c = Listing("A", 10.0), Listing("B", 12.0), Listing("C", 9.0)
    await ingest.ingest_snapshots([snap("e1", 0, listings=(a, b))])
    await ingest.ingest_snapshots([snap("e1", 1, listings=(b, c, Listing(None, 8.0)))])
    await ingest.ingest_snapshots([snap("e1", 2)])  # no listings sent this time
    await ingest.ingest_snapshots([snap("e1", 3, listings=(a, c))])
    firsts = [call[0] for call in processor.calls]
    assert [s.new_listing_ids for s in firsts] == [("A", "B"), ("C",), (), ("A", "C")]
    assert await counts(sessions) == (1, 4, 7)


async def test_predecessors_in_the_same_batch_and_stored_before_mix_correctly(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    processor = RecordingProcessor()
    ingest = service(sessions, clock, processor)
    a, b, c, d = (Listing(x, 10.0) for x in "ABCD")
    await ingest.ingest_snapshots([snap("e1", 20, price=40.0, listings=(a,))])
    batch = [
        snap("e1", 30, price=30.0, listings=(a, b)),  # after 25 of this batch
        snap("e1", 10, price=60.0, listings=(c,)),  # the event's first
        snap("e1", 25, price=35.0, listings=(a, d)),  # after 20 of the first batch
        snap("e2", 5, listings=(a,)),
    ]
    await ingest.ingest_snapshots(batch)
    other, early, middle, late = processor.calls[1]  # observation order
    assert [s.point.min_price for s in (other, early, middle, late)] == [50.0, 60.0, 35.0, 30.0]
    assert early.previous is None and early.new_listing_ids == ("C",)
    assert other.previous is None and other.new_listing_ids == ("A",)
    assert middle.previous is not None and middle.previous.min_price == 40.0
    assert middle.new_listing_ids == ("D",)
    assert late.previous == middle.point and late.new_listing_ids == ("B",)
    assert middle.event == late.event and middle.event.id != other.event.id


async def test_events_follow_the_newest_description(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    processor = RecordingProcessor()
    ingest = service(sessions, clock, processor)
    await ingest.ingest_snapshots([snap("e1", 0)])
    postponed = START + timedelta(days=1)
    await ingest.ingest_snapshots([snap("e1", 1, venue=None, starts_at=postponed)])
    await ingest.ingest_snapshots([snap("e1", 2, venue="Other Park", starts_at=postponed)])
    refs = [call[0].event for call in processor.calls]
    assert [r.starts_at for r in refs] == [START, postponed, postponed]
    assert [r.venue for r in refs] == ["Chase Field", "Chase Field", "Other Park"]
    assert len({r.id for r in refs}) == 1
    async with sessions() as session:
        event = (await session.execute(select(Event))).scalar_one()
    assert (event.starts_at, event.venue) == (postponed, "Other Park")


async def test_a_failing_processor_rolls_the_whole_batch_back(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    failing, signal = RecordingProcessor(fail=True), CountingSignal()
    ingest = service(sessions, clock, failing, signal)
    with pytest.raises(RuntimeError, match="exploded"):
        await ingest.ingest_snapshots([snap("e1", 0), snap("e2", 0)])
    assert await counts(sessions) == (0, 0, 0)
    assert signal.count == 0
    failing.fail = False  # the same service, its cache must not remember rolled-back ids
    report = await ingest.ingest_snapshots([snap("e1", 0), snap("e2", 0)])
    assert report.accepted == 2
    assert await counts(sessions) == (2, 2, 0)


async def test_a_deleted_event_is_not_resurrected_from_the_cache(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    ingest = service(sessions, clock)
    await ingest.ingest_snapshots([snap("e1", 0)])
    async with sessions() as session, session.begin():
        await session.execute(delete(MarketSnapshot))
        await session.execute(delete(Event))
    report = await ingest.ingest_snapshots([snap("e1", 1)])
    assert report.accepted == 1
    assert await counts(sessions) == (1, 1, 0)


async def test_invalid_items_are_reported_and_valid_ones_stored(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    metrics = RecordingMetrics()
    ingest = service(sessions, clock, metrics=metrics)
    payload = json.loads(PAYLOAD.read_text())
    items = [payload["snapshots"][0], {"event": {}}, "x", payload["snapshots"][2]]
    report = await ingest.ingest("seatgeek", items)
    assert report.accepted == 2
    assert [r.index for r in report.rejected] == [1, 2]
    assert report.rejected[0].error.startswith("event.external_id: is required")
    assert metrics.total("snapshots_rejected") == 2
    bad_source = await ingest.ingest("no spaces allowed", items)
    assert bad_source.accepted == 0 and len(bad_source.rejected) == 4


async def test_large_batches_span_several_statement_chunks(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    processor = RecordingProcessor()
    ingest = service(sessions, clock, processor)
    batch = [snap(f"e{i % 700}", i // 700, listings=(Listing(f"L{i}", 5.0),)) for i in range(1400)]
    report = await ingest.ingest_snapshots(batch)
    assert report.accepted == 1400
    second_round = [s for s in processor.stored if s.previous is not None]
    assert len(second_round) == 700
    assert all(s.new_listing_ids == (f"L{700 + int(s.event.name[6:])}",) for s in second_round)
    assert await counts(sessions) == (700, 1400, 1400)


async def test_store_snapshots_alone_commits_nothing_and_takes_naive_utc(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    naive = replace(snap("e1", 0), observed_at=T0.replace(tzinfo=None))
    async with sessions() as session:
        result = await store_snapshots(session, [naive, snap("e1", 0)], clock.now())
        assert (result.accepted, result.duplicates) == (1, 1)
        assert result.stored[0].point.observed_at == T0
        await session.rollback()
    assert await counts(sessions) == (0, 0, 0)


@pytest.mark.postgres
async def test_concurrent_batches_on_postgres_store_each_observation_once(
    postgres_url: str, clock: FakeClock
) -> None:
    engine = make_engine(postgres_url)
    try:
        sessions = make_sessionmaker(engine)
        a_proc, b_proc = RecordingProcessor(hold=0.2), RecordingProcessor(hold=0.2)
        a, b = service(sessions, clock, a_proc), service(sessions, clock, b_proc)
        first = [snap(f"e{i % 40}", i // 40) for i in range(0, 200)]
        second = [snap(f"e{i % 40}", i // 40) for i in range(100, 300)]
        reports = await asyncio.wait_for(
            asyncio.gather(a.ingest_snapshots(first), b.ingest_snapshots(second)), timeout=30
        )
        assert sum(r.accepted for r in reports) == 300
        assert sum(r.duplicates for r in reports) == 100
        assert await counts(sessions) == (40, 300, 0)
        stored_ids = [s.snapshot_id for s in a_proc.stored + b_proc.stored]
        assert len(stored_ids) == len(set(stored_ids)) == 300
        same = await asyncio.gather(a.ingest_snapshots(first), b.ingest_snapshots(first))
        assert [r.duplicates for r in same] == [200, 200]
    finally:
        await engine.dispose()
