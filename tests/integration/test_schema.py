"""The migrated schema round-trips timezone-aware times and enforces one active alert."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models import Alert, Event, User, Watch


async def _seed(session: AsyncSession) -> tuple[User, Event, Watch]:
    user = User(display_name="Ada")
    event = Event(
        source="seatgeek",
        external_id="1",
        name="Rockies at Diamondbacks",
        starts_at=datetime(2024, 3, 31, 20, 10, tzinfo=UTC),
    )
    session.add_all([user, event])
    await session.flush()
    watch = Watch(user_id=user.id, label="rockies", event_id=event.id)
    session.add(watch)
    await session.flush()
    return user, event, watch


def _alert(user: User, event: Event, watch: Watch, status: str = "open") -> Alert:
    now = datetime(2024, 3, 20, 12, tzinfo=UTC)
    return Alert(
        dedup_key=f"{watch.id}:{event.id}:price_below",
        watch_id=watch.id,
        user_id=user.id,
        event_id=event.id,
        kind="price_below",
        score=0.5,
        level=3,
        status=status,
        opened_at=now,
        updated_at=now,
    )


async def test_times_come_back_aware_utc(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await _seed(session)
    async with sessions() as session:
        stored = (await session.execute(select(Event))).scalar_one()
    assert stored.starts_at == datetime(2024, 3, 31, 20, 10, tzinfo=UTC)
    assert stored.starts_at.tzinfo is not None


async def test_only_one_active_alert_per_dedup_key(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        user, event, watch = await _seed(session)
        session.add(_alert(user, event, watch, status="resolved"))
        session.add(_alert(user, event, watch, status="open"))
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            session.add(_alert(user, event, watch, status="acknowledged"))
