"""Messages held for quiet hours (or a digest) are re-timed when the person changes `tz`,
`quiet` or the digest schedule, instead of keeping the time their old settings gave.

The typical path: a new person (zone UTC by default) sets `quiet 22:00-07:00`, gets an
alert held "until 07:00", notices the UTC and says `tz America/Los_Angeles`. The held alert
went out at 07:00 UTC = 00:00 PDT, in the middle of their new quiet hours.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import ActionSigner
from core.chat import CommandContext
from core.clock import FakeClock
from core.db.models import Notification
from core.delivery_plan import quiet_until
from core.handlers import CommandHandlers
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
NIGHT = datetime(2024, 3, 20, 23, 0, tzinfo=UTC)  # 23:00 UTC, inside 22:00-07:00 UTC


async def _held(sessions: Sessions) -> tuple[Seed, CommandHandlers, CommandContext]:
    async with sessions() as session, session.begin():
        user = await add_user(session, quiet=("22:00", "07:00"), chats=(("console", "local"),))
        event = await add_event(session)
        watch = await add_watch(session, user, event)
        seed = Seed(user, event, watch)
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, seed, NIGHT, 28.0)
    handlers = CommandHandlers(
        sessions, FakeClock(NIGHT + timedelta(minutes=5)), random.Random(1),
        ActionSigner(SECRET), index_hook=engine.watch_changed,
    )  # fmt: skip
    ctx = CommandContext(seed.user.id, "console", "local")
    return seed, handlers, ctx


async def _chat_rows(sessions: Sessions) -> list[Notification]:
    async with sessions() as session:
        rows = (await session.execute(select(Notification).order_by(Notification.id))).scalars()
        return [r for r in rows if r.channel != "webhook" and r.status == "pending"]


async def test_tz_change_moves_held_messages_out_of_the_new_quiet_hours(
    sessions: Sessions,
) -> None:
    _, handlers, ctx = await _held(sessions)
    (row,) = await _chat_rows(sessions)
    assert row.due_at == datetime(2024, 3, 21, 7, 0, tzinfo=UTC)  # held until 07:00 UTC

    reply = await handlers.handle_text(ctx, "tz America/Los_Angeles")
    assert "Time zone set" in " ".join(reply.lines)

    (row,) = await _chat_rows(sessions)
    # 07:00 UTC is 00:00 PDT: inside the person's quiet hours 22:00-07:00 (their zone now).
    inside = quiet_until(row.due_at, "America/Los_Angeles", "22:00", "07:00")
    assert inside is None, (
        f"held alert still due {row.due_at:%H:%M} UTC = 00:00 PDT, inside quiet hours "
        f"(should be {inside})"
    )
    assert row.due_at == NIGHT + timedelta(minutes=5)  # 16:05 PDT: not quiet there, so now
    assert "1 held message re-timed to match." in reply.lines


async def test_quiet_off_releases_held_messages(sessions: Sessions) -> None:
    _, handlers, ctx = await _held(sessions)
    reply = await handlers.handle_text(ctx, "quiet off")
    assert reply.lines == ("Quiet hours are off.", "1 held message re-timed to match.")
    (row,) = await _chat_rows(sessions)
    now = NIGHT + timedelta(minutes=5)
    assert row.due_at <= now, (
        f"quiet hours are off, yet the held alert waits until {row.due_at:%H:%M} UTC"
    )


async def test_a_retry_and_a_critical_message_keep_their_times(sessions: Sessions) -> None:
    _, handlers, ctx = await _held(sessions)
    async with sessions() as session, session.begin():
        row = await session.scalar(select(Notification).where(Notification.channel == "console"))
        assert row is not None
        row.attempts = 1  # a retry: its backoff stands
    reply = await handlers.handle_text(ctx, "quiet off")
    assert reply.lines == ("Quiet hours are off.",)
    (kept,) = await _chat_rows(sessions)
    assert kept.due_at == datetime(2024, 3, 21, 7, 0, tzinfo=UTC)


async def test_a_daily_digest_moves_held_digest_items(sessions: Sessions) -> None:
    _, handlers, ctx = await _held(sessions)
    async with sessions() as session, session.begin():
        row = await session.scalar(select(Notification).where(Notification.channel == "console"))
        assert row is not None
        row.kind, row.level = "digest", 1
        row.due_at = datetime(2024, 3, 21, 7, 0, tzinfo=UTC)
    reply = await handlers.handle_text(ctx, "prefs digest daily")
    assert reply.lines[-1] == "1 held message re-timed to match."
    (moved,) = await _chat_rows(sessions)
    assert moved.due_at == datetime(2024, 3, 21, 9, 0, tzinfo=UTC)  # daily at 09:00 UTC
