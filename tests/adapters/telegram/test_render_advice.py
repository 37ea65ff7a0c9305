"""The forecast line of an alert is in italics however the message words it: the stored
sentence, the scarce-seats advice or the sentence said of the event's cheapest ticket."""

from __future__ import annotations

import pytest

from adapters.telegram.render import alert_text
from core.domain import ChannelKind, Level, OutboundMessage

STORED = "72% chance the cheapest price drops 5% within 3 days — wait"


def _text(advice_line: str) -> str:
    body = f"High priority (score 0.67): under your max\nChase Field, Phoenix\n{advice_line}"
    data = {"recommendation": {"sentence": STORED, "advice": "wait"}}
    message = OutboundMessage(
        1, "k", ChannelKind.TELEGRAM, "42", Level.HIGH, "Rockies — $28", body, {"data": data}
    )
    return alert_text(message)


@pytest.mark.parametrize(
    "line",
    [
        STORED,
        "Only 8 tickets fit your search — buy now rather than wait",
        "Only 1 ticket fits your search — buy now rather than wait",
        f"For the event's cheapest ticket ($24): {STORED}",
    ],
)
def test_the_advice_line_is_italic(line: str) -> None:
    last = _text(line).splitlines()[-1]
    assert last.startswith("_") and last.endswith("_"), last


def test_other_lines_are_not() -> None:
    assert not _text("Chase Field again").splitlines()[-1].startswith("_")
