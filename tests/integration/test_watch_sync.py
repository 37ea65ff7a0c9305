"""Watches changed by another process reach this process's index through WatchSync."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models import User, Watch
from core.rules import WatchIndex
from core.watch_sync import WatchSync


async def test_created_paused_and_resumed_elsewhere(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    index = WatchIndex()
    sync = WatchSync(index, since=datetime(2000, 1, 1, tzinfo=UTC))
    async with sessions() as session, session.begin():
        user = User(display_name="Ada")
        session.add(user)
        await session.flush()
        watch = Watch(user_id=user.id, label="yankees", terms=["yankees"], max_price=80.0)
        session.add(watch)
    async with sessions() as session:
        assert await sync.refresh(session) == 1
    assert watch.id in index

    async with sessions() as session, session.begin():
        await session.execute(update(Watch).where(Watch.id == watch.id).values(active=False))
    async with sessions() as session:
        assert await sync.refresh(session) >= 1
    assert watch.id not in index

    async with sessions() as session, session.begin():
        await session.execute(update(Watch).where(Watch.id == watch.id).values(active=True))
    async with sessions() as session:
        await sync.refresh(session)
    assert watch.id in index
