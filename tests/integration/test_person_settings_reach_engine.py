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
from core.db.models import Notification, User
from core.handlers import CommandHandlers
from core.metrics import NullMetrics
from core.pipeline import AlertEngine
from core.rules import spec_from_row
from core.sync import PeopleSync
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


async def test_another_process_forgets_the_person_on_its_next_people_sync(
    sessions: Sessions,
) -> None:
    """The command lands on one process (web), the alert is made by another (a worker, a
    second web process): its engine learns of the change from `users.settings_changed_at`."""
    seeds = await _seed(sessions)
    web, worker = await fresh_engine(sessions), await fresh_engine(sessions)
    clock = FakeClock(T)
    handlers = CommandHandlers(
        sessions, clock, random.Random(1), ActionSigner(SECRET),
        index_hook=web.watch_changed, person_hook=web.person_changed,
    )  # fmt: skip
    sync = PeopleSync(worker.person_changed, worker.webhooks_changed, since=T)
    first, second = seeds
    await process_snapshot(sessions, worker, first, T, 28.0)  # the worker caches Ada
    clock.set(T + timedelta(minutes=1))
    await handlers.handle_text(
        CommandContext(first.user.id, "console", "local"), "quiet 22:00-07:00"
    )
    async with sessions() as session:
        assert await sync.refresh(session) == 1
        assert await sync.refresh(session) == 1  # looked back over the overlap: harmless
    await process_snapshot(sessions, worker, second, T + timedelta(minutes=3), 28.0)
    async with sessions() as session:
        due = list(
            await session.scalars(
                select(Notification.due_at).where(
                    Notification.channel == "console", Notification.created_at > T
                )
            )
        )
    assert due == [SEVEN]


async def test_commands_that_change_no_setting_mark_nobody(sessions: Sessions) -> None:
    seeds = await _seed(sessions)
    engine = await fresh_engine(sessions)
    told: list[int] = []
    handlers = CommandHandlers(
        sessions, FakeClock(T), random.Random(1), ActionSigner(SECRET),
        index_hook=engine.watch_changed, person_hook=told.append,
    )  # fmt: skip
    ctx = CommandContext(seeds[0].user.id, "console", "local")
    for text in ("alerts", "help", "prefs", "watches"):
        await handlers.handle_text(ctx, text)
    async with sessions() as session:
        marked = await session.scalar(
            select(User.settings_changed_at).where(User.id == seeds[0].user.id)
        )
    assert told == [] and marked is None
    await handlers.handle_text(ctx, "tz Europe/Berlin")
    async with sessions() as session:
        marked = await session.scalar(
            select(User.settings_changed_at).where(User.id == seeds[0].user.id)
        )
    assert told == [seeds[0].user.id] and marked == T
