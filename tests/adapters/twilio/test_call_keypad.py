"""An alert call says its keys clearly and once more before it gives up, and a key that
means nothing asks again instead of hanging up on the person; an SMS answer is in the
GSM alphabet when our own words are (a "—" made it UCS-2: twice the segments)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sqlalchemy import update

from adapters.twilio.render import KEYPAD, call_twiml, is_gsm7
from core.db.models import Alert
from core.domain import ChannelKind, Level, OutboundMessage
from tests.adapters.twilio.test_twilio import NUMBER, World, _verified_alert
from tests.integration.escalation_helpers import seed_alert

ACTION = "https://example.test/hooks/twilio/voice?alert=12"


def _call(title: str) -> ET.Element:
    message = OutboundMessage(
        7, "k7", ChannelKind.VOICE, "cp1", Level.CRITICAL, title, "body",
        payload={"data": {"alert": {"id": 12}}},
    )  # fmt: skip
    return ET.fromstring(call_twiml(message, ACTION))


def test_the_keys_are_said_twice_then_goodbye() -> None:
    root = _call("🚨 Rockies at Diamondbacks — $28 (your max $40)")
    children = list(root)
    gathers = [c for c in children if c.tag == "Gather"]
    assert [c.tag for c in children] == ["Gather", "Gather", "Say"]
    for gather in gathers:
        assert gather.get("action") == ACTION and gather.get("numDigits") == "1"
        said = " ".join(say.text or "" for say in gather.iter("Say"))
        assert KEYPAD in said and "Rockies at Diamondbacks" in said
    assert "No key pressed" in (children[-1].text or "")


async def _called(world: World) -> tuple[int, str]:
    """A critical alert, and the keypress URL of the call about it."""
    alert = await seed_alert(
        world.sessions, world.clock.now(), Level.CRITICAL, phone=False, emergency=False
    )
    return alert.id, f"{world.carrier.base_url}/hooks/twilio/voice?alert={alert.id}"


async def test_a_key_that_means_nothing_asks_again(world: World) -> None:
    _, action = await _called(world)
    code, body = await world.carrier.keypress(action, "9")
    assert code == 200
    root = ET.fromstring(body)
    gather = root.find("Gather")
    assert gather is not None, body
    assert gather.get("action") == action
    assert "Press 1 to acknowledge" in " ".join(s.text or "" for s in gather.iter("Say"))
    assert root.find("Hangup") is None
    # A key that acts still ends the call.
    code, body = await world.carrier.keypress(action, "1")
    assert "Acknowledged" in body and ET.fromstring(body).find("Hangup") is not None


async def test_an_sms_answer_is_gsm7(world: World) -> None:
    alert = await _verified_alert(world)
    async with world.sessions() as session, session.begin():
        await session.execute(
            update(Alert)
            .where(Alert.id == alert.id)
            .values(status="resolved", reason="price back over your max — $60 … “for now”")
        )
    code, body = await world.carrier.sms(NUMBER, f"ACK {alert.id}")
    assert code == 200
    message = ET.fromstring(body).find("Message")
    assert message is not None and message.text is not None
    assert "already resolved" in message.text and is_gsm7(message.text), message.text


async def test_pressing_2_says_for_how_long_the_alert_is_snoozed(world: World) -> None:
    alert_id, action = await _called(world)
    code, body = await world.carrier.keypress(action, "2")
    assert code == 200
    said = " ".join(s.text or "" for s in ET.fromstring(body).iter("Say"))
    assert f"Snoozed alert {alert_id} for an hour." in said, said
