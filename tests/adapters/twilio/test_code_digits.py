"""A verification code typed on a keyboard with other digits (Arabic-Indic, full-width)
is the same code: `phone ١٢٣٤٥٦` parses as a code, so it must also confirm as one. A
number typed in those digits reaches Twilio in ASCII E.164."""

from __future__ import annotations

import random

import pytest

from core.commands import PhoneCommand, parse
from core.contacts import confirm_phone, start_phone
from core.domain import Level
from tests.adapters.twilio.test_twilio import NUMBER, World
from tests.integration.escalation_helpers import seed_alert

_OTHER_DIGITS = {"arabic-indic": 0x0660, "full-width": 0xFF10, "devanagari": 0x0966}


@pytest.mark.parametrize("script", sorted(_OTHER_DIGITS))
async def test_a_code_in_other_digits_confirms_the_phone(world: World, script: str) -> None:
    now = world.clock.now()
    alert = await seed_alert(world.sessions, now, Level.HIGH, phone=False, emergency=False)
    async with world.sessions() as session, session.begin():
        await start_phone(session, alert.user_id, NUMBER, now, random.Random(3), world.keys)
    code = f"{random.Random(3).randrange(10**6):06d}"
    typed = "".join(chr(_OTHER_DIGITS[script] + int(d)) for d in code)
    async with world.sessions() as session, session.begin():
        ok, line = await confirm_phone(session, alert.user_id, typed, now, world.keys)
    assert ok, line


async def test_a_number_in_arabic_indic_digits_is_texted_in_ascii(world: World) -> None:
    now = world.clock.now()
    alert = await seed_alert(world.sessions, now, Level.HIGH, phone=False, emergency=False)
    command = parse("phone +٤٤ ٧٧٠٠ ٩٠٠١٢٣")
    assert isinstance(command, PhoneCommand)
    async with world.sessions() as session, session.begin():
        line = await start_phone(
            session, alert.user_id, command.number, now, random.Random(3), world.keys
        )
    assert "to +4•••••0123." in line, line  # the shown mask is ASCII too
    await world.worker().deliver_batch()
    (sms,) = world.fake.messages
    assert sms["to"] == "+447700900123"
