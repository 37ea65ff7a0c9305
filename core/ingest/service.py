"""The ingest service: validate, store and hand to the alert engine in one transaction.

Every source goes through here: the HTTP endpoint (`ingest`, raw JSON items), and the
simulator, CSV import and feed pollers (`ingest_snapshots`, domain objects). A batch is
all-or-nothing at the database level; invalid items are reported, never stored, and never
stop the valid ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.domain import SnapshotIn, StoredSnapshot
from core.errors import ValidationError
from core.ingest.events import EventCache
from core.ingest.rules import check_snapshot, check_source
from core.ingest.schema import parse_item
from core.ingest.store import StoreResult, store_snapshots
from core.metrics import Metrics
from core.ports import Clock

logger = logging.getLogger(__name__)
T = TypeVar("T")


class SnapshotProcessor(Protocol):
    """Hides what happens to stored snapshots (the alert engine: match, score, plan, outbox).

    Runs inside the ingest transaction, so alerts and notifications commit together with
    the snapshots they come from. Reference implementation: the alert engine built in
    `bot/bootstrap.py`.
    """

    async def process(
        self,
        session: AsyncSession,
        stored: Sequence[StoredSnapshot],
        now: datetime,
        *,
        alert: bool = True,
    ) -> object:
        """React to snapshots just stored in `session`'s transaction; do not commit.

        With `alert` False the snapshots are history only (a backlog that newer snapshots
        of the same events supersede): remembered, never alerted on.
        """
        ...


class Signal(Protocol):
    """Wakes whoever waits for new work (delivery workers) after a commit."""

    def notify(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Rejection:
    """One invalid item: its position in the request (or file) and a one-line reason."""

    index: int
    error: str


@dataclass(frozen=True, slots=True)
class IngestReport:
    accepted: int
    duplicates: int
    rejected: tuple[Rejection, ...] = ()
    duplicate_indexes: tuple[int, ...] = ()
    processed: object = None  # what the SnapshotProcessor returned

    def to_json(self) -> dict[str, object]:
        """The HTTP answer: {"accepted", "duplicates", "rejected": [{"index", "error"}]}."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [{"index": r.index, "error": r.error} for r in self.rejected],
        }


class IngestService:
    """Validates, stores and processes snapshot batches; one transaction per batch."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        processor: SnapshotProcessor,
        clock: Clock,
        metrics: Metrics,
        signal: Signal | None = None,
    ) -> None:
        self._sessions = sessions
        self._processor = processor
        self._clock = clock
        self._metrics = metrics
        self._signal = signal
        self._events = EventCache()
        # SQLite has one writer: concurrent ingest transactions of this process would
        # only collide (SQLITE_BUSY), so they queue here instead.
        self._sqlite_lock = asyncio.Lock()

    async def ingest(self, source: str, raw_items: Sequence[object]) -> IngestReport:
        """Ingest raw wire-format items (decoded JSON) from `source`.

        Returns:
            Counts of accepted and duplicate items, and each rejected item's index and
            one-line reason.
        """
        now = self._clock.now()
        try:
            source = check_source(source)
        except ValidationError as exc:
            return self._rejected_all(len(raw_items), str(exc))
        valid: list[tuple[int, SnapshotIn]] = []
        rejected: list[Rejection] = []
        for index, raw in enumerate(raw_items):
            try:
                valid.append((index, check_snapshot(parse_item(raw, source), now)))
            except ValidationError as exc:
                rejected.append(Rejection(index, str(exc)))
        return await self._store(valid, rejected, now)

    async def ingest_snapshots(
        self, items: Sequence[SnapshotIn], *, alert: bool = True
    ) -> IngestReport:
        """Ingest domain snapshots (simulator, CSV import, feeds); indexes refer to `items`.

        `alert` False stores them as history only (see `SnapshotProcessor.process`).
        """
        now = self._clock.now()
        valid: list[tuple[int, SnapshotIn]] = []
        rejected: list[Rejection] = []
        for index, item in enumerate(items):
            try:
                valid.append((index, check_snapshot(item, now)))
            except ValidationError as exc:
                rejected.append(Rejection(index, str(exc)))
        return await self._store(valid, rejected, now, alert=alert)

    def _rejected_all(self, count: int, error: str) -> IngestReport:
        self._metrics.count("snapshots_rejected", count)
        return IngestReport(0, 0, tuple(Rejection(i, error) for i in range(count)))

    async def _store(
        self,
        valid: list[tuple[int, SnapshotIn]],
        rejected: list[Rejection],
        now: datetime,
        *,
        alert: bool = True,
    ) -> IngestReport:
        if rejected:
            self._metrics.count("snapshots_rejected", len(rejected))
        if not valid:
            return IngestReport(0, 0, tuple(rejected))
        items = [item for _, item in valid]
        cached = len(self._events) > 0
        try:
            result, processed = await self._transaction(items, now, alert)
        except IntegrityError:
            if not cached:
                raise
            # A cached event may have been deleted (retention): the cache is cleared by
            # now, so one retry reads the truth from the database.
            logger.warning("ingest of %d snapshots hit a stale event cache; retrying", len(items))
            result, processed = await self._transaction(items, now, alert)
        self._metrics.count("snapshots_ingested", result.accepted)
        if result.duplicates:
            self._metrics.count("snapshots_duplicate", result.duplicates)
        if result.accepted and self._signal is not None:
            self._signal.notify()
        return IngestReport(
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=tuple(rejected),
            duplicate_indexes=tuple(valid[i][0] for i in result.duplicate_indexes),
            processed=processed,
        )

    @contextlib.asynccontextmanager
    async def _serialised(self) -> AsyncIterator[AsyncSession]:
        """A session whose transactions no other ingest transaction of this process
        overlaps on SQLite (one writer); PostgreSQL's row locks order them."""
        async with self._sessions() as session:
            if session.get_bind().dialect.name == "sqlite":
                async with self._sqlite_lock:
                    yield session
            else:
                yield session

    async def _transaction(
        self, items: list[SnapshotIn], now: datetime, alert: bool
    ) -> tuple[StoreResult, object]:
        async with self._serialised() as session:
            return await self._run(session, items, now, alert)

    async def exclusive(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in one transaction serialised with ingest's (`_serialised`): for
        other work that reads and then writes active alerts, as the engine does
        (`core.revisit`)."""
        async with self._serialised() as session, session.begin():
            return await work(session)

    async def _run(
        self, session: AsyncSession, items: list[SnapshotIn], now: datetime, alert: bool
    ) -> tuple[StoreResult, object]:
        try:
            async with session.begin():
                result = await store_snapshots(session, items, now, cache=self._events)
                processed = (
                    await self._processor.process(session, result.stored, now, alert=alert)
                    if result.stored
                    else None
                )
        except BaseException:
            self._events.clear()
            raise
        self._events.update(result.events)
        return result, processed
