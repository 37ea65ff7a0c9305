"""SMS bodies are capped in segments as the carrier counts them (3GPP TS 23.038).

GSM-7 when every character is in the GSM default alphabet (160 septets, 153 per part of
a longer text, an extension character costing 2); otherwise UCS-2 (70 UTF-16 units, 67
per part). The cap once assumed GSM-7 always: an emoji-laden alert went as ten segments.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from adapters.twilio.render import (
    GSM_BASIC,
    GSM_EXTENSION,
    MAX_SEGMENTS,
    is_gsm7,
    sms_segments,
    sms_text,
)  # fmt: skip
from core.contacts import add_contact, start_phone
from core.domain import ChannelKind, EventRef, Level, OutboundMessage
from core.render import AlertView, body, title
from tests.adapters.twilio.test_twilio import CONTACT, NUMBER, World
from tests.integration.escalation_helpers import seed_alert


def carrier_segments(text: str) -> int:
    """How a carrier splits `text`, written independently of the code under test."""
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        units, single, each = sum(2 if c in GSM_EXTENSION else 1 for c in text), 160, 153
    else:
        units, single, each = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / each)


def sms(title_text: str, body_text: str, alert: int | None = 7) -> OutboundMessage:
    data = {"alert": {"id": alert}} if alert is not None else {}
    return OutboundMessage(
        1, "k1", ChannelKind.SMS, "cp1", Level.HIGH, title_text, body_text, {"data": data}
    )


def test_the_table_is_the_gsm_default_alphabet() -> None:
    assert len(GSM_BASIC) == 127 and len(GSM_EXTENSION) == 10  # 128 less the escape
    assert {"@", "£", "¥", "é", "Ç", "Δ", "ß", "¤", "§", "¿", "à", "\n"} <= GSM_BASIC
    assert {"€", "[", "]", "{", "}", "~", "|", "^", "\\"} <= GSM_EXTENSION
    assert not {"ç", "í", "’", "“", "—", "–", "…", "·", "•", "`", "🔥"} & (
        GSM_BASIC | GSM_EXTENSION
    )


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
        ("€" * 80, 1), ("€" * 81, 2),  # 2 septets each
        ("é" * 160, 1),  # é is GSM-7
        ("ç" * 70, 1), ("ç" * 71, 2), ("ç" * 134, 2), ("ç" * 135, 3),  # ç is not
        ("🎸" * 35, 1), ("🎸" * 36, 2),  # 2 UTF-16 units each
        ("x" * 159 + "’", 3),  # one curly quote: 160 UCS-2 units
    ],
)  # fmt: skip
def test_segments_are_counted_as_the_carrier_counts_them(text: str, segments: int) -> None:
    assert sms_segments(text) == segments == carrier_segments(text)


def test_an_emoji_laden_alert_stays_within_four_segments() -> None:
    """Counted in characters against 640, this was 10 UCS-2 segments."""
    name = "🎸🔥 " * 60 + "Fest"
    text = sms_text(sms(f"🔥 {name} — $28 (your max $40)", "🎟️ " * 200 + "\nSecond line"))

    assert carrier_segments(text) <= MAX_SEGMENTS and sms_segments(text) <= MAX_SEGMENTS
    assert text.endswith(
        "\nReply 1 or ACK 7 to acknowledge, SNOOZE 2h, MUTE to stop alerts for this event."
    )
    assert "...\n" in text and text.startswith("🎸🔥")  # a person's emoji kept, ours dropped
    text.encode("utf-16-le")  # no half of a surrogate pair


def test_a_long_plain_alert_is_four_concatenated_segments_not_640_characters() -> None:
    """Four concatenated GSM-7 segments hold 612 septets, not 4 x 160."""
    text = sms_text(sms("Rockies at Diamondbacks", "x" * 900))
    assert carrier_segments(text) == MAX_SEGMENTS and len(text) <= 4 * 153
    assert sms_segments(sms_text(sms("Rockies", "x" * 900 + "€"))) <= MAX_SEGMENTS


def test_our_own_template_text_stays_gsm7() -> None:
    """The level emoji, "—", "·" and "•" of core.render become GSM look-alikes."""
    event = EventRef(
        1, "Rockies at Diamondbacks", datetime(2024, 3, 31, 20, 10, tzinfo=UTC),
        venue="Chase Field", city="Phoenix", timezone="America/Phoenix",
    )  # fmt: skip
    view = AlertView(
        7, "price_drop", "open", Level.CRITICAL, 0.91, event, price=28.0, max_price=40.0,
        headline="price under your max", currency="EUR",
    )  # fmt: skip
    text = sms_text(sms(title(view), body(view)))

    assert all(c in GSM_BASIC or c in GSM_EXTENSION for c in text), text
    assert text.startswith("Rockies at Diamondbacks - €28 (your max €40)\n")
    assert "Chase Field, Phoenix - Sun 31 Mar 13:10 MST" in text
    assert carrier_segments(text) == 2  # GSM-7; as UCS-2 this same text was 4


def test_curly_quotes_and_ellipses_become_gsm() -> None:
    text = sms_text(sms("✅ Acknowledged: “Ada’s” pick – 3 left…", "", alert=None))
    assert text == 'Acknowledged: "Ada\'s" pick - 3 left...'


def _escalation_sms(name: str) -> str:
    """An escalation step's SMS as `core.escalation` builds it (status note, alert id)."""
    event = EventRef(
        1, name, datetime(2024, 3, 31, 20, 10, tzinfo=UTC),
        venue="Chase Field", city="Phoenix", timezone="America/Phoenix",
    )  # fmt: skip
    view = AlertView(
        12, "price_drop", "open", Level.CRITICAL, 0.91, event, price=1200.5, max_price=1500.0,
        headline="price under your max", currency="USD",
        status_note="Escalated (step 1): not acknowledged yet",
    )  # fmt: skip
    return sms_text(sms(title(view), body(view), alert=12))


def test_a_typical_escalation_sms_is_two_gsm7_segments() -> None:
    """Title with price (53), the status note (40), the headline (20), where and when (43)
    and the reply codes (81) are about 240 septets: two GSM-7 segments, never UCS-2 (which
    made it 4)."""
    text = _escalation_sms("Rockies at Diamondbacks")

    assert text.startswith("Rockies at Diamondbacks - $1,200.50 (your max $1,500)\n")
    assert is_gsm7(text) and "..." not in text, text
    assert 160 < len(text) <= 306 and sms_segments(text) == carrier_segments(text) == 2


def test_an_escalation_sms_says_where_and_when_not_the_score() -> None:
    """Two nights of one tour differ only in where and when: an urgent text says which, and
    leaves out the priority jargon ("Critical priority (score 0.91)")."""
    lines = _escalation_sms("Rockies at Diamondbacks").splitlines()

    assert lines[1:4] == [
        "Escalated (step 1): not acknowledged yet",
        "price under your max",
        "Chase Field, Phoenix - Sun 31 Mar 13:10 MST",
    ], lines
    assert not any("priority" in line or "score" in line for line in lines), lines


def test_a_very_long_event_name_is_cut_with_dots_to_the_cap() -> None:
    text = _escalation_sms("Rockies at Diamondbacks " * 40)

    assert is_gsm7(text) and sms_segments(text) == carrier_segments(text) == MAX_SEGMENTS
    assert text.startswith("Rockies at Diamondbacks Rockies") and "...\nReply 1 or ACK 12" in text
    assert text.endswith("MUTE to stop alerts for this event.")


async def test_codes_and_consent_requests_are_one_gsm7_segment(world: World) -> None:
    now = world.clock.now()
    alert = await seed_alert(world.sessions, now, Level.HIGH, phone=False, emergency=False)
    async with world.sessions() as session, session.begin():
        await start_phone(session, alert.user_id, NUMBER, now, random.Random(3), world.keys)
        await add_contact(session, alert.user_id, "Samantha", CONTACT, now, world.keys)
    await world.worker().deliver_batch()

    bodies = sorted(m["body"] for m in world.fake.messages)
    assert [b[:12] for b in bodies] == ["Hi Samantha,", "Your HDTicke"]
    assert all(is_gsm7(b) and carrier_segments(b) == 1 for b in bodies), bodies
