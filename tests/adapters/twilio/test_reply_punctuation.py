"""Replies typed as people type them: "Yes.", "Stop!", "ack 12." mean the word.

An emergency contact who answers the consent request "Yes." agrees; one who answers
"Stop." is removed and never texted again; a pending contact whose answer is neither
is told what to reply instead of hearing nothing.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.contacts import add_contact
from core.db.models import ContactPoint
from core.domain import Level
from tests.adapters.twilio.test_twilio import CONTACT, NUMBER, World, _verified_alert
from tests.integration.escalation_helpers import add_alert_for, reload, service


async def _contacts(w: World) -> list[ContactPoint]:
    async with w.sessions() as session:
        rows = await session.execute(select(ContactPoint).where(ContactPoint.is_emergency))
        return list(rows.scalars())


async def _asked(w: World) -> int:
    alert = await _verified_alert(w, Level.CRITICAL)
    async with w.sessions() as session, session.begin():
        await add_contact(session, alert.user_id, "Sam", CONTACT, w.clock.now(), w.keys)
    return alert.user_id


@pytest.mark.parametrize("answer", ["Yes.", "yes!", " YES! "])
async def test_a_contact_answering_yes_with_punctuation_agrees(world: World, answer: str) -> None:
    await _asked(world)
    code, body = await world.carrier.sms(CONTACT, answer)
    (sam,) = await _contacts(world)
    assert code == 200 and "emergency contact for" in body
    assert sam.owner_consent_at is not None


async def test_a_contact_answering_stop_with_a_full_stop_is_removed(world: World) -> None:
    await _asked(world)
    await world.carrier.sms(CONTACT, "Yes")
    code, body = await world.carrier.sms(CONTACT, "Stop.")
    assert code == 200 and "removed" in body
    assert await _contacts(world) == []


async def test_a_pending_contact_is_told_what_to_reply(world: World) -> None:
    await _asked(world)
    code, body = await world.carrier.sms(CONTACT, "who is this?")
    (sam,) = await _contacts(world)
    assert code == 200 and "reply YES" in body and "STOP" in body
    assert sam.owner_consent_at is None


async def test_ack_of_an_id_with_a_full_stop_acknowledges_that_alert(world: World) -> None:
    """ "Ack 12." is about alert 12, not the alert that texted last."""
    first = await _verified_alert(world, Level.CRITICAL)
    svc = service(world.sessions, world.clock)
    world.clock.advance(120)
    await svc.tick()
    await world.worker().deliver_batch()
    world.clock.advance(10)
    latest = await add_alert_for(world.sessions, first.user_id, world.clock.now(), Level.CRITICAL)
    world.clock.advance(120)
    await svc.tick()
    await world.worker().deliver_batch()
    code, body = await world.carrier.sms(NUMBER, f"Ack {first.id}.")
    assert code == 200 and f"Acknowledged alert {first.id}" in body
    assert (await reload(world.sessions, first.id)).status == "acknowledged"
    assert (await reload(world.sessions, latest.id)).status == "open"


@pytest.mark.parametrize("reply", ["snooze 2 hours", "SNOOZE 2 h"])
async def test_snooze_with_a_spaced_duration_snoozes_the_alert(world: World, reply: str) -> None:
    """ "SNOOZE 2 h" is two hours, not alert 2 ("alert 2 not found")."""
    alert = await _verified_alert(world, Level.CRITICAL)
    world.clock.advance(120)
    await service(world.sessions, world.clock).tick()
    await world.worker().deliver_batch()
    code, body = await world.carrier.sms(NUMBER, reply)
    got = await reload(world.sessions, alert.id)
    assert code == 200 and f"Snoozed alert #{alert.id}" in body
    assert got.status == "snoozed"
