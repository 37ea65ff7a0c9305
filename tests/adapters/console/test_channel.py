"""ConsoleChannel prints alerts readably: level colour, factors with reasons, numbered buttons."""

from __future__ import annotations

import asyncio
import io
import sys
from datetime import UTC, datetime

import pytest
from rich.console import Console

from adapters.console.channel import ConsoleChannel
from core.domain import (
    Button,
    Capability,
    ChannelKind,
    DeliveryReceipt,
    Level,
    OutboundMessage,
)
from core.ports import Channel

BUTTONS = [
    {"label": "Acknowledge", "action": "ack", "token": "tok-ack", "url": None},
    {"label": "Snooze 1h", "action": "snooze", "token": "tok-snooze", "url": None},
    {"label": "Open", "action": "open", "token": None, "url": "https://tickets.example/e/1"},
]
BODY = (
    "Critical priority (score 0.84): cheapest $28 is at or under your max $40\n"
    "Chase Field, Phoenix · Sun 31 Mar 13:10 MST\n"
    "1,344 tickets left\n"
    "• price: $28 is 30% under your max $40\n"
    "• urgency: event in 11 days\n"
    "72% chance the cheapest price drops 5% within 3 days — wait"
)
FACTORS = [
    {"name": "price", "value": 0.8, "weight": 0.25, "reason": "$28 is 30% under your max $40"},
    {"name": "urgency", "value": 0.35, "weight": 0.2, "reason": "event in 11 days"},
]


def _payload(
    event_type: str = "alert.triggered", buttons: list[dict[str, object]] = BUTTONS
) -> dict[str, object]:
    return {
        "event_type": event_type,
        "timestamp": datetime(2024, 3, 20, 12, 0, tzinfo=UTC).isoformat(),
        "title": "Rockies at Diamondbacks — $28 (your max $40)",
        "body": BODY,
        "buttons": buttons,
        "factors": FACTORS,
        "data": {"alert": {"id": 7}},
        "edit_of": None,
    }


def _message(
    key: str = "n1",
    level: Level = Level.CRITICAL,
    *,
    with_buttons: bool = True,
    title: str = "Rockies at Diamondbacks — $28 (your max $40)",
    **extra: object,
) -> OutboundMessage:
    buttons = (
        tuple(Button(b["label"], b["token"], b["url"]) for b in BUTTONS) if with_buttons else ()
    )  # type: ignore[arg-type]
    return OutboundMessage(
        notification_id=1,
        idempotency_key=key,
        channel=ChannelKind.CONSOLE,
        address="local",
        level=level,
        title=title,
        body=BODY,
        payload=_payload(),
        buttons=buttons,
        **extra,  # type: ignore[arg-type]
    )


def _channel(
    *, colour: bool = False, answerable: bool = True
) -> tuple[ConsoleChannel, io.StringIO]:
    out = io.StringIO()
    console = Console(
        file=out,
        width=120,
        force_terminal=colour,
        color_system="standard" if colour else None,
        highlight=False,
    )
    channel = ConsoleChannel(console)
    channel.answerable = answerable  # as when a console chat reads the terminal
    return channel, out


async def test_prints_level_title_body_factors_and_numbered_buttons() -> None:
    channel, out = _channel()
    receipt = await channel.send(_message())

    text = out.getvalue()
    assert "CRITICAL · Rockies at Diamondbacks — $28 (your max $40)" in text
    assert "Chase Field, Phoenix · Sun 31 Mar 13:10 MST" in text and "1,344 tickets left" in text
    assert "72% chance the cheapest price drops 5% within 3 days — wait" in text
    rows = [line.strip("│ ") for line in text.splitlines()]
    assert "price     0.80    0.25  $28 is 30% under your max $40" in rows
    assert "urgency   0.35    0.20  event in 11 days" in rows
    assert "• price:" not in text  # reasons appear once, in the table
    assert "[1] Acknowledge  [2] Snooze 1h  [3] Open ↗" in text
    assert receipt == DeliveryReceipt(ChannelKind.CONSOLE, "local", "console-1")
    assert [o.token for o in channel.menu.options] == ["tok-ack", "tok-snooze", None]
    assert (
        channel.menu.pick(3) is not None
        and channel.menu.pick(3).url == "https://tickets.example/e/1"
    )  # type: ignore[union-attr]
    assert channel.menu.pick(4) is None and channel.menu.pick(0) is None
    [printed] = channel.printed
    assert printed.message_id == "console-1" and len(printed.options) == 3


async def test_without_a_chat_the_buttons_are_listed_with_where_to_answer() -> None:
    channel, out = _channel(answerable=False)
    await channel.send(_message())
    text = " ".join(out.getvalue().split())
    assert "type a number" not in text and "[1]" not in text
    # the panel shows no id: the hint names this alert's (data.alert.id), not a placeholder
    assert "Acknowledge · Snooze 1h · Open — answer with `hdtickets alerts ack|snooze 7`" in text
    assert channel.menu.options == ()  # nothing to pick: no number can be typed


async def test_an_alert_starts_on_a_fresh_line_where_the_person_may_be_typing() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    channel = ConsoleChannel(console)
    channel.answerable = True  # a chat reads this terminal: "watch yan" may be on the line
    await channel.send(_message("n1"))
    assert out.getvalue().startswith("\n╭─ CRITICAL")  # not "watch yan╭─ CRITICAL…" wrapped

    channel.answerable = False
    await channel.send(_message("n2"))  # nobody types here: no blank line before it
    assert "╯\n╭─ CRITICAL" in out.getvalue()


async def test_a_terminal_without_utf8_gets_question_marks_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="latin-1", write_through=True)
    monkeypatch.setattr(sys, "stdout", stdout)  # LANG=en_US.ISO-8859-1, say
    channel = ConsoleChannel()
    channel.answerable = True

    await channel.send(_message(title="🚨 Rockies at Diamondbacks — $28"))

    text = raw.getvalue().decode("latin-1")
    assert "CRITICAL · ? Rockies at Diamondbacks ? $28" in text  # it used to raise
    assert "[1] Acknowledge" in text and "╭" not in text  # rich drew ASCII boxes


async def test_buttons_come_from_the_payload_when_the_message_has_none() -> None:
    channel, out = _channel()
    await channel.send(_message(with_buttons=False))
    assert "[1] Acknowledge  [2] Snooze 1h" in out.getvalue()
    assert channel.menu.pick(2).token == "tok-snooze"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("level", "ansi"),
    [(Level.CRITICAL, "\x1b[1;31m"), (Level.MEDIUM, "\x1b[33m"), (Level.LOW, "\x1b[2m")],
)
async def test_level_sets_the_colour(level: Level, ansi: str) -> None:
    channel, out = _channel(colour=True)
    await channel.send(_message(level=level))
    assert ansi in out.getvalue()


async def test_send_is_idempotent_and_edits_print_an_updated_line() -> None:
    channel, out = _channel()
    first = await channel.send(_message("n1"))
    again = await channel.send(_message("n1"))
    assert again == first and out.getvalue().count("Rockies at Diamondbacks") == 1

    edit = OutboundMessage(
        notification_id=2,
        idempotency_key="n1-ack",
        channel=ChannelKind.CONSOLE,
        address="local",
        level=Level.CRITICAL,
        title="✅ Rockies at Diamondbacks — acknowledged",
        body="Acknowledged via telegram\nmore",
        payload=_payload("alert.acknowledged", buttons=[]),
        edit_of=first,
    )
    receipt = await channel.send(edit)
    last_line = out.getvalue().rstrip().splitlines()[-1]
    assert last_line.startswith("↻ updated console-1")
    assert "acknowledged" in last_line and "Acknowledged via telegram" in last_line
    assert receipt.message_id == "console-1"
    assert channel.menu.options == ()  # the acknowledged alert's buttons are gone


async def test_is_a_channel_with_buttons_and_edit_and_run_waits_until_cancelled() -> None:
    channel, _ = _channel()
    assert isinstance(channel, Channel)
    assert channel.capabilities == Capability.BUTTONS | Capability.EDIT
    task = asyncio.create_task(channel.run())
    await asyncio.sleep(0)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
