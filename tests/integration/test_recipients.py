"""Batch-loading people for the alert engine: settings, preferences and chat order."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models import Identity, Preference, User
from core.domain import ChannelKind
from core.recipients import RecipientCache, load_recipients
from core.routing import Destination

AT = datetime(2025, 1, 1, tzinfo=UTC)


async def _seed(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session, session.begin():
        ana = User(
            display_name="ana",
            timezone="Europe/Paris",
            quiet_start="22:00",
            quiet_end="07:00",
            learned_weights={"price": 0.4},
            feedback_count=12,
            created_at=AT,
        )
        bo = User(display_name="bo", timezone="UTC", created_at=AT)
        session.add_all([ana, bo])
        await session.flush()
        session.add(
            Preference(
                user_id=ana.id,
                channel_order=["slack", "bogus", "telegram"],
                min_level_per_channel={"slack": 3},
                digest_schedule="daily",
                escalation_overrides={"sms": False},
            )
        )
        for user, platform, address, gone in (
            (ana, "telegram", "t-ana", None),
            (ana, "slack", "s-ana", None),
            (ana, "discord", "d-ana", AT),  # unreachable: left out
            (bo, "telegram", "t-bo", None),
        ):
            session.add(
                Identity(
                    user_id=user.id,
                    platform=platform,
                    external_id=f"{platform}-{user.display_name}",
                    dm_address=address,
                    unreachable_at=gone,
                    created_at=AT,
                )
            )
        return ana.id, bo.id


async def test_load_recipients_reads_settings_and_orders_chats(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ana_id, bo_id = await _seed(sessions)
    async with sessions() as session:
        people = await load_recipients(session, [bo_id, ana_id, ana_id, 999_999])
    assert set(people) == {ana_id, bo_id}
    ana, bo = people[ana_id], people[bo_id]
    assert ana.timezone == "Europe/Paris"
    assert (ana.quiet_start, ana.quiet_end) == ("22:00", "07:00")
    assert ana.destinations == (
        Destination(ChannelKind.SLACK, "s-ana"),
        Destination(ChannelKind.TELEGRAM, "t-ana"),
    )
    assert ana.min_level_per_channel == {"slack": 3}
    assert ana.digest_schedule == "daily"
    assert ana.escalation_overrides == {"sms": False}
    assert ana.learned_weights == {"price": 0.4}
    assert ana.feedback_count == 12
    assert bo.destinations == (Destination(ChannelKind.TELEGRAM, "t-bo"),)
    assert bo.min_level_per_channel == {}
    assert bo.digest_schedule is None
    assert bo.learned_weights is None
    assert bo.feedback_count == 0


async def test_recipient_cache_reloads_after_invalidate(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ana_id, _ = await _seed(sessions)
    cache = RecipientCache(ttl_s=300)
    async with sessions() as session:
        first = await cache.get_many(session, [ana_id], AT)
    async with sessions() as session, session.begin():
        user = await session.get(User, ana_id)
        assert user is not None
        user.timezone = "Asia/Tokyo"
    async with sessions() as session:
        cached = await cache.get_many(session, [ana_id], AT)
        cache.invalidate(ana_id)
        fresh = await cache.get_many(session, [ana_id], AT)
    assert first[ana_id].timezone == cached[ana_id].timezone == "Europe/Paris"
    assert fresh[ana_id].timezone == "Asia/Tokyo"
