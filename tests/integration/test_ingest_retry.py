"""A batch whose transaction fails after the engine saw it (a stale cache meeting a
deleted row: IntegrityError) is retried once; the retry must alert as the first try would
have, although the engine's in-memory market history already holds its snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.domain import SnapshotIn, StoredSnapshot
from core.ingest.service import IngestService
from core.metrics import RecordingMetrics
from core.pipeline import AlertEngine, PipelineResult
from tests.integration.engine_helpers import (
    add_user,
    add_watch,
    alerts_of,
    fresh_engine,
    notifications_of,
)
from tests.integration.test_feed_backlog import GAME

Sessions = async_sessionmaker[AsyncSession]


class FailsOnce:
    """The engine, but the first batch given the `fail_at` call raises IntegrityError
    after the engine has processed it (as a foreign key failing at flush would)."""

    def __init__(self, engine: AlertEngine, fail_at: int) -> None:
        self.engine, self.calls, self.fail_at = engine, 0, fail_at

    async def process(
        self, session: AsyncSession, stored: Sequence[StoredSnapshot], now: datetime, *,
        alert: bool = True,
    ) -> PipelineResult:  # fmt: skip
        self.calls += 1
        result = await self.engine.process(session, stored, now, alert=alert)
        if self.calls == self.fail_at:
            raise IntegrityError("INSERT INTO notifications", {}, Exception("FOREIGN KEY"))
        return result


def _snap(at: datetime, price: float) -> SnapshotIn:
    return SnapshotIn(source="feed", event=GAME, observed_at=at, min_price=price, ticket_count=900)


async def test_the_retry_of_a_failed_batch_opens_the_alert(
    sessions: Sessions, clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        ada = await add_user(session)
        await add_watch(session, ada, None, terms=["rockies"], max_price=40.0)
    engine = await fresh_engine(sessions)
    processor = FailsOnce(engine, fail_at=2)
    ingest = IngestService(sessions, processor, clock, RecordingMetrics())
    now = clock.now()
    # the first batch fills the event cache (a retry happens only with a cached event)
    await ingest.ingest_snapshots([_snap(now - timedelta(minutes=10), 55.0)])

    report = await ingest.ingest_snapshots([_snap(now - timedelta(minutes=1), 30.0)])

    assert report.accepted == 1 and processor.calls == 3
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        notes = await notifications_of(session, alert.id)
    assert alert.price == 30.0 and notes
