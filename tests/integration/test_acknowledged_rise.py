"""Acknowledging means "stop escalating", not "never tell me again": an acknowledged alert
that rises to critical is told once, by message only, and stays acknowledged."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerts import apply_action
from core.clock import FakeClock
from core.domain import ActionKind
from core.escalation_audit import audit_escalations
from core.metrics import RecordingMetrics
from core.pipeline import AlertEngine
from core.policy import is_stopped
from tests.fakes.channels import FakeChannel
from tests.integration.engine_helpers import (
    T0,
    Seed,
    add_event,
    add_user,
    add_watch,
    alerts_of,
    fresh_engine,
    minutes,
    notifications_of,
    process_snapshot,
)
from tests.integration.escalation_helpers import (
    add_phone,
    reload,
    run_until,
    sends,
    service,
    timeline,
)
from tests.integration.test_delivery_lifecycle import drain, in_flight_then, worker
from tests.integration.test_lifecycle_ends import HIGH_PRICE, PRICE_ONLY

Sessions = async_sessionmaker[AsyncSession]
CRITICAL_PRICE, MEDIUM_PRICE = 10.0, 38.0  # under the $40 max, with PRICE_ONLY weights
WITHOUT_ACK = ["Snooze 1h", "Snooze until cheaper", "Mute event", "Bought"]


async def _acknowledged(
    sessions: Sessions, price: float, level: int
) -> tuple[Seed, int, AlertEngine]:
    """An alert opened at `price` (`level`) and acknowledged, for a person with two chats,
    a phone and an emergency contact (so an escalation would have somewhere to go)."""
    async with sessions() as session, session.begin():
        user = await add_user(session, chats=(("telegram", "tg-100"), ("console", "con-1")))
        event = await add_event(session)
        seed = Seed(user, event, await add_watch(session, user, event))
        await add_phone(session, user.id, at=T0)
        await add_phone(session, user.id, emergency=True, at=T0, name="Sam")
    engine = await fresh_engine(sessions, config=PRICE_ONLY)
    await process_snapshot(sessions, engine, seed, T0, price)
    async with sessions() as session, session.begin():
        (alert,) = await alerts_of(session)
        assert alert.level == level
        await apply_action(
            session, alert.id, ActionKind.ACK, user_id=user.id, via="telegram",
            now=T0 + minutes(1),
        )  # fmt: skip
    return seed, alert.id, engine


async def _updates(sessions: Sessions, alert_id: int) -> list[str]:
    """The alert's "alert.updated" messages as "channel:kind"."""
    async with sessions() as session:
        notes = await notifications_of(session, alert_id)
    return [f"{n.channel}:{n.kind}" for n in notes if n.payload["event_type"] == "alert.updated"]


async def test_a_rise_to_critical_is_told_once_by_message_without_escalating(
    sessions: Sessions,
) -> None:
    seed, alert_id, engine = await _acknowledged(sessions, HIGH_PRICE, 4)
    await process_snapshot(sessions, engine, seed, T0 + minutes(2), CRITICAL_PRICE)

    alert = await reload(sessions, alert_id)
    assert (alert.status, alert.level) == ("acknowledged", 5)
    assert alert.next_step_at is None and is_stopped(alert.escalation)
    assert alert.escalation is not None and alert.escalation["level"] == 5  # told critical
    assert await _updates(sessions, alert_id) == ["telegram:update", "console:update"]
    async with sessions() as session:
        update = [n for n in await notifications_of(session, alert_id) if n.channel == "console"][
            -1
        ]
    # It leads with the level: the acknowledgement is the person's own, not news.
    assert update.payload["title"].startswith("🚨 Rockies at Diamondbacks")
    assert update.payload["body"].startswith(
        "You acknowledged this alert; it has become critical since.\nCritical priority"
    )
    notified = "notified: level rose to critical since you acknowledged it"
    assert notified in await timeline(sessions, alert_id)
    # Delivered, not withdrawn as a message announcing an alert no longer open.
    clock = FakeClock(T0 + minutes(2))
    chats = {"telegram": FakeChannel("telegram"), "console": FakeChannel("console")}
    await drain(worker(sessions, clock, chats), clock, 0, 1)
    assert [m.title for m in chats["console"].sent] == [update.payload["title"]]
    assert len(chats["telegram"].sent) == 1
    # Every button but Acknowledge, which could only answer that it already is.
    for sent in (chats["console"].sent[0], chats["telegram"].sent[0]):
        assert [b.label for b in sent.buttons] == WITHOUT_ACK

    # Half an hour of the ticker and the minutely auditor: no SMS, call or emergency text.
    svc = service(sessions, clock)
    for _ in range(30):
        async with sessions() as session, session.begin():
            report = await audit_escalations(session, clock.now(), RecordingMetrics())
        assert (report.stuck, report.retried) == (0, 0)
        await run_until(svc, clock, 60, step=10)
    assert await sends(sessions, alert_id) == []

    # Told once: staying critical (even a lower price) is silent from now on.
    result = await process_snapshot(sessions, engine, seed, T0 + minutes(40), CRITICAL_PRICE - 1)
    assert result.notifications == 0
    assert len(await _updates(sessions, alert_id)) == 2
    assert (await reload(sessions, alert_id)).status == "acknowledged"


async def test_a_rise_below_critical_stays_silent_once_acknowledged(sessions: Sessions) -> None:
    seed, alert_id, engine = await _acknowledged(sessions, MEDIUM_PRICE, 3)
    result = await process_snapshot(sessions, engine, seed, T0 + minutes(2), 35.0)  # -> high
    assert result.notifications == 0
    alert = await reload(sessions, alert_id)
    assert (alert.status, alert.level, alert.next_step_at) == ("acknowledged", 4, None)
    assert await _updates(sessions, alert_id) == []


async def test_a_resolve_while_the_critical_message_is_sent_edits_it_afterwards(
    sessions: Sessions,
) -> None:
    """Bought while the message is on its way to Telegram: `announce` cannot edit what is
    not sent yet, so delivery edits it once sent, as it edits a new alert's message."""
    seed, alert_id, engine = await _acknowledged(sessions, HIGH_PRICE, 4)
    await process_snapshot(sessions, engine, seed, T0 + minutes(2), CRITICAL_PRICE)
    clock = FakeClock(T0 + minutes(2))
    telegram = FakeChannel("telegram", gate=asyncio.Event())
    chats = {"telegram": telegram, "console": FakeChannel("console")}
    service = worker(sessions, clock, chats)
    alert = await reload(sessions, alert_id)
    await in_flight_then(sessions, service, telegram, alert, ActionKind.BOUGHT, clock.now(), None)
    await drain(service, clock, 30, step=5)

    first, edit = telegram.sent
    assert first.title.startswith("🚨") and first.edit_of is None
    assert edit.edit_of is not None and edit.edit_of.message_id == "telegram-1"
    assert edit.payload["event_type"] == "alert.resolved" and edit.buttons == ()
    assert (await reload(sessions, alert_id)).status == "resolved"


async def test_the_critical_message_sent_while_still_acknowledged_is_not_edited(
    sessions: Sessions,
) -> None:
    seed, _, engine = await _acknowledged(sessions, HIGH_PRICE, 4)
    await process_snapshot(sessions, engine, seed, T0 + minutes(2), CRITICAL_PRICE)
    clock = FakeClock(T0 + minutes(2))
    chats = {"telegram": FakeChannel("telegram"), "console": FakeChannel("console")}
    await drain(worker(sessions, clock, chats), clock, 30, step=5)
    assert [len(chats[c].sent) for c in chats] == [1, 1]
