"""A second `make run` continues the demo's market instead of adding another beside it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bootstrap import Container
from bot.demo import DEMO_KEPT, DEMO_MARKET_FILE, demo_market, demo_source, demo_watches
from bot.jobs import feed_job
from core.clock import FakeClock
from core.db.models import Event, MarketSnapshot
from core.ingest import IngestService
from core.metrics import RecordingMetrics
from ml.simulator import MarketSimulator
from ml.simulator_catalog import in_season
from tests.integration.engine_helpers import fresh_engine

Sessions = async_sessionmaker[AsyncSession]


async def _run(sessions: Sessions, clock: FakeClock, source: MarketSimulator) -> None:
    """One poll of the demo feed, as `make run` does first."""
    ingest = IngestService(sessions, await fresh_engine(sessions), clock, RecordingMetrics())
    container = SimpleNamespace(
        clock=clock, ingest=ingest, settings=SimpleNamespace(feed_poll_s=60.0)
    )
    await feed_job(cast(Container, container), source).run()


async def _counts(sessions: Sessions) -> tuple[int, int]:
    async with sessions() as session:
        events = await session.scalar(select(func.count()).select_from(Event))
        snapshots = await session.scalar(select(func.count()).select_from(MarketSnapshot))
    return int(events or 0), int(snapshots or 0)


async def test_a_second_run_continues_the_same_market(
    sessions: Sessions, clock: FakeClock, tmp_path: Path
) -> None:
    first = await demo_market(sessions, clock.now(), tmp_path)
    await _run(sessions, clock, first)
    events, snapshots = await _counts(sessions)
    assert events == 120 and snapshots > 0

    clock.advance(hours=3)  # the person stops `make run` and starts it again
    second = await demo_market(sessions, clock.now(), tmp_path)
    assert [e.info.external_id for e in second.events] == [
        e.info.external_id for e in first.events
    ]  # a new seed added 120 more events, the earlier ones frozen at their last price
    async with sessions() as session:
        stored = await session.scalar(select(func.max(MarketSnapshot.observed_at)))
    assert stored is not None
    newest = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
    polled = [item async for batch in second.poll(clock.now()) for item in batch]
    assert polled and all(s.observed_at > newest for s in polled)
    await _run(sessions, clock, await demo_market(sessions, clock.now(), tmp_path))
    assert await _counts(sessions) == (120, snapshots + len(polled))


async def test_an_old_or_unreadable_market_is_replaced(
    sessions: Sessions, clock: FakeClock, tmp_path: Path
) -> None:
    first = await demo_market(sessions, clock.now(), tmp_path)
    clock.advance((DEMO_KEPT + timedelta(hours=1)).total_seconds())  # half its events have started
    later = await demo_market(sessions, clock.now(), tmp_path)
    assert later.events[0].info.external_id != first.events[0].info.external_id
    (tmp_path / DEMO_MARKET_FILE).write_text("not json", encoding="utf-8")
    again = await demo_market(sessions, clock.now(), tmp_path)  # no crash: a new market
    assert again.events[0].info.external_id != later.events[0].info.external_id


def test_the_demo_market_plays_only_leagues_in_season(tmp_path: Path) -> None:
    # A demo started in December showed "Yankees at Royals, Tue 8 Dec".
    december = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    july = datetime(2026, 7, 10, 18, 0, tzinfo=UTC)
    winter = {e.info.category for e in demo_source(december, seed=7).events}
    summer = {e.info.category for e in demo_source(july, seed=7).events}
    assert "mlb" not in winter and {"nba", "nhl", "nfl", "concert"} <= winter
    assert "mlb" in summer and not {"nba", "nhl", "nfl"} & summer
    # The demo person watches teams that play then.
    assert demo_watches(december.date()) == (
        "watch any knicks under 90",
        "watch any bruins drop 8%",
        "watch any taylor swift under 250 qty 2",
        "watch any nba drop 10%",
    )
    assert "watch any yankees under 60" in demo_watches(july.date())
    assert "watch any nba drop 10%" not in demo_watches(july.date())
    # Started a week before the World Series: no November games, no baseball watches.
    october = datetime(2026, 10, 24, 18, 0, tzinfo=UTC)
    assert "mlb" not in {e.info.category for e in demo_source(october, seed=7).events}
    assert not any("yankees" in w for w in demo_watches(october.date()))
    # Early October: only football plays the whole month; four watches all the same.
    assert demo_watches(date(2026, 10, 3))[:2] == (
        "watch any chiefs under 150",
        "watch any theatre under 120",
    )
    days = (date(2026, 1, 1) + timedelta(days=d) for d in range(366))
    assert {len(demo_watches(day)) for day in days} == {4}


def test_seasons_run_over_the_new_year() -> None:
    assert in_season("nfl", date(2027, 1, 20)) and in_season("nfl", date(2026, 9, 10))
    assert not in_season("nfl", date(2026, 5, 1))
    assert in_season("mlb", date(2026, 3, 20)) and not in_season("mlb", date(2026, 11, 1))
    assert in_season("concert", date(2026, 12, 25))
