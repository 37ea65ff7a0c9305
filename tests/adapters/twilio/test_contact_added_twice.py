"""`contact add` of a number the person already has keeps one emergency contact.

The name is updated; the consent request goes out again only while it is unanswered; a
contact who agreed stays agreed. Each emergency step then texts that person once.
"""

from __future__ import annotations

from sqlalchemy import select

from core.contacts import add_contact
from core.db.models import ContactPoint, Notification
from core.domain import Level
from tests.adapters.twilio.test_twilio import CONTACT, World, _verified_alert
from tests.integration.escalation_helpers import run_until, service


async def _add(world: World, user_id: int, name: str) -> str:
    async with world.sessions() as session, session.begin():
        return await add_contact(session, user_id, name, CONTACT, world.clock.now(), world.keys)


async def _contacts(world: World) -> list[ContactPoint]:
    async with world.sessions() as session:
        rows = await session.scalars(select(ContactPoint).where(ContactPoint.is_emergency))
        return list(rows)


async def _consent_requests(world: World) -> int:
    async with world.sessions() as session:
        rows = await session.scalars(select(Notification.id).where(Notification.kind == "consent"))
        return len(list(rows))


async def test_a_contact_added_twice_gets_one_text_per_emergency_step(world: World) -> None:
    """ "Sam didn't get it, let me add him again" right away: one contact, one consent
    request (the second add says it is still waiting), one text at the emergency step."""
    alert = await _verified_alert(world, Level.CRITICAL)
    first = await _add(world, alert.user_id, "Sam")
    again = await _add(world, alert.user_id, "Sam")
    assert "I texted Sam" in first
    assert again.startswith("Sam at +1•••••4321 hasn't replied YES yet; not texted again")
    assert "try again in 1 min, e.g. contact add Sam +14155550123" in again
    assert len(await _contacts(world)) == 1 and await _consent_requests(world) == 1
    code, _ = await world.carrier.sms(CONTACT, "YES")
    assert code == 200
    worker = world.worker()
    await worker.deliver_batch()  # the consent request
    world.fake.messages.clear()
    await run_until(service(world.sessions, world.clock), world.clock, 905, step=5)
    for _ in range(5):
        world.clock.advance(1)
        await worker.deliver_batch()
    to_sam = [m["body"][:60] for m in world.fake.messages if m["to"] == CONTACT]
    assert len(to_sam) == 1, to_sam


async def test_adding_an_unanswered_contact_again_renames_and_asks_again(world: World) -> None:
    """A minute later the same number under a new name: the one row is renamed and Sam
    is asked again, and the reply says so."""
    alert = await _verified_alert(world, Level.CRITICAL)
    await _add(world, alert.user_id, "Sam")
    world.clock.advance(60)
    again = await _add(world, alert.user_id, "Samuel")
    assert again == (
        "Samuel at +1•••••4321 (renamed from Sam) hasn't replied YES yet, so I texted them "
        "again; escalations start once they do."
    )
    (sam,) = await _contacts(world)
    assert sam.name == "Samuel" and sam.owner_consent_at is None
    await world.worker().deliver_batch()
    bodies = [m["body"] for m in world.fake.messages if m["to"] == CONTACT]
    assert len(bodies) == 2 and bodies[1].startswith("Hi Samuel, ")


async def test_adding_an_agreed_contact_again_keeps_consent_and_sends_nothing(
    world: World,
) -> None:
    """Sam already replied YES: adding him again only renames him; he stays agreed and
    gets no new consent request."""
    alert = await _verified_alert(world, Level.CRITICAL)
    await _add(world, alert.user_id, "Sam")
    await world.carrier.sms(CONTACT, "YES")
    (agreed,) = await _contacts(world)
    world.clock.advance(3600)
    again = await _add(world, alert.user_id, "Sam S.")
    assert again == (
        "Sam S. at +1•••••4321 (renamed from Sam) is already your emergency contact and has "
        "agreed; no new text sent."
    )
    (sam,) = await _contacts(world)
    assert (sam.id, sam.owner_consent_at, sam.name) == (
        agreed.id,
        agreed.owner_consent_at,
        "Sam S.",
    )
    assert await _consent_requests(world) == 1
