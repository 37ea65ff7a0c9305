"""FakeClock scenarios: every row of the default policy table, fencing, ack ends the chain."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.alerts import apply_action
from core.clock import FakeClock
from core.db.models import User
from core.domain import ActionKind, Level
from tests.integration.escalation_helpers import reload, seed_alert, sends, service, timeline


async def _at(svc, clock: FakeClock, start, seconds: int) -> None:  # type: ignore[no-untyped-def]
    clock.set(start)
    clock.advance(seconds)
    await svc.tick()


async def test_critical_row_sms_voice_contacts_repeat_call(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL)
    svc = service(sessions, clock)
    await _at(svc, clock, t0, 119)
    assert await sends(sessions, alert.id) == []
    await _at(svc, clock, t0, 120)
    first = await sends(sessions, alert.id)
    assert len(first) == 1 and first[0].startswith("sms:cp")
    phone = first[0].removeprefix("sms:")
    await _at(svc, clock, t0, 299)
    assert len(await sends(sessions, alert.id)) == 1
    await _at(svc, clock, t0, 300)
    assert (await sends(sessions, alert.id))[-1] == f"voice:{phone}"
    await _at(svc, clock, t0, 900)
    contact = (await sends(sessions, alert.id))[-1]
    assert contact.startswith("sms:cp") and contact != f"sms:{phone}"
    await _at(svc, clock, t0, 1200)
    assert (await sends(sessions, alert.id))[-1] == f"voice:{phone}"
    done = await reload(sessions, alert.id)
    assert done.step == 4 and done.next_step_at is None
    await _at(svc, clock, t0, 5000)
    assert len(await sends(sessions, alert.id)) == 4
    assert (
        sum(1 for line in await timeline(sessions, alert.id) if line.startswith("escalated")) == 4
    )


async def test_emergency_payload_carries_only_event_price_and_name(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    t0 = clock.now()
    alert = await seed_alert(
        sessions,
        t0,
        Level.CRITICAL,
        overrides={
            "5": [
                {"after_s": 0, "target": "all_chats"},
                {"after_s": 60, "target": "emergency_contacts"},
            ]
        },
    )
    svc = service(sessions, clock)
    await _at(svc, clock, t0, 60)
    from tests.integration.escalation_helpers import step_rows

    (row,) = await step_rows(sessions, alert.id)
    async with sessions() as session:
        n = (await session.get(User, alert.user_id)).display_name.removeprefix("Ada ")  # type: ignore[union-attr]
    assert row.payload["data"] == {
        "emergency": {"person": f"Ada {n}", "event": "Rockies at Diamondbacks", "price": 28.0}
    }
    assert row.payload["buttons"] == []
    assert f"Ada {n}" in row.payload["title"] and "$28" in row.payload["title"]


async def test_high_row_other_chats_then_sms(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.HIGH)
    svc = service(sessions, clock)
    await _at(svc, clock, t0, 299)
    assert await sends(sessions, alert.id) == []
    await _at(svc, clock, t0, 300)
    assert await sends(sessions, alert.id) == ["console:con-1"]  # the chat not preferred
    await _at(svc, clock, t0, 900)
    last = (await sends(sessions, alert.id))[-1]
    assert last.startswith("sms:cp")
    assert (await reload(sessions, alert.id)).next_step_at is None


async def test_medium_normal_low_rows_have_no_later_step(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    t0 = clock.now()
    ids = [(await seed_alert(sessions, t0, level)).id for level in
           (Level.MEDIUM, Level.NORMAL, Level.LOW)]  # fmt: skip
    svc = service(sessions, clock)
    for seconds in (60, 900, 3600, 86400):
        await _at(svc, clock, t0, seconds)
    for alert_id in ids:
        assert await sends(sessions, alert_id) == []
        assert (await reload(sessions, alert_id)).next_step_at is None


async def _act(sessions, alert, action: ActionKind, via: str, now) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as session, session.begin():
        await apply_action(session, alert.id, action, user_id=alert.user_id, via=via, now=now)


async def test_each_action_at_each_step_ends_the_chain(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    t0 = clock.now()
    checkpoints = (0, 120, 300, 900)
    actions = (ActionKind.ACK, ActionKind.SNOOZE, ActionKind.MUTE, ActionKind.BOUGHT)
    for action in actions:
        for at in checkpoints:
            alert = await seed_alert(sessions, t0, Level.CRITICAL)
            svc = service(sessions, clock)
            await _at(svc, clock, t0, at)
            before = await sends(sessions, alert.id)
            await _act(sessions, alert, action, "sms", clock.now())
            for later in (at + 120, at + 300, 900, 1200, 4000):
                await _at(svc, clock, t0, later)
            assert await sends(sessions, alert.id) == before, (action, at)
            assert (await reload(sessions, alert.id)).next_step_at is None


async def test_ack_cancels_a_pending_sms_of_the_step(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL)
    svc = service(sessions, clock)
    await _at(svc, clock, t0, 120)
    await _act(sessions, alert, ActionKind.ACK, "voice", clock.now())
    from tests.integration.escalation_helpers import step_rows

    (row,) = await step_rows(sessions, alert.id)
    assert row.status == "cancelled"
    assert any(line.startswith("acknowledged") for line in await timeline(sessions, alert.id))


async def test_duplicate_and_racing_ticks_fire_a_step_once(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL)
    first, second = service(sessions, clock), service(sessions, clock)
    clock.advance(120)
    await asyncio.gather(first.tick(), second.tick())
    await first.tick()
    assert len(await sends(sessions, alert.id)) == 1


async def test_restart_between_steps_resumes_at_the_right_step(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL)
    await _at(service(sessions, clock), clock, t0, 130)
    # The process dies; a new one starts 4 minutes later (the voice step is overdue).
    restarted = service(sessions, clock)
    await _at(restarted, clock, t0, 370)
    await _at(restarted, clock, t0, 371)
    rows = await sends(sessions, alert.id)
    assert [r.split(":")[0] for r in rows] == ["sms", "voice"]
    assert (await reload(sessions, alert.id)).step == 2


async def test_stale_timer_after_ack_is_a_no_op(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL)
    svc = service(sessions, clock)
    clock.advance(120)
    from core.escalation_load import due_alerts

    async with sessions() as session:
        due = await due_alerts(session, clock.now(), 10)  # a timer read before the ack...
    await _act(sessions, alert, ActionKind.ACK, "telegram", clock.now())
    async with sessions() as session, session.begin():
        from core.escalation_load import load_context

        ctx = await load_context(session, due, clock.now(), 300)
        report = await svc._steps(session, due, ctx, clock.now())  # ...fires after it
    assert report.stale == 1 and report.fired == 0
    assert await sends(sessions, alert.id) == []


async def test_escalation_texts_name_the_price_in_the_events_currency(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """An event listed in pounds: the SMS and the emergency contact's text say £28."""
    from core.db.models import MarketSnapshot
    from tests.integration.escalation_helpers import step_rows

    t0 = clock.now()
    alert = await seed_alert(sessions, t0, Level.CRITICAL)
    async with sessions() as session, session.begin():
        session.add(
            MarketSnapshot(
                event_id=alert.event_id, source="feed", observed_at=t0, currency="GBP",
                min_price=28.0,
            )
        )  # fmt: skip
    svc = service(sessions, clock)
    for seconds in (120, 300, 900):
        await _at(svc, clock, t0, seconds)
    rows = await step_rows(sessions, alert.id)
    assert {r.channel for r in rows} >= {"sms", "voice"}
    titles = [r.payload["title"] for r in rows]
    assert all("£28" in t and "$" not in t for t in titles), titles
    assert any(t.startswith("Ada") and "asked us to reach you" in t for t in titles)
