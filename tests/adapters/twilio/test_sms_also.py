"""An escalation SMS names the other open alerts it stands for (`data.also`) within the
segment cap: its own text first and never cut for them; the lines of others dropped from
the last, counted in "+N more". A call says the one sentence about them."""

from __future__ import annotations

from typing import Any

from adapters.twilio.render import MAX_SEGMENTS, call_twiml, sms_segments, sms_text
from core.domain import ChannelKind, Level, OutboundMessage

HINT = "Reply 1 or ACK 7 to acknowledge, SNOOZE 2h, MUTE to stop alerts for this event."
TITLE = "🚨 Yankees at Red Sox — $50 (your max $80)"
BODY = "Escalated (step 1): not acknowledged yet\nCritical priority (score 0.91): under your max"
HEAD = (
    "Yankees at Red Sox - $50 (your max $80)\n"
    "Escalated (step 1): not acknowledged yet\n"
    "under your max"  # the priority and score are left out of texts
)


def line(watch_id: int) -> str:
    return f"Also: watch #{watch_id} down 11% to $50 from $56 in 24 h"


def message(
    lines: list[str], *, count: int | None = None, title: str = TITLE, body: str = BODY
) -> OutboundMessage:
    also: dict[str, Any] = {
        "alerts": list(range(100, 100 + (count or len(lines)))),
        "count": len(lines) if count is None else count,
        "lines": lines,
        "spoken": "This also matches 2 of your other watches.",
    }
    data = {"alert": {"id": 7}, "also": also}
    return OutboundMessage(
        1, "k1", ChannelKind.SMS, "cp1", Level.CRITICAL, title, body, {"data": data}
    )


def test_the_others_follow_the_alerts_own_text_and_the_reply_codes_stay_last() -> None:
    text = sms_text(message([line(12), line(13)]))

    assert text == f"{HEAD}\n{line(12)}\n{line(13)}\n{HINT}"


def test_lines_that_do_not_fit_are_dropped_from_the_last_and_counted() -> None:
    lines = [line(n) for n in range(10, 20)]
    text = sms_text(message(lines, count=14))  # the payload carries the first 10 of 14

    assert sms_segments(text) <= MAX_SEGMENTS
    assert text.startswith(HEAD + "\n") and text.endswith("\n" + HINT)
    middle = text[len(HEAD) + 1 : -len(HINT) - 1].splitlines()
    shown, more = middle[:-1], middle[-1]
    assert shown == lines[: len(shown)] and 0 < len(shown) < len(lines)  # whole lines
    assert more == f"+{14 - len(shown)} more"
    # One more line would not have fitted.
    longer = "\n".join([HEAD, *lines[: len(shown) + 1], f"+{13 - len(shown)} more", HINT])
    assert sms_segments(longer) > MAX_SEGMENTS


def test_the_alerts_own_text_is_never_cut_to_make_room() -> None:
    """A text that fills the cap keeps every character; only a count of the others fits,
    or nothing at all."""
    filler = "x" * (4 * 153 - len(HEAD) - len(HINT) - 2 - 20)
    body = f"{BODY} {filler}"
    text = sms_text(message([line(12), line(13)], body=body))

    assert sms_segments(text) <= MAX_SEGMENTS
    assert f"{filler}\nAlso: +2 more\n{HINT}" in text and "..." not in text

    fuller = f"{BODY} {filler}{'y' * 10}"
    text = sms_text(message([line(12)], body=fuller))
    headline = fuller.splitlines()[1].removeprefix("Critical priority (score 0.91): ")
    assert text.endswith(f"\n{headline}\n{HINT}") and "Also" not in text


def test_a_text_too_long_by_itself_is_cut_as_before_and_names_no_others() -> None:
    body = "Escalated (step 1): not acknowledged yet\n" + "x" * 900
    plain = OutboundMessage(
        1, "k1", ChannelKind.SMS, "cp1", Level.CRITICAL, TITLE, body, {"data": {"alert": {"id": 7}}}
    )

    assert sms_text(message([line(12)], body=body)) == sms_text(plain)


def test_a_message_without_others_is_unchanged() -> None:
    plain = OutboundMessage(
        1, "k1", ChannelKind.SMS, "cp1", Level.CRITICAL, TITLE, BODY, {"data": {"alert": {"id": 7}}}
    )

    assert sms_text(plain) == f"{HEAD}\n{HINT}"
    assert "also" not in call_twiml(plain, "https://example.test/voice")


def test_a_call_says_one_sentence_about_the_others_after_the_alert() -> None:
    twiml = call_twiml(message([line(12), line(13)]), "https://example.test/voice")

    assert "<Say>This also matches 2 of your other watches.</Say><Say>Press 1" in twiml
    assert twiml.index("Yankees at Red Sox") < twiml.index("This also matches")
