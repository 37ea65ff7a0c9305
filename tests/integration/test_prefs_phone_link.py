"""`prefs channels sms` (or voice) with no phone linked says how to link one."""

from __future__ import annotations

import pytest

from tests.integration.test_handlers import World, world

__all__ = ["world"]  # the fixture, shared with test_handlers

HOW = " To get alerts by {what}, add your number with phone +14155550123."


@pytest.mark.parametrize(
    ("order", "missing", "what"),
    [
        ("sms", "sms", "sms"),
        ("voice console", "voice", "voice"),
        ("telegram sms voice", "telegram or sms or voice", "sms or voice"),
    ],
)
async def test_a_phone_channel_without_a_number_says_how_to_add_one(
    world: World, order: str, missing: str, what: str
) -> None:
    reply = await world.say(f"prefs channels {order}")

    listed = ", ".join(order.split())
    assert reply.text == (
        f"Channel order: {listed} (then any other). You have no {missing} account linked"
        " yet, so alerts go to console for now." + HOW.format(what=what)
    )


async def test_a_chat_channel_without_an_account_says_nothing_of_phones(world: World) -> None:
    reply = await world.say("prefs channels telegram")

    assert reply.text == (
        "Channel order: telegram (then any other). You have no telegram account linked"
        " yet, so alerts go to console for now."
    )
