"""core.chat_moves.move_chat: a group's new address reaches every row that names it, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.chat_moves import MovedChat, move_chat
from core.db.models import Identity, Notification, User, Watch
from core.outbox import DELAYED

OLD, NEW, OTHER = "-4242", "-1004242", "-5151"
T0 = datetime(2024, 3, 20, 12, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


async def seed(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        admin, group, other = (User(display_name=name) for name in ("Ada", "Fans", "Bo"))
        session.add_all([admin, group, other])
        await session.flush()
        session.add_all(
            [
                Identity(user_id=admin.id, platform="telegram", external_id="11", dm_address="11"),
                # The group itself (an anonymous admin acts as it): its id is the chat id.
                Identity(user_id=group.id, platform="telegram", external_id=OLD),
                Identity(user_id=other.id, platform="telegram", external_id="12", dm_address=OLD),
                Identity(user_id=other.id, platform="slack", external_id="U1", dm_address=OLD),
            ]
        )
        for label, user, channel, address, removed in (
            ("group", admin.id, "telegram", OLD, None),
            ("group, removed", group.id, "telegram", OLD, T0),
            ("other group", admin.id, "telegram", OTHER, None),
            ("slack channel", admin.id, "slack", OLD, None),
            ("personal", admin.id, None, None, None),
        ):
            session.add(
                Watch(
                    user_id=user,
                    label=label,
                    terms=[label],
                    destination_channel=channel,
                    destination_address=address,
                    removed_at=removed,
                    updated_at=T0,
                )
            )
        for key, channel, address, status, payload in (
            ("pending", "telegram", OLD, "pending", {}),
            ("parked", "telegram", OLD, "pending", {DELAYED: T0.isoformat()}),
            ("sending", "telegram", OLD, "sending", {}),
            ("sent", "telegram", OLD, "sent", {}),
            ("failed", "telegram", OLD, "failed", {}),
            ("other group", "telegram", OTHER, "pending", {}),
            ("slack", "slack", OLD, "pending", {}),
        ):
            session.add(
                Notification(
                    user_id=admin.id,
                    channel=channel,
                    address=address,
                    level=3,
                    payload=payload,
                    idempotency_key=key,
                    status=status,
                    due_at=T0,
                    created_at=T0,
                )
            )


async def move(sessions: Sessions, now: datetime) -> MovedChat:
    async with sessions() as session, session.begin():
        return await move_chat(session, "telegram", OLD, NEW, now)


async def test_moves_watches_identities_and_unsent_messages_once(sessions: Sessions) -> None:
    await seed(sessions)
    later = T0 + timedelta(minutes=5)

    first = await move(sessions, later)
    second = await move(sessions, later + timedelta(minutes=1))

    assert first == MovedChat(watches=2, identities=2, notifications=3)
    assert second == MovedChat()  # the other service message: nothing left to move
    async with sessions() as session:
        watches = {w.label: w for w in await session.scalars(select(Watch))}
        notes = {n.idempotency_key: n for n in await session.scalars(select(Notification))}
        found = await session.scalars(select(Identity))
        identities = {(i.platform, i.external_id): i.dm_address for i in found}
    assert {label: w.destination_address for label, w in watches.items()} == {
        "group": NEW,
        "group, removed": NEW,
        "other group": OTHER,
        "slack channel": OLD,  # another platform's chat that happens to have the same id
        "personal": None,
    }
    moved_at = {label: w.updated_at.replace(tzinfo=UTC) for label, w in watches.items()}
    assert moved_at["group"] == moved_at["group, removed"] == later  # not bumped again
    assert moved_at["other group"] == moved_at["personal"] == T0
    assert {key: n.address for key, n in notes.items()} == {
        "pending": NEW,
        "parked": NEW,
        "sending": NEW,
        "sent": OLD,  # its receipt names the message where it is
        "failed": OLD,
        "other group": OTHER,
        "slack": OLD,
    }
    assert notes["parked"].payload == {DELAYED: T0.isoformat()}
    assert identities == {
        ("telegram", "11"): "11",
        ("telegram", NEW): None,  # the group's own identity keeps its person
        ("telegram", "12"): NEW,
        ("slack", "U1"): OLD,
    }


async def test_the_same_address_or_an_unknown_chat_moves_nothing(sessions: Sessions) -> None:
    await seed(sessions)
    async with sessions() as session, session.begin():
        assert await move_chat(session, "telegram", OLD, OLD, T0) == MovedChat()
        assert await move_chat(session, "telegram", "-999", NEW, T0) == MovedChat()


async def test_a_group_identity_already_at_the_new_id_is_kept(sessions: Sessions) -> None:
    await seed(sessions)
    async with sessions() as session, session.begin():
        user = User(display_name="Fans (new)")
        session.add(user)
        await session.flush()
        session.add(Identity(user_id=user.id, platform="telegram", external_id=NEW))

    moved = await move(sessions, T0)

    assert moved.watches == 2 and moved.notifications == 3
    async with sessions() as session:
        ids = set(await session.scalars(select(Identity.external_id)))
    assert {OLD, NEW} <= ids
