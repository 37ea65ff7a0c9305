"""A text queued for a contact point never reaches anyone else once that contact is gone.

The outbox addresses contact points as `cp<id>` and resolves the number only at send
time. Ids are never reused (SQLite AUTOINCREMENT, migration 0005), and deleting a
contact point withdraws what is still queued for it (`core.contacts.remove_contact_points`).
"""

from __future__ import annotations

import random

from sqlalchemy import select

from core.contacts import add_contact, confirm_phone, start_phone
from core.db.models import ContactPoint, Notification
from core.domain import Level
from tests.adapters.twilio.test_twilio import CONTACT, NUMBER, World, _verified_alert
from tests.integration.escalation_helpers import run_until, seed_alert, service, step_rows, timeline

STRANGER = "+15550009999"
NEW_NUMBER = "+15550002222"


async def _emergency_text_waiting_for_retry(world: World) -> tuple[int, str]:
    """Ada's critical alert reaches its emergency step; the text to Sam meets a Twilio
    500 and waits for its retry. Returns the alert id and Sam's outbox address."""
    ada = await _verified_alert(world, Level.CRITICAL)
    async with world.sessions() as session, session.begin():
        await add_contact(session, ada.user_id, "Sam", CONTACT, world.clock.now(), world.keys)
        sam = await session.scalar(select(ContactPoint.id).where(ContactPoint.is_emergency))
    await world.carrier.sms(CONTACT, "YES")
    worker = world.worker()
    await worker.deliver_batch()  # the consent request
    svc = service(world.sessions, world.clock)
    await run_until(svc, world.clock, 890, step=10)  # the SMS and call steps
    await worker.deliver_batch()
    world.fake.messages.clear()
    world.clock.advance(10)
    await svc.tick()  # +15 min: the emergency text to Sam is queued
    world.fake.fail_next("500")
    await worker.deliver_batch()
    assert world.fake.messages == []
    return ada.id, f"cp{sam}"


async def test_a_pending_emergency_text_never_reaches_a_recycled_contact_id(
    world: World,
) -> None:
    """Sam replies STOP while Ada's emergency text to him waits for a retry; Bob then adds
    his own phone. On SQLite Bob's new contact point used to take Sam's freed id, and the
    retry texted "Ada asked us to reach you…" to Bob's number."""
    await _emergency_text_waiting_for_retry(world)
    await world.carrier.sms(CONTACT, "STOP")  # Sam is deleted at once
    bob = await seed_alert(
        world.sessions, world.clock.now(), Level.HIGH, phone=False, emergency=False
    )
    async with world.sessions() as session, session.begin():
        await start_phone(
            session, bob.user_id, STRANGER, world.clock.now(), random.Random(1), world.keys
        )
    worker = world.worker()
    for _ in range(4):  # past every retry of the text to Sam
        world.clock.advance(30)
        await worker.deliver_batch()
    to_bob = [m["body"] for m in world.fake.messages if m["to"] == STRANGER]
    assert len(to_bob) == 1 and "Your HDTickets code" in to_bob[0], to_bob
    assert [m for m in world.fake.messages if m["to"] == CONTACT] == []


async def test_replacing_a_phone_withdraws_the_texts_still_queued_for_the_old_one(
    world: World,
) -> None:
    """An escalation text to the old phone that is waiting for a retry is cancelled, in
    the same transaction that verifies the new phone, and the alert's timeline says why."""
    alert = await _verified_alert(world, Level.CRITICAL)
    world.clock.advance(120)
    await service(world.sessions, world.clock).tick()  # +2 min: an SMS to the phone
    world.fake.fail_next("500")
    worker = world.worker()
    await worker.deliver_batch()
    (waiting,) = await step_rows(world.sessions, alert.id)
    assert waiting.status == "pending"
    async with world.sessions() as session, session.begin():
        await start_phone(
            session, alert.user_id, NEW_NUMBER, world.clock.now(), random.Random(5), world.keys
        )
    code = f"{random.Random(5).randrange(10**6):06d}"
    async with world.sessions() as session, session.begin():
        ok, line = await confirm_phone(session, alert.user_id, code, world.clock.now(), world.keys)
    assert ok, line
    (withdrawn,) = await step_rows(world.sessions, alert.id)
    assert withdrawn.status == "cancelled"
    assert withdrawn.last_error == "contact removed: phone replaced by a newly verified one"
    assert (
        "delivery_cancelled: sms message withdrawn: contact removed: phone replaced by a "
        "newly verified one"
    ) in await timeline(world.sessions, alert.id)
    world.clock.advance(60)
    await worker.deliver_batch()
    assert [m["to"] for m in world.fake.messages] == [NEW_NUMBER]  # only the new code


async def test_asking_for_a_new_code_withdraws_the_unsent_old_one(world: World) -> None:
    """A code text not sent yet (Twilio was failing) is cancelled when a new code is
    asked for: the unverified number it was for is forgotten."""
    bob = await seed_alert(
        world.sessions, world.clock.now(), Level.HIGH, phone=False, emergency=False
    )
    async with world.sessions() as session, session.begin():
        await start_phone(
            session, bob.user_id, STRANGER, world.clock.now(), random.Random(1), world.keys
        )
    world.fake.fail_next("500")
    await world.worker().deliver_batch()
    world.clock.advance(60)
    async with world.sessions() as session, session.begin():
        await start_phone(
            session, bob.user_id, NUMBER, world.clock.now(), random.Random(2), world.keys
        )
    async with world.sessions() as session:
        rows = (await session.execute(select(Notification).order_by(Notification.id))).scalars()
        states = [(row.status, row.last_error) for row in rows]
    assert states == [
        ("cancelled", "contact removed: a new code was asked for"),
        ("pending", None),
    ]
    await world.worker().deliver_batch()
    assert [m["to"] for m in world.fake.messages] == [NUMBER]


async def test_stop_from_an_emergency_contact_withdraws_the_texts_queued_for_them(
    world: World,
) -> None:
    """Sam's STOP cancels Ada's emergency text to him that waits for a retry, with the
    reason on the alert's timeline, instead of leaving it to fail at send time."""
    alert_id, sam = await _emergency_text_waiting_for_retry(world)
    await world.carrier.sms(CONTACT, "STOP")
    (to_sam,) = [r for r in await step_rows(world.sessions, alert_id) if r.address == sam]
    assert to_sam.status == "cancelled"
    assert (to_sam.last_error or "").startswith("contact removed: ")
