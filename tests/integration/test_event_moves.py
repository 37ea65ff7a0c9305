"""A rescheduled event is told to the people who care: those with an active alert on it
or who marked one bought, once each, in their zone, after their quiet hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerts import resolve
from core.announce import cancel_pending
from core.db.models import Alert, AuditEntry, Event, Notification, User
from core.digest import compose_digests
from core.domain import EventInfo, SnapshotIn
from core.ingest.events import KnownEvent
from core.ingest.store import store_snapshots
from core.reschedule import MOVED_KIND, Move, tell_moves
from tests.integration.engine_helpers import STARTS, T0, add_event, add_user, add_watch

Sessions = async_sessionmaker[AsyncSession]
MOVED = datetime(2024, 4, 7, 2, 10, tzinfo=UTC)  # Sat 6 Apr 19:10 in Phoenix
TITLE = "📅 Rockies at Diamondbacks has moved"


@dataclass
class World:
    event_id: int
    ada: list[int]  # open and acknowledged alerts (New York)
    bob: int  # bought (UTC: the venue's zone)
    cat: int  # resolved, not bought


async def _alert(
    session: AsyncSession,
    user: User,
    event: Event,
    status: str,
    *,
    group: str | None = None,
    **kw: object,
) -> int:
    """An alert of a new watch on `event`; `group`: the watch posts to that Telegram group
    (`/watch` run in it), as its alerts did."""
    where = {"destination_channel": "telegram", "destination_address": group} if group else {}
    watch = await add_watch(session, user, event, **where)
    alert = Alert(
        dedup_key=f"{watch.id}:{event.id}:price_below", watch_id=watch.id, user_id=user.id,
        event_id=event.id, kind="price_below", score=0.5, level=2, status=status,
        opened_at=T0, updated_at=T0, **kw,
    )  # fmt: skip
    session.add(alert)
    await session.flush()
    return alert.id


async def _world(sessions: Sessions, quiet: tuple[str, str] | None = None) -> World:
    async with sessions() as session, session.begin():
        event = await add_event(session)
        ada = await add_user(session, timezone="America/New_York", chats=[("telegram", "tg-ada")])
        bob = await add_user(session, name="Bob", chats=[("telegram", "tg-bob")], quiet=quiet)
        cat = await add_user(session, name="Cat", chats=[("telegram", "tg-cat")])
        return World(
            event.id,
            [await _alert(session, ada, event, "open"),
             await _alert(session, ada, event, "acknowledged")],
            await _alert(session, bob, event, "resolved", reason="bought via telegram"),
            await _alert(session, cat, event, "resolved", reason="price went up"),
        )  # fmt: skip


async def _ingest(sessions: Sessions, starts_at: datetime, now: datetime) -> None:
    """One snapshot of the seeded event (`add_event`) that says it starts at `starts_at`."""
    info = EventInfo(
        external_id="6100043", name="Rockies at Diamondbacks", starts_at=starts_at,
        venue="Chase Field", city="Phoenix", timezone="America/Phoenix",
    )  # fmt: skip
    item = SnapshotIn(source="seatgeek", event=info, observed_at=now, min_price=30.0)
    async with sessions() as session, session.begin():
        await store_snapshots(session, [item], now)


async def _told(sessions: Sessions) -> dict[str, tuple[int | None, str, str, datetime]]:
    """The rescheduling messages by address: (alert id, title, body, due)."""
    async with sessions() as session:
        found = await session.scalars(select(Notification))
        return {
            n.address: (n.alert_id, n.payload["title"], n.payload["body"], n.due_at)
            for n in found
            if n.payload.get("event_type") == "event.rescheduled"
            and n.kind == MOVED_KIND
            and n.status == "pending"
        }


async def _moved_rows(sessions: Sessions) -> list[tuple[str, int | None, datetime]]:
    """Every rescheduling message: (address, alert id, due), by address and alert."""
    async with sessions() as session:
        found = await session.scalars(select(Notification).where(Notification.kind == MOVED_KIND))
        return sorted((n.address, n.alert_id, n.due_at.replace(tzinfo=UTC)) for n in found)


async def _moved_lines(sessions: Sessions, alert_id: int) -> list[str]:
    async with sessions() as session:
        found = await session.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.alert_id == alert_id, AuditEntry.kind == "event_moved"
            )
        )
        return list(found)


async def test_a_moved_event_tells_each_person_once_in_their_zone(sessions: Sessions) -> None:
    world = await _world(sessions)
    now = T0 + timedelta(hours=1)
    await _ingest(sessions, MOVED, now)
    await _ingest(sessions, MOVED, now)  # the same batch again
    await _ingest(sessions, MOVED, now + timedelta(minutes=5))  # a newer, same start

    told = await _told(sessions)
    assert set(told) == {"tg-ada", "tg-bob"}
    assert told["tg-ada"][:3] == (
        world.ada[0], TITLE,
        "Now Sat 6 Apr 22:10 EDT (was Sun 31 Mar 16:10 EDT) · Chase Field, Phoenix",
    )  # fmt: skip
    assert told["tg-bob"][:3] == (
        world.bob, TITLE,
        "Now Sat 6 Apr 19:10 MST (was Sun 31 Mar 13:10 MST) · Chase Field, Phoenix",
    )  # fmt: skip
    line = "event moved from Sun 31 Mar 16:10 EDT to Sat 6 Apr 22:10 EDT"
    assert [await _moved_lines(sessions, a) for a in world.ada] == [[line], [line]]
    assert await _moved_lines(sessions, world.cat) == []


async def test_a_move_under_15_minutes_tells_nobody(sessions: Sessions) -> None:
    world = await _world(sessions)
    await _ingest(sessions, STARTS + timedelta(minutes=14), T0 + timedelta(hours=1))

    assert await _told(sessions) == {}
    assert await _moved_lines(sessions, world.ada[0]) == []
    async with sessions() as session:
        event = await session.get(Event, world.event_id)
        assert event is not None
        assert event.starts_at.replace(tzinfo=UTC) == STARTS + timedelta(minutes=14)


async def test_the_message_waits_for_the_end_of_quiet_hours(sessions: Sessions) -> None:
    world = await _world(sessions, quiet=("22:00", "07:00"))  # Bob's, in UTC
    night = datetime(2024, 3, 20, 23, 0, tzinfo=UTC)
    await _ingest(sessions, MOVED, night)

    told = await _told(sessions)
    assert told["tg-bob"][3].replace(tzinfo=UTC) == datetime(2024, 3, 21, 7, 0, tzinfo=UTC)
    assert told["tg-ada"][3].replace(tzinfo=UTC) == night
    (line,) = await _moved_lines(sessions, world.bob)
    assert line.endswith("deferred: quiet hours until Thu 21 Mar 07:00 UTC")


async def test_a_held_message_outlives_a_change_of_the_alert_it_hangs_on(
    sessions: Sessions,
) -> None:
    # Held for Bob's quiet hours, it hangs on his alert; a change of that alert cancels
    # the alert's own pending messages (a new round, an ack, a resolve), not this news.
    world = await _world(sessions, quiet=("22:00", "07:00"))
    await _ingest(sessions, MOVED, datetime(2024, 3, 20, 23, 0, tzinfo=UTC))
    async with sessions() as session, session.begin():
        await cancel_pending(session, [world.bob, *world.ada])

    assert set(await _told(sessions)) == {"tg-ada", "tg-bob"}


async def test_a_move_told_by_a_concurrent_batch_is_not_told_again(sessions: Sessions) -> None:
    """Two transactions that both saw the old start both report the move: one message."""
    world = await _world(sessions)
    async with sessions() as session, session.begin():
        event = await session.get(Event, world.event_id)
        assert event is not None
        info = EventInfo(external_id="6100043", name=event.name, starts_at=MOVED)
        known = KnownEvent(event.id, info)
        move = Move(known.ref(), STARTS)
        assert await tell_moves(session, [move], T0) == 2
    async with sessions() as session, session.begin():
        assert await tell_moves(session, [move], T0) == 0

    assert set(await _told(sessions)) == {"tg-ada", "tg-bob"}
    assert len(await _moved_lines(sessions, world.bob)) == 1


async def test_a_digest_line_shows_the_events_start_now(sessions: Sessions) -> None:
    world = await _world(sessions)
    async with sessions() as session, session.begin():
        session.add(
            Notification(
                alert_id=world.ada[0], user_id=None, kind="digest", channel="telegram",
                address="tg-ada", level=1, score=0.1, idempotency_key="d1",
                status="pending", attempts=0, due_at=T0, created_at=T0,
                payload={"title": "Rockies at Diamondbacks under $40",
                         "data": {"event": {"starts_at": STARTS.isoformat(),
                                            "timezone": "America/Phoenix"}}},
            )
        )  # fmt: skip
    await _ingest(sessions, MOVED, T0 + timedelta(minutes=30))
    async with sessions() as session, session.begin():
        assert await compose_digests(session, T0 + timedelta(hours=1)) == 1
    async with sessions() as session:
        summary = await session.scalar(
            select(Notification).where(Notification.kind == "digest_summary")
        )
    assert summary is not None
    assert summary.payload["body"].endswith("under $40 · Sat 6 Apr 19:10 MST")


async def test_a_sent_move_message_is_not_edited_when_its_alert_resolves(
    sessions: Sessions,
) -> None:
    # The move message hangs on Ada's open alert; resolving that alert edits the alert's
    # own messages, not the news of the move (it would read "Resolved" in its place).
    world = await _world(sessions)
    await _ingest(sessions, MOVED, T0 + timedelta(hours=1))
    async with sessions() as session, session.begin():
        moved = await session.scalar(select(Notification).where(Notification.address == "tg-ada"))
        assert moved is not None and moved.kind == MOVED_KIND
        moved.status, moved.receipt = "sent", {"message_id": "77", "address": "tg-ada"}
    async with sessions() as session, session.begin():
        alert = await session.get(Alert, world.ada[0])
        assert alert is not None
        await resolve(session, alert, "price went up", T0 + timedelta(hours=2))

    async with sessions() as session:
        edits = list(
            await session.scalars(select(Notification).where(Notification.kind == "update"))
        )
    assert [n.payload.get("edit_of") for n in edits] == []


GROUP = "-100777"  # a Telegram group chat


async def _group_world(sessions: Sessions, ada_quiet: tuple[str, str] | None = None) -> World:
    """Ada and Bob both watch the event in the group; Ada also has her own watch on it.
    `World.ada`: her group alert, then her own; `bob`: his group alert."""
    async with sessions() as session, session.begin():
        event = await add_event(session)
        ada = await add_user(session, chats=[("telegram", "tg-ada")], quiet=ada_quiet)
        bob = await add_user(session, name="Bob", chats=[("telegram", "tg-bob")])
        cat = await add_user(session, name="Cat", chats=[("telegram", "tg-cat")])
        return World(
            event.id,
            [await _alert(session, ada, event, "open", group=GROUP),
             await _alert(session, ada, event, "open")],
            await _alert(session, bob, event, "resolved", group=GROUP,
                         reason="bought via telegram"),
            await _alert(session, cat, event, "resolved", group=GROUP, reason="price went up"),
        )  # fmt: skip


async def test_a_group_watchs_alert_is_told_in_the_group_not_in_private(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        event = await add_event(session)
        bob = await add_user(session, name="Bob", chats=[("telegram", "tg-bob")])
        alert_id = await _alert(session, bob, event, "open", group=GROUP)
    now = T0 + timedelta(hours=1)
    await _ingest(sessions, MOVED, now)

    assert await _moved_rows(sessions) == [(GROUP, alert_id, now)]
    told = await _told(sessions)
    assert told[GROUP][1:3] == (
        TITLE,
        "Now Sat 6 Apr 19:10 MST (was Sun 31 Mar 13:10 MST) · Chase Field, Phoenix",
    )
    assert len(await _moved_lines(sessions, alert_id)) == 1


async def test_a_group_hears_of_a_move_once_and_each_person_of_their_own_alerts(
    sessions: Sessions,
) -> None:
    world = await _group_world(sessions)
    now = T0 + timedelta(hours=1)
    await _ingest(sessions, MOVED, now)

    # One message for the group (Ada's and Bob's alerts there), one for Ada's own watch;
    # Bob, whose only alert went to the group, hears nothing in private.
    assert await _moved_rows(sessions) == [
        (GROUP, world.ada[0], now),
        ("tg-ada", world.ada[1], now),
    ]
    line = "event moved from Sun 31 Mar 13:10 MST to Sat 6 Apr 19:10 MST"
    assert [await _moved_lines(sessions, a) for a in (*world.ada, world.bob)] == [[line]] * 3
    assert await _moved_lines(sessions, world.cat) == []


async def test_the_same_move_ingested_again_tells_no_group_twice(sessions: Sessions) -> None:
    world = await _group_world(sessions)
    now = T0 + timedelta(hours=1)
    await _ingest(sessions, MOVED, now)
    await _ingest(sessions, MOVED, now + timedelta(minutes=5))
    assert len(await _moved_rows(sessions)) == 2
    assert len(await _moved_lines(sessions, world.bob)) == 1

    await _ingest(sessions, STARTS, now + timedelta(minutes=10))  # and back: told again
    back = [address for address, _, _ in await _moved_rows(sessions)]
    assert sorted(back) == sorted([GROUP, GROUP, "tg-ada", "tg-ada"])
    assert len(await _moved_lines(sessions, world.bob)) == 2


async def test_a_group_message_waits_for_its_owners_quiet_hours(sessions: Sessions) -> None:
    # A group watch's alert waits for its owner's quiet hours (`plan_delivery` with the
    # watch's destination), and so does the news of the move in that group.
    night = datetime(2024, 3, 20, 23, 0, tzinfo=UTC)
    async with sessions() as session, session.begin():
        event = await add_event(session)
        eve = await add_user(session, name="Eve", chats=[("telegram", "tg-eve")],
                             quiet=("22:00", "07:00"))  # fmt: skip
        alert_id = await _alert(session, eve, event, "open", group=GROUP)
    await _ingest(sessions, MOVED, night)

    morning = datetime(2024, 3, 21, 7, 0, tzinfo=UTC)
    assert await _moved_rows(sessions) == [(GROUP, alert_id, morning)]
    (line,) = await _moved_lines(sessions, alert_id)
    assert line.endswith("deferred: quiet hours until Thu 21 Mar 07:00 UTC")


async def test_a_group_hears_as_soon_as_one_of_its_alerts_owners_may_be_told(
    sessions: Sessions,
) -> None:
    # Ada is asleep, Bob is not: Bob's alert would reach the group now, so does the news.
    night = datetime(2024, 3, 20, 23, 0, tzinfo=UTC)
    world = await _group_world(sessions, ada_quiet=("22:00", "07:00"))
    await _ingest(sessions, MOVED, night)

    morning = datetime(2024, 3, 21, 7, 0, tzinfo=UTC)
    assert await _moved_rows(sessions) == [
        (GROUP, world.bob, night),
        ("tg-ada", world.ada[1], morning),
    ]
    line = "event moved from Sun 31 Mar 13:10 MST to Sat 6 Apr 19:10 MST"
    assert await _moved_lines(sessions, world.ada[0]) == [line]  # the group's: not deferred
