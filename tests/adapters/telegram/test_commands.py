"""Every command through Telegram: updates in, MarkdownV2 replies out (checked by the fake)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.telegram.inbound import REPLAYED
from adapters.telegram.render import CACHED_PREFIX, COMMAND_PREFIX, TOKEN_PREFIX
from core.db.models import Activity, Identity, Watch
from core.domain import ActionKind
from tests.adapters.telegram.conftest import TelegramStack
from tests.adapters.telegram.helpers import add_event

RESERVED_NAME = "Björk_*[]()~>#+-=|{}.! 🎟️ Fest `live` \\ o/"


async def test_every_command_gets_an_answer(tg: TelegramStack) -> None:
    event_id = await add_event(tg.container, "e1", "Rockies at Diamondbacks")
    expected = {
        "/start": "Commands",
        "/start abc123": "account linking",
        "/help watch": "Example: watch yankees under 80 qty 2",
        "/watch rockies under 40": "Watching Rockies at Diamondbacks",
        "/watches": "Your watches:",
        "/pause {w}": "Paused watch #{w}",
        "/resume {w}": "Resumed watch #{w}",
        "/alerts": "No open alerts",
        "/ack 999": "no alert #999",
        "/snooze 999 2h": "no alert #999",
        "/mute 999": "no alert #999",
        "/bought 999": "no alert #999",
        f"/market #{event_id}": "Cheapest $60",
        "/prefs": "",
        "/quiet 22:00-07:00": "22:00",
        "/tz America/Denver": "America/Denver",
        "/unwatch {w}": "Removed watch #{w}",
    }
    watch_id = ""
    for text, wanted in expected.items():
        reply = await tg.say(601, text.format(w=watch_id))
        assert "Traceback" not in reply.plain
        assert wanted.format(w=watch_id) in reply.plain, (text, reply.plain)
        if text.startswith("/watch "):
            watch_id = re.search(r"watch #(\d+)", reply.plain).group(1)  # type: ignore[union-attr]
            assert [b["text"] for b in reply.buttons()] == [
                f"Pause #{watch_id}",
                f"Remove #{watch_id}",
            ]
    # /market answers with a price-history chart photo carrying the forecast sentence.
    photos = tg.api.calls_of("sendPhoto")
    assert len(photos) == 1
    assert "%" in str(photos[0].params.get("caption", ""))
    async with tg.container.sessions() as session:
        kinds = list((await session.execute(select(Activity.kind))).scalars())
        identity = (await session.execute(select(Identity))).scalar_one()
    assert kinds.count("command") >= len(expected) - 1  # presence on every command
    assert (identity.platform, identity.external_id, identity.dm_address) == (
        "telegram",
        "601",
        "601",
    )


async def test_malformed_input_gets_one_line_and_an_example(tg: TelegramStack) -> None:
    for text, wanted in {
        "/watch": "e.g.",
        "/snooze 3 forever": "e.g.",
        "/tz Mars/Base": "e.g.",
        "/quiet soon": "e.g.",
        "/unwatch x": "e.g.",
        "hello there": "help",
    }.items():
        reply = await tg.say(602, text)
        assert reply.plain.startswith("⚠️"), (text, reply.plain)
        assert wanted in reply.plain, (text, reply.plain)
        assert "Traceback" not in reply.plain


async def test_markdown_escaping_of_every_reserved_character(tg: TelegramStack) -> None:
    event_id = await add_event(tg.container, "weird", RESERVED_NAME)

    reply = await tg.say(603, f"/watch #{event_id} under 12.50")
    listing = await tg.say(603, "/watches")

    # The fake parses MarkdownV2 like Telegram: had one character gone unescaped, the
    # send would have been refused with "can't parse entities" and no reply would exist.
    assert RESERVED_NAME in reply.plain and "$12.50" in reply.plain
    assert RESERVED_NAME in listing.plain
    assert all(call.status == 200 for call in tg.api.calls_of("sendMessage"))


async def test_ambiguous_watch_offers_choices_even_when_commands_are_long(
    tg: TelegramStack,
) -> None:
    long = "Yankees at Red Sox with a very long and verbose sponsored title"
    await add_event(tg.container, "y1", long + " game one")
    await add_event(tg.container, "y2", long + " game two")

    reply = await tg.say(604, "/watch yankees under 80 qty 2 zone lower bowl behind the dugout")

    data = [b["callback_data"] for b in reply.buttons()]
    assert len(data) == 3 and all(len(d.encode()) <= 64 for d in data)
    assert data[0].startswith(COMMAND_PREFIX) or data[0].startswith(CACHED_PREFIX)
    assert any(d.startswith(CACHED_PREFIX) for d in data)  # "watch any …" is too long
    answer = await tg.press(604, reply, data[2])
    assert "Watching any event matching" in answer["text"]
    async with tg.container.sessions() as session:
        [watch] = (await session.execute(select(Watch))).scalars()
    assert (watch.max_price, watch.quantity, watch.zones) == (
        80.0,
        2,
        ["lower bowl behind the dugout"],
    )

    stale = await tg.press(604, reply, CACHED_PREFIX + "nosuchchoice")
    assert "expired" in stale["text"]


async def test_tokens_valid_forged_expired_and_replayed(tg: TelegramStack) -> None:
    await add_event(tg.container, "e2", "Rockies at Diamondbacks")
    reply = await tg.say(605, "/watch rockies under 40")
    pause = reply.buttons()[0]["callback_data"]
    assert pause.startswith(TOKEN_PREFIX) and len(pause.encode()) <= 64

    forged = pause[:-3] + ("AAA" if not pause.endswith("AAA") else "BBB")
    assert "not valid" in (await tg.press(605, reply, forged))["text"]
    signer, now = tg.container.signer, tg.container.clock.now()
    watch_id = int(re.search(r"watch #(\d+)", reply.plain).group(1))  # type: ignore[union-attr]
    old = signer.sign(ActionKind.PAUSE_WATCH, watch_id, now=now - timedelta(days=8), nonce=b"abcd")
    assert "expired" in (await tg.press(605, reply, TOKEN_PREFIX + old))["text"]
    async with tg.container.sessions() as session:
        assert (await session.get(Watch, watch_id)).active  # type: ignore[union-attr]

    first = await tg.press(605, reply, pause)
    again = await tg.press(605, reply, pause)

    assert first["text"].startswith(f"Paused watch #{watch_id}")
    assert again["text"] == "⚠️ " + REPLAYED or again["text"] == REPLAYED
    async with tg.container.sessions() as session:
        assert not (await session.get(Watch, watch_id)).active  # type: ignore[union-attr]
        presses = (await session.execute(select(Activity).where(Activity.kind == "button"))).all()
    assert len(presses) == 4  # forged, expired, first and replayed: presence every time


async def test_group_watches_belong_to_the_group_and_only_admins_change_them(
    tg: TelegramStack,
) -> None:
    await add_event(tg.container, "e3", "Rockies at Diamondbacks")
    group = -100777

    refused = await tg.say(606, "/watch rockies under 40", chat=group)
    tg.api.make_admin(group, 607)
    accepted = await tg.say(607, "/watch rockies under 40", chat=group, name="Admin")
    chatter_before = len(tg.api.chat(group))
    await tg.api.push(tg.api.text_update(user=606, text="who's going?", chat=group))
    listing = await tg.say(606, "/watches", chat=group)

    assert "only this group's admins" in refused.plain
    assert "I'll alert this group" in accepted.plain
    assert "This group's watches" in listing.plain
    assert len(tg.api.chat(group)) == chatter_before + 1  # small talk gets no answer
    async with tg.container.sessions() as session:
        [watch] = (await session.execute(select(Watch))).scalars()
    assert (watch.destination_channel, watch.destination_address) == ("telegram", str(group))
    assert tg.api.calls_of("getChatMember")


async def test_a_button_answer_too_long_for_a_toast_comes_whole_as_a_message(
    tg: TelegramStack,
) -> None:
    """A toast holds 200 characters: a longer answer was cut there, mid-word, and its
    end ("resume 1 turns it back on") was never shown anywhere."""
    long = "Yankees at Red Sox, presented by a sponsor whose name goes on and on, " * 2
    await add_event(tg.container, "e4", long + "live at Fenway")
    reply = await tg.say(608, "/watch yankees at red sox under 80")
    before = len(tg.api.chat(608))

    answer = await tg.press(608, reply, reply.buttons()[0]["callback_data"])
    await tg.api.wait_for(lambda: len(tg.api.chat(608)) > before, 5)

    assert len(answer["text"]) <= 200 and answer["text"].endswith("…")
    [message] = tg.api.chat(608)[before:]
    assert message.plain.startswith("Paused watch #") and message.plain.endswith(
        "turns it back on."
    )


async def test_a_press_that_fails_inside_still_stops_the_buttons_spinner(
    tg: TelegramStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram spins a pressed button until answerCallbackQuery: when handling the press
    failed (the database away, a bug), the button spun until Telegram gave up on it."""
    await add_event(tg.container, "e5", "Rockies at Diamondbacks")
    reply = await tg.say(609, "/watch rockies under 40")
    inbound = tg.channel._inbound
    assert inbound is not None

    async def broken(*args: object) -> object:
        raise RuntimeError("database is away")

    monkeypatch.setattr(inbound._handlers, "handle_button", broken)
    answer = await tg.press(609, reply, reply.buttons()[0]["callback_data"])

    assert "went wrong" in answer["text"] and "try again" in answer["text"]
