"""Neutral messages -> SMS text and TwiML (pure).

An SMS body is sized in segments, as carriers bill and concatenate it (3GPP TS 23.038):
text made only of the GSM 7-bit default alphabet goes as GSM-7, 160 septets in one
segment or 153 per segment of a longer one, a character of the extension table taking
2; one other character anywhere (an emoji, a curly quote, "—") turns the whole body into
UCS-2, 70 UTF-16 units in one segment or 67 per segment. Our own typography (dashes,
curly quotes, "…", "·", a line's leading emoji) is made GSM before measuring, so our
texts stay GSM-7; a name a person typed is kept as written and measured as it goes.

A message that stands for other open alerts of the person too (`data.also`, see
`core.escalation_texts`) names them in short lines after its own text, as many as fit
whole, then "+N more"; its own text is never cut to make room for them.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from core.domain import OutboundMessage
from core.render import body_parts

MAX_SEGMENTS = 4  # carriers cap concatenation; each segment is billed
# 3GPP TS 23.038 §6.2.1: the GSM 7-bit default alphabet (0x1B, the escape, left out) and
# its extension table (each character sent as the escape and itself: 2 septets).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
# (one segment, each segment of a concatenated message) in septets or UTF-16 units.
GSM7_SEGMENT, UCS2_SEGMENT = (160, 153), (70, 67)
CUT = "..."
# Our templates' typography -> GSM-7 look-alikes.
_GSM_EQUIVALENTS = str.maketrans(
    {
        "‘": "'", "’": "'", "‚": "'", "′": "'", "“": '"', "”": '"', "„": '"', "″": '"',
        "–": "-", "—": "-", "−": "-", "‐": "-", "‑": "-", "…": "...", "·": "-", "•": "-",
        "→": "->", "←": "<-", "«": '"', "»": '"', "\u00a0": " ", "\u202f": " ",
        "\u2009": " ", "\t": " ", "\ufe0f": None, "\u200d": None,
    }
)  # fmt: skip
_JOINERS = frozenset("\ufe0f\u200d")  # emoji presentation selector, zero-width joiner
# Not STOP: to the carrier STOP means "no more texts from this number at all".
REPLY_HINT = "Reply 1 or ACK {id} to acknowledge, SNOOZE 2h, MUTE to stop alerts for this event."
KEYPAD = (
    "Press 1 to acknowledge. Press 2 to snooze for one hour. Press 3 to stop alerts for this event."
)
NO_KEY = "No key pressed. We will try again later. Goodbye."


def alert_id(message: OutboundMessage) -> int | None:
    data = message.payload.get("data")
    alert = data.get("alert") if isinstance(data, dict) else None
    value = alert.get("id") if isinstance(alert, dict) else None
    return value if isinstance(value, int) else None


def also(message: OutboundMessage) -> tuple[list[str], int, str]:
    """The other open alerts `message` stands for (`data.also`): their lines, how many
    there are (more than the lines, when many) and the sentence a call says of them."""
    data = message.payload.get("data")
    piece = data.get("also") if isinstance(data, dict) else None
    if not isinstance(piece, dict):
        return [], 0, ""
    lines = [line for line in piece.get("lines") or () if isinstance(line, str) and line]
    count = piece.get("count")
    spoken = piece.get("spoken")
    return (
        lines,
        max(count, len(lines)) if isinstance(count, int) else len(lines),
        spoken if isinstance(spoken, str) else "",
    )


def sms_text(message: OutboundMessage) -> str:
    """The SMS body: title, the alert's status note, headline and where and when (not its
    priority and score: `body_parts`; another message's first two lines), the other
    alerts it stands for, and the reply codes for alerts.

    Our typography is made GSM-7 (`gsm_plain`); the whole body, reply codes included, is
    at most `MAX_SEGMENTS` segments: the lines of other alerts are dropped first (the
    last first, counted in "+N more"), then the text is cut with "...".
    """
    body = [line for line in message.body.splitlines() if line]
    parts = body_parts(body)
    lines = [message.title, *(parts.lines() if parts else body[:2])]
    ident = alert_id(message)
    hint = REPLY_HINT.format(id=ident) if ident is not None else ""
    plain = (gsm_plain(line) for line in lines)
    head = "\n".join(line for line in plain if line)
    others, count, _ = also(message)
    if count and sms_segments(_joined(head, hint)) <= MAX_SEGMENTS:
        return _with_others(head, [gsm_plain(line) for line in others], count, hint)
    return _fit(head, hint, MAX_SEGMENTS)


def _joined(*parts: str) -> str:
    return "\n".join(part for part in parts if part)


def _with_others(head: str, others: list[str], count: int, hint: str) -> str:
    """`head`, as many of `others` as fit whole, "+N more" for the rest of `count`, then
    `hint`; `head` and `hint` alone are known to fit."""
    for shown in range(len(others), -1, -1):
        left = count - shown
        more = "" if not left else f"+{left} more" if shown else f"Also: +{left} more"
        text = _joined(head, *others[:shown], more, hint)
        if sms_segments(text) <= MAX_SEGMENTS:
            return text
    return _joined(head, hint)


def gsm_plain(line: str) -> str:
    """`line` with our typography in GSM-7 look-alikes and without the pictographs our
    templates lead a line with ("🔥 ", "✅ ", "⏳ "): decoration, not news."""
    start = 0
    while start < len(line) and (_is_pictograph(line[start]) or line[start] in _JOINERS):
        start += 1
    if start and line[start : start + 1].isspace():
        line = line[start:]
    return line.translate(_GSM_EQUIVALENTS).strip()


def _is_pictograph(char: str) -> bool:
    return unicodedata.category(char) == "So" and char not in GSM_BASIC


def is_gsm7(text: str) -> bool:
    """Whether `text` can go in the GSM 7-bit alphabet (basic or extension table)."""
    return all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)


def sms_segments(text: str) -> int:
    """How many segments `text` is sent as: GSM-7 when it can be, UCS-2 otherwise.

    A character never straddles two segments (an extension pair or a surrogate pair
    starts the next one instead), so a long text is counted segment by segment.
    """
    if is_gsm7(text):
        (single, each), sizes = GSM7_SEGMENT, [2 if c in GSM_EXTENSION else 1 for c in text]
    else:
        (single, each), sizes = UCS2_SEGMENT, [2 if ord(c) > 0xFFFF else 1 for c in text]
    if sum(sizes) <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > each:
            segments, used = segments + 1, 0
        used += size
    return segments


def _fit(text: str, hint: str, max_segments: int) -> str:
    """`text` then `hint` on its own line, `text` cut (ending "...") to fit the segments."""
    if sms_segments(_joined(text, hint)) <= max_segments:
        return _joined(text, hint)
    # Segments only grow with a longer prefix (more characters, never a cheaper
    # encoding), so the longest prefix that fits is found by bisection.
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if sms_segments(_joined(text[:mid].rstrip() + CUT, hint)) <= max_segments:
            low = mid
        else:
            high = mid - 1
    return _joined(text[:low].rstrip() + CUT, hint)


def _speakable(text: str) -> str:
    """`text` for <Say>: the dash between event and price a pause, letters of any script,
    currency symbols ("£50" is said in pounds) and ASCII kept; pictographs dropped, and
    control characters (XML 1.0 forbids them: Twilio could not read the TwiML) spaces."""
    kept = (
        ch if ch.isprintable() else " "
        for ch in text.replace(" — ", ", ").replace("—", ", ").replace(" · ", ", ")
        if ch.isascii() or ch.isalpha() or unicodedata.category(ch) == "Sc" or not ch.isprintable()
    )
    return " ".join("".join(kept).split())


def call_twiml(message: OutboundMessage, action_url: str) -> str:
    """The TwiML of an alert call: <Say> the alert (its title, where and when) and its
    keys inside a one-digit <Gather>; with no key pressed, the event and the keys once
    more, then goodbye."""
    response = VoiceResponse()
    what = _speakable(message.title)
    parts = body_parts([line for line in message.body.splitlines() if line])
    where = f" {_speakable(parts.where_when)}." if parts and parts.where_when else ""
    gather = _gather(response, action_url)
    gather.say(f"HDTickets alert. {what}.{where}")
    _, count, spoken = also(message)
    if count and spoken:
        gather.say(_speakable(spoken))
    gather.say(KEYPAD)
    _gather(response, action_url).say(f"Again: {what}. {KEYPAD}")
    response.say(NO_KEY)
    return str(response)


def again_twiml(text: str, action_url: str) -> str:
    """The answer to a key that means nothing: say `text` (the keys) and wait for one."""
    response = VoiceResponse()
    _gather(response, action_url).say(text)
    response.say(NO_KEY)
    return str(response)


def _gather(response: VoiceResponse, action_url: str) -> Any:
    return response.gather(num_digits=1, action=action_url, method="POST", timeout=8)


def say_twiml(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)


def message_twiml(text: str) -> str:
    """An SMS answer: our typography made GSM-7, as in `sms_text`, so a "—" in a
    sentence does not turn the answer into UCS-2 (twice the segments)."""
    response = MessagingResponse()
    plain = "\n".join(gsm_plain(line) for line in text.splitlines())
    if plain:
        response.message(plain)
    return str(response)
