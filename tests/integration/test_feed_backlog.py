"""A feed poll that returns a backlog: older snapshots become history, alerts use the newest."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bootstrap import Container
from bot.jobs import FEED_NEWS, feed_job, split_backlog
from core.clock import FakeClock
from core.db.models import MarketSnapshot
from core.domain import EventInfo, SnapshotIn
from core.ingest import IngestService
from core.metrics import RecordingMetrics
from tests.integration.engine_helpers import (
    add_user,
    add_watch,
    alerts_of,
    fresh_engine,
    notifications_of,
)

Sessions = async_sessionmaker[AsyncSession]
GAME = EventInfo(
    external_id="g1",
    name="Rockies at Diamondbacks",
    starts_at=datetime(2024, 3, 31, 20, 10, tzinfo=UTC),
    performers=("Arizona Diamondbacks", "Colorado Rockies"),
)


class Backlog:
    """A TicketSource whose one poll returns everything at once."""

    name = "backlog"

    def __init__(self, items: Sequence[SnapshotIn]) -> None:
        self.items = list(items)

    async def poll(self, now: datetime) -> AsyncIterator[Sequence[SnapshotIn]]:
        yield self.items


def _snap(at: datetime, price: float, external_id: str = "g1") -> SnapshotIn:
    event = GAME if external_id == "g1" else EventInfo(external_id, "Other", GAME.starts_at)
    return SnapshotIn(
        source="feed", event=event, observed_at=at, min_price=price, ticket_count=1000
    )


def test_split_backlog_keeps_each_events_newest_live(clock: FakeClock) -> None:
    now = clock.now()
    items = [
        _snap(now - timedelta(hours=3), 30.0),
        _snap(now - timedelta(hours=2), 31.0, "g2"),
        _snap(now - timedelta(minutes=5), 29.0),
    ]
    history, live = split_backlog(items)
    assert history == [items[0]] and live == [items[1], items[2]]
    assert split_backlog([]) == ([], [])


async def test_a_backlog_alerts_once_on_the_newest_snapshot(
    sessions: Sessions, clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        ada = await add_user(session)
        await add_watch(session, ada, None, terms=["rockies"], max_price=40.0)
    engine = await fresh_engine(sessions)
    ingest = IngestService(sessions, engine, clock, RecordingMetrics())
    container = SimpleNamespace(
        clock=clock, ingest=ingest, settings=SimpleNamespace(feed_poll_s=60.0)
    )
    now = clock.now()
    backlog = [_snap(now - timedelta(minutes=m), 30.0 - m / 100) for m in (300, 120, 5)]
    job = feed_job(cast(Container, container), Backlog(backlog), chunk=1)
    await job.run()
    async with sessions() as session:
        (alert,) = await alerts_of(session)
        (chat,) = await notifications_of(session, alert.id)
        stored = await session.scalar(select(func.count()).select_from(MarketSnapshot))
    assert stored == 3  # the older two are kept as history
    assert alert.price == 29.95
    reliability = next(f for f in chat.payload["factors"] if f["name"] == "reliability")
    assert reliability["reason"].startswith("data 5 min old")
    body: Any = chat.payload["data"]["market"]
    assert body["observed_at"] == (now - timedelta(minutes=5)).isoformat()


async def test_routine_polls_log_at_debug_and_backlogs_at_info(
    sessions: Sessions, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await fresh_engine(sessions)
    ingest = IngestService(sessions, engine, clock, RecordingMetrics())
    container = SimpleNamespace(
        clock=clock, ingest=ingest, settings=SimpleNamespace(feed_poll_s=60.0)
    )
    now = clock.now()
    backlog = [_snap(now - timedelta(minutes=m), 30.0) for m in range(FEED_NEWS + 1, 0, -1)]
    caplog.set_level(logging.DEBUG, logger="bot.jobs")

    await feed_job(cast(Container, container), Backlog(backlog[:-1])).run()
    await feed_job(cast(Container, container), Backlog(backlog[-1:])).run()

    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "bot.jobs"]
    assert lines == [
        (logging.INFO, f"feed backlog: {FEED_NEWS} snapshots ingested"),
        (logging.DEBUG, "feed backlog: 1 snapshots ingested"),
    ]
