"""SMS replies: which alert, whose, and what an emergency contact's answer may touch.

Replies arrive signed at `/hooks/twilio/sms` exactly as Twilio posts them; texts go out
through the real SDK to the loopback fake (the `world` of test_twilio).
"""

from __future__ import annotations

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.twilio.render import is_gsm7
from core.alerts import apply_action
from core.contacts import add_contact, confirm_phone, start_phone
from core.db.models import ContactPoint, Event, User
from core.domain import ActionKind, Level
from tests.adapters.twilio.test_twilio import NUMBER, World, _verified_alert
from tests.integration.escalation_helpers import (
    add_alert_for,
    reload,
    seed_alert,
    service,
    step_rows,
)


async def _own_phone(w: World) -> ContactPoint:
    async with w.sessions() as session:
        (cp,) = (
            await session.execute(select(ContactPoint).where(ContactPoint.is_emergency.is_(False)))
        ).scalars()
    return cp


async def test_refusing_to_be_a_contact_leaves_own_alerts_alone(world: World) -> None:
    """STOP to Bob's contact request removes the contact and does nothing else.

    Ada's number is her own verified phone, texted about her open critical alert, and
    also the number Bob asks to be his emergency contact. Her STOP answers Bob's request:
    her own alert stays open and keeps escalating (STOP is still the carrier's opt-out,
    so her phone is marked as refusing texts).
    """
    ada = await _verified_alert(world, Level.CRITICAL)
    world.clock.advance(120)
    await service(world.sessions, world.clock).tick()
    await world.worker().deliver_batch()  # Ada's own SMS step
    bob = await seed_alert(
        world.sessions, world.clock.now(), Level.HIGH, phone=False, emergency=False
    )
    async with world.sessions() as session, session.begin():
        await add_contact(session, bob.user_id, "Ada", NUMBER, world.clock.now(), world.keys)
    await world.worker().deliver_batch()  # the consent request to Ada's number

    code, body = await world.carrier.sms(NUMBER, "STOP")

    assert code == 200
    async with world.sessions() as session:
        left = (
            (await session.execute(select(ContactPoint).where(ContactPoint.is_emergency)))
            .scalars()
            .all()
        )
    assert left == []
    got = await reload(world.sessions, ada.id)
    assert got.status == "open" and got.next_step_at is not None, body
    assert "removed as an emergency contact" in body
    assert (await _own_phone(world)).sms_opted_out_at is not None


async def test_bare_ack_skips_a_text_withdrawn_before_it_was_sent(world: World) -> None:
    """A bare "1" is about a text the phone received, not a row cancelled before sending.

    Alert A texts the phone; alert B's SMS row is written, then B is acknowledged in the
    chat before the row goes out, so it is withdrawn. "1" acknowledges A.
    """
    a = await _verified_alert(world, Level.CRITICAL)
    svc = service(world.sessions, world.clock)
    world.clock.advance(10)
    b = await add_alert_for(world.sessions, a.user_id, world.clock.now(), Level.CRITICAL)
    worker = world.worker()
    world.clock.advance(110)  # A's SMS step
    await svc.tick()
    await worker.deliver_batch()
    assert len(world.fake.messages) == 1
    world.clock.advance(10)  # B's SMS step: the row is written...
    await svc.tick()
    async with world.sessions() as session, session.begin():  # ...and B acknowledged in chat
        await apply_action(
            session, b.id, ActionKind.ACK, user_id=a.user_id, via="telegram", now=world.clock.now()
        )
    await worker.deliver_batch()
    assert len(world.fake.messages) == 1
    assert [r.status for r in await step_rows(world.sessions, b.id)] == ["cancelled"]

    code, body = await world.carrier.sms(NUMBER, "1")

    assert code == 200 and f"Acknowledged alert {a.id}" in body
    assert (await reload(world.sessions, a.id)).status == "acknowledged"


async def test_bare_ack_prefers_an_alert_still_open(world: World) -> None:
    """Of two alerts that texted the phone, a bare "ACK" takes the open one.

    B texted last but was acknowledged since (in the chat); A is still escalating.
    """
    a = await _verified_alert(world, Level.CRITICAL)
    svc = service(world.sessions, world.clock)
    world.clock.advance(10)
    b = await add_alert_for(world.sessions, a.user_id, world.clock.now(), Level.CRITICAL)
    worker = world.worker()
    world.clock.advance(110)
    await svc.tick()
    await worker.deliver_batch()  # A's text
    world.clock.advance(10)
    await svc.tick()
    await worker.deliver_batch()  # B's text, the newest
    assert len(world.fake.messages) == 2
    async with world.sessions() as session, session.begin():
        await apply_action(
            session, b.id, ActionKind.ACK, user_id=a.user_id, via="telegram", now=world.clock.now()
        )

    code, body = await world.carrier.sms(NUMBER, "ACK")

    assert code == 200 and f"Acknowledged alert {a.id}" in body
    assert (await reload(world.sessions, a.id)).status == "acknowledged"


@pytest.mark.parametrize("reply", ["1", "ACK {id}"])
async def test_shared_phone_acts_for_whoever_holds_the_alert(world: World, reply: str) -> None:
    """Two people verified the same phone; a reply acts on the alert that texted it.

    The first person's alert texts the shared phone; the second person verified the
    number later. Both "1" and "ACK <id>" acknowledge the first person's alert, as them.
    """
    first = await _verified_alert(world, Level.CRITICAL)
    world.clock.advance(60)  # a number gets at most one code a minute
    other = await seed_alert(
        world.sessions, world.clock.now(), Level.HIGH, phone=False, emergency=False
    )
    t = world.clock.now()
    async with world.sessions() as session, session.begin():
        await start_phone(session, other.user_id, NUMBER, t, random.Random(5), world.keys)
    async with world.sessions() as session, session.begin():
        ok, _ = await confirm_phone(
            session, other.user_id, f"{random.Random(5).randrange(10**6):06d}", t, world.keys
        )
    assert ok
    world.clock.advance(60)  # the first person's SMS step, 2 min after their alert
    await service(world.sessions, world.clock).tick()
    await world.worker().deliver_batch()
    assert [m for m in world.fake.messages if m["to"] == NUMBER and "ACK" in m["body"]]

    code, body = await world.carrier.sms(NUMBER, reply.format(id=first.id))

    assert code == 200 and f"Acknowledged alert {first.id}" in body
    got = await reload(world.sessions, first.id)
    assert got.status == "acknowledged" and got.acked_via == "sms"
    assert (await reload(world.sessions, other.id)).status == "open"


@pytest.mark.parametrize(
    "body",
    [
        "ACK {n}",
        "SNOOZE {n} 2h",
        "STOP {n}",
        "MUTE {n}",
    ],
)
@pytest.mark.parametrize("digits", ["99999999999999999999", "9223372036854775808"])
async def test_an_id_no_row_can_have_is_answered_like_an_unknown_one(
    world: World, body: str, digits: str
) -> None:
    """An alert id past 64 bits gets the "not found" answer of any unknown id, not a 500."""
    await _verified_alert(world, Level.CRITICAL)
    world.clock.advance(120)
    await service(world.sessions, world.clock).tick()
    code, unknown = await world.carrier.sms(NUMBER, body.format(n=424242))
    assert code == 200 and "not found" in unknown

    code, text = await world.carrier.sms(NUMBER, body.format(n=digits))

    assert code == 200
    assert text == unknown.replace("424242", digits)


@pytest.mark.parametrize(("reply", "hours"), [("SNOOZE 2h", 2), ("snooze", 1)])
async def test_a_snooze_by_text_says_until_when_in_the_persons_zone(
    world: World, reply: str, hours: int
) -> None:
    """ "SNOOZE 2h" answered "Snoozed alert 12." and left the person to work out until
    when; the chat says it in their zone, and so does the text now (GSM-7, one line)."""
    alert = await _verified_alert(world, Level.CRITICAL)
    async with world.sessions() as session, session.begin():
        user = await session.get(User, alert.user_id)
        event = await session.get(Event, alert.event_id)
        assert user is not None and event is not None
        user.timezone = "America/Denver"
        event.starts_at = world.clock.now() + timedelta(days=3)
        name = event.name
    world.clock.advance(120)
    await service(world.sessions, world.clock).tick()
    await world.worker().deliver_batch()
    until = (world.clock.now() + timedelta(hours=hours)).astimezone(ZoneInfo("America/Denver"))

    code, body = await world.carrier.sms(NUMBER, reply)

    when = f"{until:%a} {until.day} {until:%b %H:%M} {until.tzname()}"
    assert code == 200 and f"Snoozed alert #{alert.id} ({name}) until {when}." in body, body
    assert until.tzname() in {"MST", "MDT"} and is_gsm7(body) and "\n" not in body
