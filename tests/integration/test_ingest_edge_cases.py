"""Ingest edge cases an integrating engineer or a careless exporter hits: late and
replayed snapshots of a rescheduled game."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.models import Event
from tests.integration.test_ingest import START, RecordingProcessor, service, snap


async def stored_event(sessions: async_sessionmaker[AsyncSession]) -> Event:
    async with sessions() as session:
        return (await session.execute(select(Event))).scalar_one()


async def test_an_older_snapshot_arriving_late_does_not_undo_a_reschedule(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    processor = RecordingProcessor()
    ingest = service(sessions, clock, processor)
    moved = START + timedelta(days=1)
    await ingest.ingest_snapshots([snap("e1", 0)])
    await ingest.ingest_snapshots([snap("e1", 30, venue=None, starts_at=moved)])
    # A backfill (or a retried request) of observations made before the reschedule.
    late = await ingest.ingest_snapshots([snap("e1", 10, venue="Old Park")])
    replay = await ingest.ingest_snapshots([snap("e1", 0, venue="Old Park")])
    assert (late.accepted, replay.duplicates) == (1, 1)
    event = await stored_event(sessions)
    assert (event.starts_at, event.venue) == (moved, "Chase Field")
    assert processor.calls[-1][0].event.starts_at == moved
    # A gap the newer snapshots left is still filled in by an older one.
    await ingest.ingest_snapshots([snap("e1", 40, venue=None, starts_at=moved)])
    assert (await stored_event(sessions)).venue == "Chase Field"
