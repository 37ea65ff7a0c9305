"""The TwiML of an alert call is well-formed XML and says the event's name and price as
written: markup characters escaped, control characters (which ingest lets through and
XML 1.0 forbids) left out, currency symbols kept."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from adapters.twilio.render import call_twiml
from core.domain import ChannelKind, Level, OutboundMessage


def _said(title: str) -> str:
    message = OutboundMessage(
        7, "k7", ChannelKind.VOICE, "cp1", Level.CRITICAL, title, "body",
        payload={"data": {"alert": {"id": 12}}},
    )  # fmt: skip
    root = ET.fromstring(call_twiml(message, "https://example.test/hooks/twilio/voice?alert=12"))
    gather = root.find("Gather")
    assert gather is not None and gather.get("action", "").endswith("?alert=12")
    return " | ".join(say.text or "" for say in gather.iter("Say"))


@pytest.mark.parametrize(
    ("title", "spoken"),
    [
        ('🔥 Tom & Jerry <Live> "Reunion" — $28', 'Tom & Jerry <Live> "Reunion", $28'),
        ("🔥 Café\x0bClub\x1b[31m Night — $40", "Café Club [31m Night, $40"),
        ("🔥 Adele at Wembley — £50 (your max £60)", "Adele at Wembley, £50 (your max £60)"),
        ("🔥 Rammstein — 45 € (your max 60 €)", "Rammstein, 45 € (your max 60 €)"),
    ],
)
def test_the_call_says_the_title_in_valid_xml(title: str, spoken: str) -> None:
    assert _said(title).startswith(f"HDTickets alert. {spoken}.")


def test_the_call_says_where_and_when_after_the_title_not_the_score() -> None:
    """Which night of a tour: the call names the venue and time, as the SMS does."""
    body = (
        "Escalated (step 2): not acknowledged yet\n"
        "Critical priority (score 0.91): price under your max\n"
        "Chase Field, Phoenix · Sun 31 Mar 13:10 MST\n"
        "• price: $28 is 30% under your max $40"
    )
    message = OutboundMessage(
        7, "k7", ChannelKind.VOICE, "cp1", Level.CRITICAL, "🔥 Rockies — $28", body,
        payload={"data": {"alert": {"id": 12}}},
    )  # fmt: skip
    said = " | ".join(
        say.text or "" for say in ET.fromstring(call_twiml(message, "https://x.test/v")).iter("Say")
    )

    assert said.startswith(
        "HDTickets alert. Rockies, $28. Chase Field, Phoenix, Sun 31 Mar 13:10 MST."
    ), said
    assert "score" not in said and "priority" not in said
