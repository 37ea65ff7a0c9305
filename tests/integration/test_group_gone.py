"""A group chat the bot was removed from: its watches pause, their open alerts close, the
group's queued messages are cancelled and each owner hears once why (core.group_gone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.models import Alert, Event, Identity, Notification, User, Watch
from core.errors import RecipientGone
from core.group_gone import GONE_KIND, group_gone
from tests.fakes.channels import FakeChannel
from tests.integration.test_delivery import add, load, person, service

Sessions = async_sessionmaker[AsyncSession]
GROUP = "-100777"


async def group_watches(sessions: Sessions, user_id: int, count: int = 2) -> list[int]:
    """`count` watches of `user_id` posting to GROUP, each with an open alert; returns
    the alert ids."""
    now = datetime(2024, 3, 20, 11, 0, tzinfo=UTC)
    alert_ids = []
    async with sessions() as session, session.begin():
        for n in range(count):
            event = Event(source="s", external_id=f"g{n}", name=f"Game {n}", starts_at=now)
            session.add(event)
            await session.flush()
            watch = Watch(
                user_id=user_id,
                label=f"game {n}",
                event_id=event.id,
                destination_channel="telegram",
                destination_address=GROUP,
            )
            session.add(watch)
            await session.flush()
            alert = Alert(
                dedup_key=f"{watch.id}:{event.id}:price_below",
                watch_id=watch.id,
                user_id=user_id,
                event_id=event.id,
                kind="price_below",
                score=0.9,
                level=4,
                opened_at=now,
                updated_at=now,
            )
            session.add(alert)
            await session.flush()
            alert_ids.append(alert.id)
    return alert_ids


def group_row(key: str, user_id: int, alert_id: int) -> dict[str, object]:
    return {
        "idempotency_key": key,
        "channel": "telegram",
        "address": GROUP,
        "user_id": user_id,
        "alert_id": alert_id,
        "kind": "alert",
        "level": 4,
        "payload": {"event_type": "alert.triggered", "title": "Cheap seats", "body": "b"},
    }


async def watch_states(sessions: Sessions) -> list[bool]:
    async with sessions() as session:
        return list(await session.scalars(select(Watch.active).order_by(Watch.id)))


async def alert_states(sessions: Sessions) -> dict[int, tuple[str, str | None]]:
    async with sessions() as session:
        rows = await session.execute(select(Alert.id, Alert.status, Alert.reason))
        return {a: (s, r) for a, s, r in rows}


async def told(sessions: Sessions) -> list[Notification]:
    async with sessions() as session:
        return list(
            await session.scalars(select(Notification).where(Notification.kind == GONE_KIND))
        )


async def test_a_send_to_a_kicked_group_pauses_its_watches_and_tells_the_owner_once(
    sessions: Sessions, clock: FakeClock
) -> None:
    owner = await person(sessions, {"telegram": "11", "slack": "U1"}, ["slack", "telegram"])
    first, second = await group_watches(sessions, owner)
    telegram, slack = FakeChannel("telegram"), FakeChannel("slack")
    telegram.script(RecipientGone("telegram: Forbidden: bot was kicked from the supergroup chat"))
    later = clock.now() + timedelta(minutes=5)
    await add(sessions, clock, group_row("g1", owner, first))
    await add(sessions, clock, {**group_row("g2", owner, second), "due_at": later})
    worker = service(sessions, clock, {"telegram": telegram, "slack": slack})
    await worker.deliver_batch()

    assert await watch_states(sessions) == [False, False]
    alerts = await alert_states(sessions)
    # The failed message's alert stays open: its failover still tells the owner of it.
    assert alerts[first] == ("open", None)
    assert alerts[second] == ("resolved", "bot removed from the group")
    stored = await load(sessions)
    assert stored["g1"].status == "failed"
    assert stored["g1:fo:slack"].status == "pending"  # the failover is kept
    assert stored["g2"].status == "cancelled"
    [dm] = await told(sessions)
    assert (dm.user_id, dm.channel, dm.address, dm.status) == (owner, "slack", "U1", "pending")
    assert dm.payload["body"] == (
        "I can no longer post in your Telegram group, so its 2 watches are paused. "
        "Add me back to the group and say resume all there."
    )
    async with sessions() as session:  # the owner's own DM identity stays reachable
        identity = await session.scalar(select(Identity).where(Identity.platform == "telegram"))
        assert identity is not None and identity.unreachable_at is None

    # Another failure for the same group (a row sent meanwhile) tells nobody again.
    telegram.script(RecipientGone("telegram: Forbidden: bot was kicked from the supergroup chat"))
    await add(sessions, clock, {**group_row("g3", owner, first), "kind": "update"})
    await worker.deliver_batch()
    assert len(await told(sessions)) == 1
    assert len(slack.sent) >= 1


async def test_group_gone_names_the_group_and_is_idempotent(
    sessions: Sessions, clock: FakeClock
) -> None:
    owner = await person(sessions, {"telegram": "11"}, [])
    await group_watches(sessions, owner, count=1)
    async with sessions() as session, session.begin():
        gone = await group_gone(session, "telegram", GROUP, clock.now(), title="Fans")
    assert (gone.watches, gone.alerts, gone.told) == (1, 1, 1)
    async with sessions() as session, session.begin():
        again = await group_gone(session, "telegram", GROUP, clock.now(), title="Fans")
    assert (again.watches, again.told) == (0, 0)
    [dm] = await told(sessions)
    assert (dm.channel, dm.address) == ("telegram", "11")
    assert dm.payload["body"].startswith("I can no longer post in Fans, so its 1 watch is paused.")
    async with sessions() as session:
        watch = await session.scalar(select(Watch))
        assert watch is not None and watch.updated_at == clock.now()  # other processes re-read it


async def test_a_dm_recipient_gone_still_marks_the_identity(
    sessions: Sessions, clock: FakeClock
) -> None:
    owner = await person(sessions, {"telegram": "11", "slack": "U1"}, ["telegram", "slack"])
    await group_watches(sessions, owner, count=1)
    telegram, slack = FakeChannel("telegram"), FakeChannel("slack")
    telegram.script(RecipientGone("telegram: Forbidden: bot was blocked by the user"))
    await add(
        sessions,
        clock,
        {"idempotency_key": "d1", "channel": "telegram", "address": "11", "user_id": owner},
    )
    await service(sessions, clock, {"telegram": telegram, "slack": slack}).deliver_batch()
    assert await watch_states(sessions) == [True]  # the group is fine
    assert await told(sessions) == []
    async with sessions() as session:
        identity = await session.scalar(select(Identity).where(Identity.platform == "telegram"))
        assert identity is not None and identity.unreachable_at == clock.now()
        assert await session.get(User, owner) is not None
