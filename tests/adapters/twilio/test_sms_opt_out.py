"""The carrier's STOP: texts say MUTE, and a phone that opted out gets no SMS steps.

On Twilio, STOP (and STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, ...) opts the number out of
every text from ours until it replies START, UNSTOP or YES; a send to it fails with
error 21610. So the reply hint offers MUTE for "stop alerts for this event", a STOP
still mutes but also marks the phone as refusing texts, a 21610 at send time marks it
too, and escalation then reaches the person's chats instead of texting. Calls still ring.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from core.db.models import AuditEntry, ContactPoint
from core.domain import Level
from tests.adapters.twilio.test_twilio import NUMBER, World, _verified_alert
from tests.integration.escalation_helpers import (
    add_alert_for,
    add_phone,
    reload,
    run_until,
    service,
    step_rows,
    timeline,
)


async def _opted_out_at(w: World) -> datetime | None:
    async with w.sessions() as session:
        return await session.scalar(
            select(ContactPoint.sms_opted_out_at).where(ContactPoint.is_emergency.is_(False))
        )


async def _texted_and_replied(w: World, reply: str) -> tuple[int, str, str]:
    """A critical alert texts the phone, which answers `reply`: (alert id, hint, answer)."""
    alert = await _verified_alert(w, Level.CRITICAL)
    w.clock.advance(120)
    await service(w.sessions, w.clock).tick()
    await w.worker().deliver_batch()
    (sms,) = w.fake.messages
    code, answer = await w.carrier.sms(NUMBER, reply)
    assert code == 200
    return alert.id, sms["body"], answer


async def test_hint_offers_mute_which_stops_the_event_and_keeps_texts_on(world: World) -> None:
    """The text names MUTE (not the carrier's STOP); MUTE stops this event's alerts only."""
    alert_id, hint, answer = await _texted_and_replied(world, "MUTE")

    assert "MUTE to stop alerts for this event" in hint and "STOP" not in hint
    assert f"Stopped alerts for this event (alert {alert_id})" in answer
    assert "Texts to this phone are now off" not in answer
    assert (await reload(world.sessions, alert_id)).status == "resolved"
    assert await _opted_out_at(world) is None


async def test_stop_mutes_and_later_sms_steps_reach_the_chats(world: World) -> None:
    """STOP mutes the alert and records the opt-out; the next alert's SMS step goes to chat.

    The carrier refuses every text to the number from then on; the high alert's only
    phone step (SMS at +15 min) must not be spent on it.
    """
    alert_id, _, answer = await _texted_and_replied(world, "stop")
    assert "Stopped alerts for this event" in answer and "reply START" in answer
    assert (await reload(world.sessions, alert_id)).status == "resolved"
    assert await _opted_out_at(world) == world.clock.now()
    world.fake.opted_out.add(NUMBER)
    user_id = (await reload(world.sessions, alert_id)).user_id
    b = await add_alert_for(world.sessions, user_id, world.clock.now(), Level.HIGH)
    svc = service(world.sessions, world.clock)

    await run_until(svc, world.clock, 905, step=5)  # +5 min other chats, +15 min SMS
    await world.worker().deliver_batch()

    rows = [(r.channel, r.status) for r in await step_rows(world.sessions, b.id)]
    assert ("sms", "failed") not in rows and all(ch != "sms" for ch, _ in rows), rows
    assert "telegram" in [ch for ch, _ in rows], rows  # the SMS step reached all chats
    notes = await timeline(world.sessions, b.id)
    assert any("phone opted out of texts: chat instead" in n for n in notes), notes


async def test_start_turns_texts_back_on(world: World) -> None:
    """START (or UNSTOP, YES) from the phone clears the opt-out; SMS steps text it again."""
    alert_id, _, _ = await _texted_and_replied(world, "STOPALL")
    assert await _opted_out_at(world) is not None

    code, answer = await world.carrier.sms(NUMBER, "start")

    assert code == 200 and "Texts to this phone are on" in answer
    assert await _opted_out_at(world) is None
    user_id = (await reload(world.sessions, alert_id)).user_id
    b = await add_alert_for(world.sessions, user_id, world.clock.now(), Level.HIGH)
    await run_until(service(world.sessions, world.clock), world.clock, 905, step=5)
    assert "sms" in [r.channel for r in await step_rows(world.sessions, b.id)]


async def test_refusal_at_send_time_is_recorded(world: World) -> None:
    """A text refused with 21610 (a STOP we never saw) marks the phone as refusing texts.

    That step's text is lost; the alert's later SMS steps and other alerts reach chats.
    """
    a = await _verified_alert(world, Level.HIGH)
    world.fake.opted_out.add(NUMBER)
    svc = service(world.sessions, world.clock)
    await run_until(svc, world.clock, 905, step=5)  # the SMS step at +15 min

    await world.worker().deliver_batch()

    sms = [r for r in await step_rows(world.sessions, a.id) if r.channel == "sms"]
    assert [r.status for r in sms] == ["failed"]
    assert (sms[0].last_error or "").startswith("twilio 21610"), sms[0].last_error
    assert await _opted_out_at(world) == world.clock.now()
    async with world.sessions() as session:
        kinds = list(
            await session.scalars(select(AuditEntry.kind).where(AuditEntry.alert_id.is_(None)))
        )
    assert "sms_opted_out" in kinds
    b = await add_alert_for(world.sessions, a.user_id, world.clock.now(), Level.HIGH)
    await run_until(svc, world.clock, 905, step=5)
    assert all(r.channel != "sms" for r in await step_rows(world.sessions, b.id))


async def test_an_sms_opt_out_does_not_stop_calls(world: World) -> None:
    """Critical: the SMS step at +2 min goes to chats, the call at +5 min still rings."""
    a = await _verified_alert(world, Level.CRITICAL)
    async with world.sessions() as session, session.begin():
        await session.execute(update(ContactPoint).values(sms_opted_out_at=world.clock.now()))
    svc = service(world.sessions, world.clock)

    await run_until(svc, world.clock, 300, step=5)
    await world.worker().deliver_batch()

    assert [r.channel for r in await step_rows(world.sessions, a.id)].count("voice") == 1
    assert world.fake.messages == [] and len(world.fake.calls) == 1


async def test_an_emergency_contact_who_refuses_texts_is_not_texted(world: World) -> None:
    """An opted-in emergency contact whose number refuses texts is left out of that step."""
    a = await _verified_alert(world, Level.CRITICAL)
    async with world.sessions() as session, session.begin():
        sam = await add_phone(session, a.user_id, emergency=True, at=world.clock.now(), name="Sam")
        sam.sms_opted_out_at = world.clock.now()

    await run_until(service(world.sessions, world.clock), world.clock, 905, step=5)

    assert f"sms:cp{sam.id}" not in [
        f"{r.channel}:{r.address}" for r in await step_rows(world.sessions, a.id)
    ]
    notes = await timeline(world.sessions, a.id)
    assert any("no emergency contact has opted in" in n for n in notes), notes
