"""Digest lines tell the games of a series apart: a team watch matches three games of
the same name on consecutive days, and each line carries the alert's number and start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models import Event, Notification
from core.digest import compose_digests
from core.pipeline import AlertEngine, EngineConfig
from tests.fakes.predictor import StubPredictor, make_forecast
from tests.integration.engine_helpers import (
    T0,
    Seed,
    add_event,
    add_user,
    add_watch,
    fresh_engine,
    snapshot,
)

Sessions = async_sessionmaker[AsyncSession]
DEMAND_ONLY = (0.0, 0.0, 0.0, 0.0, 1.0, 0.0)


async def _series(sessions: Sessions, games: int) -> tuple[Seed, list[Event], AlertEngine]:
    """A team watch on `games` games on consecutive days, and an engine whose alerts of
    it are all low priority (digest items)."""
    async with sessions() as session, session.begin():
        user = await add_user(session)
        events = [
            await add_event(
                session, external_id=f"g{n}",
                starts_at=datetime(2024, 3, 29 + n, 1, 40, tzinfo=UTC),
            )
            for n in range(games)
        ]  # fmt: skip
        watch = await add_watch(session, user, None, label="rockies under 40",
                                terms=["Colorado Rockies"])  # fmt: skip
    engine = await fresh_engine(
        sessions,
        predictor=StubPredictor(make_forecast(demand=0.1)),
        config=EngineConfig(weights=DEMAND_ONLY),
    )
    return Seed(user, events[0], watch), events, engine


async def _one_digest(sessions: Sessions) -> Notification:
    """Compose the digests due an hour after T0: there is one; return it."""
    async with sessions() as session, session.begin():
        assert await compose_digests(session, T0 + timedelta(hours=1)) == 1
    async with sessions() as session:
        summary = await session.scalar(
            select(Notification).where(Notification.kind == "digest_summary")
        )
    assert summary is not None
    return summary


async def test_digest_lines_tell_the_games_of_a_series_apart(sessions: Sessions) -> None:
    seed, events, engine = await _series(sessions, 3)
    async with sessions() as session, session.begin():
        stored = [await snapshot(session, seed, T0, 28.0, event=e) for e in events]
        result = await engine.process(session, stored, T0)
    assert result.alerts_opened == 3
    summary = await _one_digest(sessions)
    lines = summary.payload["body"].splitlines()
    assert len(lines) == 3
    assert len(set(lines)) == 3, f"digest lines are identical: {lines}"
    ids = sorted(item["alert_id"] for item in summary.payload["data"]["items"])
    assert lines[0].startswith(f"• #{ids[0]} ")
    # in the venue's zone for a person who has not set one: 01:40 UTC is 18:40 in Phoenix
    assert lines[0].endswith("— $28 (your max $40) · Thu 28 Mar 18:40 MST"), lines[0]
    assert lines[2].endswith("· Sat 30 Mar 18:40 MST"), lines[2]


async def test_a_digest_line_gives_the_price_now_when_it_moved_since_the_item_was_written(
    sessions: Sessions,
) -> None:
    seed, events, engine = await _series(sessions, 2)
    async with sessions() as session, session.begin():
        stored = [await snapshot(session, seed, T0, 28.0, event=e) for e in events]
        assert (await engine.process(session, stored, T0)).alerts_opened == 2
    later = T0 + timedelta(minutes=20)
    async with sessions() as session, session.begin():  # the first game is dearer now
        stored = [await snapshot(session, seed, later, 33.0, event=events[0])]
        await engine.process(session, stored, later)
    summary = await _one_digest(sessions)
    first, second = summary.payload["body"].splitlines()
    assert first.endswith("— $28 (your max $40) · now $33 · Thu 28 Mar 18:40 MST"), first
    assert second.endswith("— $28 (your max $40) · Fri 29 Mar 18:40 MST"), second
