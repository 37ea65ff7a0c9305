"""Delivery against the alert lifecycle, on SQLite and PostgreSQL.

Nothing that announces an alert as open is sent, retried, parked or failed over once the
alert is acknowledged, snoozed or resolved; a message sent while that change commits is
edited afterwards; retries respect quiet hours; webhook events keep their order.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from core.alerts import apply_action, resolve
from core.clock import FakeClock
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Alert, AuditEntry, Event, Notification, User, Watch, WebhookEndpoint
from core.delivery import DeliveryService
from core.domain import ActionKind, EventInfo
from core.errors import PermanentDeliveryError, RetryableDeliveryError
from core.ingest.events import upsert_events
from core.outbox import claim, next_due_at
from core.reschedule import MOVED_KIND
from tests.fakes.channels import FakeChannel
from tests.integration.engine_helpers import (
    STARTS,
    T0,
    Seed,
    Sessions,
    add_event,
    add_user,
    add_watch,
    add_webhook,
    fresh_engine,
    process_snapshot,
)
from tests.integration.test_delivery import service

# --- helpers ------------------------------------------------------------------------


def worker(
    sessions: Sessions,
    clock: FakeClock,
    channels: dict[str, FakeChannel],
    *,
    attempts: int = 3,
    name: str = "w1",
    batch_size: int = 200,
) -> DeliveryService:
    """`test_delivery.service` with one attempts count for every level."""
    return service(
        sessions, clock, channels, attempts=[attempts] * 5, worker=name, batch_size=batch_size
    )


async def drain(service: DeliveryService, clock: FakeClock, seconds: float, step: float) -> None:
    """Deliver what is due, then advance the clock by `step` and again, for `seconds`."""
    await service.deliver_batch()
    for _ in range(int(seconds / step)):
        clock.advance(step)
        await service.deliver_batch()


async def seeded(
    sessions: Sessions,
    *,
    chats: tuple[tuple[str, str], ...] = (("telegram", "tg-100"),),
    quiet: tuple[str, str] | None = None,
    webhook: bool = False,
    at: datetime = T0,
    level: int = 3,
) -> Alert:
    """A person, a watch and one open alert with its messages queued by the engine (level 3
    far from the event, 4 on its day)."""
    async with sessions() as session, session.begin():
        user = await add_user(session, chats=chats, quiet=quiet)
        event = await add_event(session)
        watch = await add_watch(session, user, event)
        if webhook:
            await add_webhook(session, user, ["*"])
    engine = await fresh_engine(sessions)
    await process_snapshot(sessions, engine, Seed(user, event, watch), at, 30.0)
    async with sessions() as session:
        (alert,) = (await session.execute(select(Alert))).scalars()
    assert alert.level == level
    return alert


async def bare_alerts(
    sessions: Sessions, at: datetime, *, count: int = 1, level: int = 3, **person: Any
) -> tuple[int, list[int]]:
    """A person (`person`: User columns) and `count` open alerts of one watch, no messages."""
    async with sessions() as session, session.begin():
        user = User(display_name="Ada", **person)
        event = Event(source="s", external_id="1", name="Rockies at Diamondbacks", starts_at=at)
        session.add_all([user, event])
        await session.flush()
        watch = Watch(user_id=user.id, label="rockies", event_id=event.id)
        session.add(watch)
        await session.flush()
        alerts = [
            Alert(
                dedup_key=f"{watch.id}:{event.id}:k{i}", watch_id=watch.id, user_id=user.id,
                event_id=event.id, kind="price_below", score=0.5, level=level, opened_at=at,
                updated_at=at,
            )
            for i in range(count)
        ]  # fmt: skip
        session.add_all(alerts)
        await session.flush()
        return user.id, [a.id for a in alerts]


async def rows(sessions: Sessions) -> list[Notification]:
    async with sessions() as session:
        return list(
            (await session.execute(select(Notification).order_by(Notification.id))).scalars()
        )


async def timeline(sessions: Sessions, alert_id: int) -> list[tuple[str, str]]:
    async with sessions() as session:
        found = await session.execute(
            select(AuditEntry.kind, AuditEntry.detail)
            .where(AuditEntry.alert_id == alert_id)
            .order_by(AuditEntry.id)
        )
        return [(kind, detail) for kind, detail in found]


async def act(sessions: Sessions, alert: Alert, action: ActionKind, now: datetime) -> None:
    async with sessions() as session, session.begin():
        await apply_action(session, alert.id, action, user_id=alert.user_id, via="api", now=now)


async def in_flight_then(
    sessions: Sessions,
    service: DeliveryService,
    channel: FakeChannel,
    alert: Alert,
    action: ActionKind,
    now: datetime,
    error: BaseException | None,
) -> None:
    """Deliver a batch whose send to `channel` is held open while `action` commits, then
    let the send end with `error` (None: it succeeds)."""
    assert channel.gate is not None
    task = asyncio.create_task(service.deliver_batch())
    for _ in range(1000):
        if channel.started:
            break
        await asyncio.sleep(0.01)
    assert channel.started, "the send never started"
    await act(sessions, alert, action, now)
    if error is not None:
        channel.script(error)
    channel.gate.set()
    await asyncio.wait_for(task, 30)


# --- nothing announces a closed alert -----------------------------------------------


@pytest.mark.parametrize("action", [ActionKind.ACK, ActionKind.SNOOZE, ActionKind.BOUGHT])
@pytest.mark.parametrize("attempts", [3, 1], ids=["retry", "exhausted"])
async def test_a_send_failing_after_the_alert_closed_is_cancelled_not_retried(
    sessions: Sessions, action: ActionKind, attempts: int
) -> None:
    """The person acts while the alert's message is on its way; the send then fails
    retryably (attempts left, or none: it would be parked). It is never sent again."""
    alert = await seeded(sessions)
    clock = FakeClock(T0)
    telegram = FakeChannel("telegram", gate=asyncio.Event())
    service = worker(sessions, clock, {"telegram": telegram}, attempts=attempts)

    await in_flight_then(
        sessions, service, telegram, alert, action, clock.now(), RetryableDeliveryError("503")
    )
    await drain(service, clock, 300, step=5)

    assert telegram.sent == []
    (row,) = await rows(sessions)
    assert (row.kind, row.status) == ("alert", "cancelled")
    assert row.last_error is not None and row.last_error.startswith("alert ")
    kinds = [kind for kind, _ in await timeline(sessions, alert.id)]
    assert kinds[-1] == "delivery_cancelled"
    assert not {"delivery_retry", "delivery_parked", "failover"} & set(kinds)


async def test_a_permanent_failure_after_bought_does_not_fail_over(sessions: Sessions) -> None:
    alert = await seeded(sessions, chats=(("telegram", "tg-100"), ("console", "con-1")))
    clock = FakeClock(T0)
    telegram = FakeChannel("telegram", gate=asyncio.Event())
    console = FakeChannel("console")
    service = worker(sessions, clock, {"telegram": telegram, "console": console})

    await in_flight_then(
        sessions,
        service,
        telegram,
        alert,
        ActionKind.BOUGHT,
        clock.now(),
        PermanentDeliveryError("400 chat not found"),
    )
    await drain(service, clock, 30, step=1)

    assert console.calls == []
    assert [(r.kind, r.channel, r.status) for r in await rows(sessions)] == [
        ("alert", "telegram", "failed")
    ]
    entries = await timeline(sessions, alert.id)
    assert ("failover", "telegram failed; not failing over: alert resolved") in entries


async def test_claimed_messages_of_a_closed_alert_are_withdrawn_but_its_news_is_sent(
    sessions: Sessions,
) -> None:
    """Rows that came back to pending after the ack (a release at shutdown, a lease that
    expired) are cancelled when claimed: the alert message and an escalation step; the
    edit announcing the ack and the webhook events are sent."""
    alert = await seeded(sessions, webhook=True)
    clock = FakeClock(T0)
    now = clock.now()
    async with sessions() as session, session.begin():
        # As if both were being sent when the ack committed, and then were released.
        session.add(
            Notification(
                alert_id=alert.id,
                user_id=alert.user_id,
                kind="escalation",
                channel="telegram",
                address="tg-100",
                level=3,
                payload={"event_type": "alert.escalated", "title": "t", "body": "b"},
                idempotency_key="esc-step-1",
                status="sending",
                claimed_by="gone",
                due_at=now,
                created_at=now,
            )
        )
        await session.execute(
            update(Notification)
            .where(Notification.kind == "alert", Notification.channel == "telegram")
            .values(status="sending", claimed_by="gone")
        )
    await act(sessions, alert, ActionKind.ACK, now)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Notification)
            .where(Notification.claimed_by == "gone")
            .values(status="pending", claimed_by=None)
        )
    telegram, hook = FakeChannel("telegram"), FakeChannel("webhook")
    service = worker(sessions, clock, {"telegram": telegram, "webhook": hook})

    await drain(service, clock, 10, step=1)

    assert telegram.sent == []  # the message was never sent: nothing to edit
    assert [m.payload["event_type"] for m in hook.sent] == [
        "alert.triggered",
        "alert.acknowledged",
    ]
    status = {(r.kind, r.channel): r.status for r in await rows(sessions)}
    assert status == {
        ("alert", "telegram"): "cancelled",
        ("escalation", "telegram"): "cancelled",
        ("alert", "webhook"): "sent",
        ("update", "webhook"): "sent",
    }
    kinds = [kind for kind, _ in await timeline(sessions, alert.id)]
    assert kinds.count("delivery_cancelled") == 2


# --- a send that raced the change is edited ------------------------------------------


async def test_a_message_sent_while_the_ack_commits_is_edited_afterwards(
    sessions: Sessions,
) -> None:
    alert = await seeded(sessions)
    clock = FakeClock(T0)
    telegram = FakeChannel("telegram", gate=asyncio.Event())
    service = worker(sessions, clock, {"telegram": telegram})

    await in_flight_then(sessions, service, telegram, alert, ActionKind.ACK, clock.now(), None)
    await drain(service, clock, 30, step=5)

    first, edit = telegram.sent
    assert first.buttons and first.edit_of is None
    assert edit.edit_of is not None and edit.edit_of.message_id == "telegram-1"
    assert edit.payload["event_type"] == "alert.acknowledged"
    assert "Acknowledged via api" in edit.body and edit.buttons == ()
    # The key `announce` would have used: an ack seeing the message sent queues no other.
    assert edit.idempotency_key == f"a{alert.id}:alert.acknowledged:telegram:tg-100:1:e1"


async def test_a_message_sent_before_the_ack_is_edited_once(sessions: Sessions) -> None:
    alert = await seeded(sessions)
    clock = FakeClock(T0)
    telegram = FakeChannel("telegram")
    service = worker(sessions, clock, {"telegram": telegram})
    await service.deliver_batch()
    await act(sessions, alert, ActionKind.ACK, clock.now())
    await drain(service, clock, 30, step=5)

    assert [m.payload["event_type"] for m in telegram.sent] == [
        "alert.triggered",
        "alert.acknowledged",
    ]


# --- quiet hours and parking -----------------------------------------------------------


async def test_a_parked_message_waits_for_the_end_of_quiet_hours(sessions: Sessions) -> None:
    """Level 3 at 21:00 UTC, quiet 22:00-07:00, Telegram down until 23:30: the message is
    parked (said once), held through the night and sent at 07:00."""
    evening = datetime(2024, 3, 20, 21, 0, tzinfo=UTC)
    alert = await seeded(sessions, quiet=("22:00", "07:00"), at=evening)
    clock = FakeClock(evening)
    telegram = FakeChannel("telegram")
    telegram.fail_always(RetryableDeliveryError("502"), count=10_000)
    service = worker(sessions, clock, {"telegram": telegram})

    await drain(service, clock, 150 * 60, step=30)  # to 23:30
    telegram = service.channels["telegram"] = FakeChannel("telegram")  # back
    await drain(service, clock, 30 * 60, step=30)
    assert telegram.calls == []
    (row,) = await rows(sessions)
    assert row.status == "pending"
    assert row.due_at == datetime(2024, 3, 21, 7, 0, tzinfo=UTC)

    clock.set(row.due_at)
    await service.deliver_batch()
    assert len(telegram.sent) == 1
    assert telegram.sent[0].body.startswith("⏳ Sent 10 h late")
    kinds = [kind for kind, _ in await timeline(sessions, alert.id)]
    assert kinds.count("delivery_parked") == 1
    assert kinds[-1] == "sent"


@pytest.mark.parametrize(
    ("kind", "level", "held"),
    [("alert", 3, True), ("escalation", 4, True), ("alert", 5, False), ("update", 3, False)],
)
async def test_a_retry_inside_quiet_hours_is_held_for_the_levels_quiet_hours_hold(
    sessions: Sessions, kind: str, level: int, held: bool
) -> None:
    """Critical messages are never held, nor edits (which do not notify)."""
    night = datetime(2024, 3, 20, 23, 0, tzinfo=UTC)
    user_id, (alert_id,) = await bare_alerts(
        sessions, night, level=level, quiet_start="22:00", quiet_end="07:00"
    )
    async with sessions() as session, session.begin():
        session.add(
            Notification(
                alert_id=alert_id, user_id=user_id, kind=kind, channel="telegram",
                address="tg-1", level=level, payload={"event_type": "x", "title": "t"},
                idempotency_key="n1", status="pending", due_at=night, created_at=night,
            )
        )  # fmt: skip
    clock = FakeClock(night)
    telegram = FakeChannel("telegram")
    telegram.script(RetryableDeliveryError("502"))
    await worker(sessions, clock, {"telegram": telegram}).deliver_batch()

    (row,) = await rows(sessions)
    morning = datetime(2024, 3, 21, 7, 0, tzinfo=UTC)
    assert row.status == "pending"
    if held:
        assert row.due_at == morning
    else:
        assert row.due_at < night + timedelta(minutes=1)


async def reschedule(sessions: Sessions, starts_at: datetime, now: datetime) -> None:
    """Store a newer description of the seeded event (`add_event`) that moves its start,
    then drop the message telling the person of the move (`core.reschedule`): these
    tests watch the alert's own message alone."""
    key = ("seatgeek", "6100043")
    info = EventInfo(external_id=key[1], name="Rockies at Diamondbacks", starts_at=starts_at)
    async with sessions() as session, session.begin():
        await upsert_events(session, {key: info}, now)
        await session.execute(delete(Notification).where(Notification.kind == MOVED_KIND))


async def parked_until(sessions: Sessions, alert_id: int) -> list[str]:
    async with sessions() as session:
        found = await session.execute(
            select(AuditEntry.data).where(
                AuditEntry.alert_id == alert_id, AuditEntry.kind == "delivery_parked"
            )
        )
        return [data["until"] for data in found.scalars()]


async def test_a_parked_message_waits_for_its_rescheduled_event(sessions: Sessions) -> None:
    """Written 2 h before the event, which then moves 6 h later; Telegram is down past the
    start the message was written with: the message waits for the new start, not the old."""
    written = STARTS - timedelta(hours=2)
    alert = await seeded(sessions, at=written, level=4)
    later = STARTS + timedelta(hours=6)
    await reschedule(sessions, later, written)
    clock = FakeClock(written)
    telegram = FakeChannel("telegram")
    telegram.fail_always(RetryableDeliveryError("502"), count=10_000)
    service = worker(sessions, clock, {"telegram": telegram})

    await drain(service, clock, 3 * 3600, step=60)  # to an hour after the old start
    (row,) = await rows(sessions)
    assert row.status == "pending"
    assert await parked_until(sessions, alert.id) == [later.isoformat()]

    telegram = service.channels["telegram"] = FakeChannel("telegram")  # back
    clock.set(row.due_at)
    await service.deliver_batch()
    assert telegram.keys == [row.idempotency_key]


async def test_a_parked_message_gives_up_when_its_event_moved_earlier_starts(
    sessions: Sessions,
) -> None:
    """Written 6 h before the event, which then moves to an hour after the message was
    written; Telegram stays down: the message is given up at the new start."""
    written = STARTS - timedelta(hours=6)
    alert = await seeded(sessions, at=written, level=4)
    earlier = written + timedelta(hours=1)
    await reschedule(sessions, earlier, written)
    clock = FakeClock(written)
    telegram = FakeChannel("telegram")
    telegram.fail_always(RetryableDeliveryError("502"), count=10_000)
    service = worker(sessions, clock, {"telegram": telegram})

    await drain(service, clock, 90 * 60, step=60)
    (row,) = await rows(sessions)
    assert row.status == "dead"
    assert await parked_until(sessions, alert.id) == [earlier.isoformat()]
    kinds = [kind for kind, _ in await timeline(sessions, alert.id)]
    assert kinds.count("delivery_dead") == 1


# --- webhook events keep their order -------------------------------------------------


def webhook_event(alert_id: int, endpoint_id: int, event_type: str, due: datetime) -> Notification:
    return Notification(
        alert_id=alert_id, webhook_endpoint_id=endpoint_id, kind="alert", channel="webhook",
        address="https://hooks.example/o", level=3,
        payload={"event_type": event_type, "data": {"alert": {"id": alert_id}}},
        idempotency_key=f"a{alert_id}:{event_type}", status="pending", due_at=due, created_at=T0,
    )  # fmt: skip


async def test_a_webhook_event_is_not_due_while_an_older_one_of_its_alert_waits(
    sessions: Sessions,
) -> None:
    """Claim and the idle wait both skip it: alert.resolved behind a retrying triggered."""
    _, (first, other) = await bare_alerts(sessions, T0, count=2)
    retry_at = T0 + timedelta(seconds=30)
    async with sessions() as session, session.begin():
        endpoint = WebhookEndpoint(url="https://hooks.example/o", secrets=["s"])
        session.add(endpoint)
        await session.flush()
        session.add_all(
            [
                webhook_event(first, endpoint.id, "alert.triggered", retry_at),
                webhook_event(first, endpoint.id, "alert.resolved", T0),
                webhook_event(other, endpoint.id, "alert.resolved", T0),  # nothing before it
            ]
        )
    async with sessions() as session, session.begin():
        claimed = await claim(session, "w1", T0, 10, 30.0)
        assert [r.idempotency_key for r in claimed] == [f"a{other}:alert.resolved"]
        assert await next_due_at(session) == retry_at  # not the held row's (past) due time
    async with sessions() as session, session.begin():
        claimed = await claim(session, "w1", retry_at, 10, 30.0)
        assert [r.idempotency_key for r in claimed] == [f"a{first}:alert.triggered"]
        await session.execute(
            update(Notification).where(Notification.id == claimed[0].id).values(status="sent")
        )
    async with sessions() as session, session.begin():
        claimed = await claim(session, "w1", retry_at, 10, 30.0)
        assert [r.idempotency_key for r in claimed] == [f"a{first}:alert.resolved"]


async def test_webhook_resolved_waits_for_a_retried_triggered(sessions: Sessions) -> None:
    alert = await seeded(sessions, webhook=True)
    clock = FakeClock(T0)
    hook = FakeChannel("webhook")
    hook.script(RetryableDeliveryError("503"))  # the first try of alert.triggered
    service = worker(sessions, clock, {"webhook": hook, "telegram": FakeChannel("telegram")})
    await service.deliver_batch()
    async with sessions() as session, session.begin():
        row = await session.get(Alert, alert.id)
        assert row is not None
        await resolve(session, row, "price back above your max $40", clock.now())

    await service.deliver_batch()  # alert.resolved is due, but waits
    assert hook.sent == []
    await drain(service, clock, 120, step=1)

    assert [m.payload["event_type"] for m in hook.sent] == ["alert.triggered", "alert.resolved"]


async def test_webhook_events_keep_their_order_with_several_workers(postgres_url: str) -> None:
    """Per alert, alert.triggered then alert.resolved to one endpoint, both due at once;
    the first tries fail. Three workers on their own connections claim with SKIP LOCKED."""
    engines = [make_engine(postgres_url) for _ in range(3)]
    try:
        makers = [make_sessionmaker(engine) for engine in engines]
        clock = FakeClock(T0)
        alerts = 40
        _, ids = await bare_alerts(makers[0], T0, count=alerts)
        async with makers[0]() as session, session.begin():
            endpoint = WebhookEndpoint(url="https://hooks.example/o", secrets=["s"])
            session.add(endpoint)
            await session.flush()
            for event_type in ("alert.triggered", "alert.resolved"):
                session.add_all(webhook_event(i, endpoint.id, event_type, T0) for i in ids)
                await session.flush()
        hook = FakeChannel("webhook", delay_s=0.001)
        hook.fail_always(RetryableDeliveryError("503"), count=alerts // 2)
        workers = [
            worker(maker, clock, {"webhook": hook}, name=f"w{n}", batch_size=7)
            for n, maker in enumerate(makers)
        ]
        for _ in range(200):
            if len(hook.sent) == 2 * alerts:
                break
            await asyncio.wait_for(asyncio.gather(*(w.deliver_batch() for w in workers)), 30)
            clock.advance(1)
        order: dict[Any, list[str]] = {}
        for message in hook.sent:
            alert_id = message.payload["data"]["alert"]["id"]
            order.setdefault(alert_id, []).append(message.payload["event_type"])
        assert len(order) == alerts
        assert all(seen == ["alert.triggered", "alert.resolved"] for seen in order.values())
    finally:
        for engine in engines:
            await engine.dispose()
