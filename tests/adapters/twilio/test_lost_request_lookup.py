"""A send whose request never reached Twilio is looked up, then made: the lookup must not
take an earlier text or call to the same number for it.

Twilio lists a number's calls and messages newest first and filters them by day only
(`StartTime>`, `DateSent>`), so an earlier call of the day is always in the answer.
"""

from __future__ import annotations

from core.contacts import add_contact
from core.domain import Level
from tests.adapters.twilio.test_twilio import CONTACT, World, _verified_alert
from tests.integration.escalation_helpers import service, step_rows


async def test_a_repeat_call_lost_on_the_way_still_rings(world: World) -> None:
    """The critical chain calls at +5 min and again at +20 min. The repeat call's request
    is lost (a network error before Twilio saw it); its retry must place a call, not
    take the +5 min call's sid as its own."""
    alert = await _verified_alert(world, Level.CRITICAL)
    svc = service(world.sessions, world.clock)
    worker = world.worker()
    for wait in (120, 180):  # the SMS at +2 min, the call at +5 min
        world.clock.advance(wait)
        await svc.tick()
        await worker.deliver_batch()
    (first,) = world.fake.calls
    for wait in (600, 300):  # the contacts step at +15 min (none), the repeat call at +20
        world.clock.advance(wait)
        await svc.tick()
    world.fake.fail_next("lost", 1.0)
    await worker.deliver_batch()
    assert len(world.fake.calls) == 1
    world.clock.advance(120)
    await worker.deliver_batch()

    assert len(world.fake.calls) == 2
    second = world.fake.calls[0] if world.fake.calls[1] is first else world.fake.calls[1]
    repeat = [r for r in await step_rows(world.sessions, alert.id) if r.channel == "voice"][-1]
    assert repeat.status == "sent" and (repeat.receipt or {})["message_id"] == second["sid"]
    assert second["sid"] != first["sid"]


async def test_a_consent_request_sent_again_is_not_taken_for_the_first(world: World) -> None:
    """`contact add` of a contact who has not answered texts them again; that second
    request, lost on the way, must still go out although the first had the same words."""
    alert = await _verified_alert(world, Level.HIGH)
    worker = world.worker()
    async with world.sessions() as session, session.begin():
        await add_contact(session, alert.user_id, "Sam", CONTACT, world.clock.now(), world.keys)
    await worker.deliver_batch()
    (asked,) = world.fake.messages
    world.clock.advance(3600)
    async with world.sessions() as session, session.begin():
        line = await add_contact(
            session, alert.user_id, "Sam", CONTACT, world.clock.now(), world.keys
        )
    assert "texted them again" in line
    world.fake.fail_next("lost", 1.0)
    await worker.deliver_batch()
    world.clock.advance(120)
    await worker.deliver_batch()

    bodies = [m["body"] for m in world.fake.messages]
    assert bodies == [asked["body"], asked["body"]]
