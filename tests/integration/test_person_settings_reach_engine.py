"""Settings a person changes by command reach the alert engine at once, not after its
person cache ages out: at 21:58 an alert arrives, at 21:59 `quiet 22:00-07:00`, and the
alert at 22:01 waits until 07:00."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.bootstrap import build
from bot.settings import load_settings
from core.actions import ActionSigner
from core.chat import CommandContext
from core.clock import FakeClock
from core.db.models import Notification
from core.handlers import CommandHandlers
from core.metrics import NullMetrics
from core.pipeline import AlertEngine
from core.rules import spec_from_row
from tests.integration.engine_helpers import (
    SECRET,
    Seed,
    add_event,
    add_user,
    add_watch,
    fresh_engine,
    process_snapshot,
)

Sessions = async_sessionmaker[AsyncSession]
T = datetime(2024, 3, 20, 21, 58, tzinfo=UTC)
SEVEN = datetime(2024, 3, 21, 7, 0, tzinfo=UTC)


async def _seed(sessions: Sessions) -> tuple[Seed, Seed]:
    """Ada (console only) with a watch on each of two events."""
    async with sessions() as session, session.begin():
        user = await add_user(session, chats=(("console", "local"),))
        first = await add_event(session, external_id="1")
        second = await add_event(session, external_id="2", name="Giants at Dodgers")
        w1 = await add_watch(session, user, first)
        w2 = await add_watch(session, user, second, label="giants under 40")
    return Seed(user, first, w1), Seed(user, second, w2)


async def _story(
    sessions: Sessions,
    seeds: tuple[Seed, Seed],
    engine: AlertEngine,
    handlers: CommandHandlers,
    clock: FakeClock,
) -> list[datetime]:
    """The due times of the messages of the alert opened after `quiet` was set."""
    first, second = seeds
    await process_snapshot(sessions, engine, first, T, 28.0)  # the engine caches Ada
    clock.set(T + timedelta(minutes=1))
    reply = await handlers.handle_text(
        CommandContext(first.user.id, "console", "local"), "quiet 22:00-07:00"
    )
    assert "wait until 07:00" in " ".join(reply.lines)
    await process_snapshot(sessions, engine, second, T + timedelta(minutes=3), 28.0)
    async with sessions() as session:
        rows = await session.scalars(
            select(Notification.due_at).where(
                Notification.channel == "console", Notification.created_at > T
            )
        )
        return list(rows)


async def test_a_quiet_command_holds_the_very_next_alert(sessions: Sessions) -> None:
    seeds = await _seed(sessions)
    engine = await fresh_engine(sessions)
    clock = FakeClock(T)
    told: list[int] = []

    def hook(user_id: int) -> None:
        told.append(user_id)
        engine.person_changed(user_id)

    handlers = CommandHandlers(
        sessions, clock, random.Random(1), ActionSigner(SECRET),
        index_hook=engine.watch_changed, person_hook=hook,
    )  # fmt: skip
    assert await _story(sessions, seeds, engine, handlers, clock) == [SEVEN]
    assert len(told) == 1


async def test_without_the_hook_the_cached_person_is_stale(sessions: Sessions) -> None:
    """The control: the engine's cache is what the hook must reach."""
    seeds = await _seed(sessions)
    engine = await fresh_engine(sessions)
    clock = FakeClock(T)
    handlers = CommandHandlers(sessions, clock, random.Random(1), ActionSigner(SECRET))
    assert await _story(sessions, seeds, engine, handlers, clock) == [T + timedelta(minutes=3)]


async def test_the_process_wires_commands_to_the_engine_cache(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        secret_key="test",
        demo=False,
        state_dir=tmp_path,
    )
    clock = FakeClock(T)
    container = await build(settings, channels={}, metrics=NullMetrics(), clock=clock)
    try:
        seeds = await _seed(container.sessions)
        for seed in seeds:
            container.alerts.watch_changed(spec_from_row(seed.watch), "created")
        due = await _story(container.sessions, seeds, container.alerts, container.handlers, clock)
    finally:
        await container.aclose()
    assert due == [SEVEN]
