"""Pure formatting: neutral replies and alert messages -> MarkdownV2 text and inline keyboards.

Every piece of our text is escaped (`escape`), so names with `_*[]()~>#+-=|{}.!` arrive
as written. Buttons carry compact callback data (`callback_data`): a signed action token,
a command to run as if typed, or the short id of a cached choice.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from core.chat import Choice, Reply
from core.domain import Button, Level, OutboundMessage, band_end
from core.render import is_advice

MAX_CALLBACK_BYTES = 64
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_LABEL = 60
TOKEN_PREFIX = "a:"
COMMAND_PREFIX = "c:"
CACHED_PREFIX = "k:"
CHART_LEVELS = (Level.HIGH, Level.CRITICAL)
_RESERVED = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")


def escape(text: str) -> str:
    """Escape `text` for MarkdownV2 so it shows exactly as written."""
    return _RESERVED.sub(r"\\\1", text)


def bold(text: str) -> str:
    return f"*{escape(text)}*"


def italic(text: str) -> str:
    return f"_{escape(text)}_"


def fits_callback(data: str) -> bool:
    return 1 <= len(data.encode()) <= MAX_CALLBACK_BYTES


def token_data(token: str) -> str:
    """The callback data of a signed action token (32 characters + prefix)."""
    return TOKEN_PREFIX + token


def command_data(command: str) -> str | None:
    """The callback data that re-issues `command`, or None when it does not fit 64 bytes."""
    data = COMMAND_PREFIX + command
    return data if fits_callback(data) else None


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _button(button: Button) -> InlineKeyboardButton | None:
    if button.token:
        return InlineKeyboardButton(_label(button.label), callback_data=token_data(button.token))
    if button.url:
        return InlineKeyboardButton(_label(button.label), url=button.url)
    return None


# --- replies ------------------------------------------------------------------------------


def reply_texts(reply: Reply, limit: int = MAX_TEXT) -> list[str]:
    """A reply as MarkdownV2 messages of whole lines, each within `limit` (in order).

    The first line is bold (⚠️ for refusals), choices are numbered. A reply too long for
    one message is split between lines, never cut; only a single line longer than a
    whole message is shortened with "…".
    """
    lines = list(reply.lines) or ["OK"]
    first = ("⚠️ " + lines[0]) if reply.is_error else lines[0]
    first = first[: MAX_LABEL * 10]
    out = [bold(first) if not reply.is_error else escape(first)]
    out += [escape(line) for line in lines[1:]]
    out += [escape(f"{n}. {choice.label}") for n, choice in enumerate(reply.choices, start=1)]
    return split_lines(out, limit)


def text_units(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji may count 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_lines(lines: Sequence[str], limit: int) -> list[str]:
    """Join rendered lines into as few messages as fit `limit` each, splitting between lines."""
    messages: list[list[str]] = [[]]
    used = 0
    for line in lines:
        current = messages[-1]
        if not line.strip() and not current:
            continue  # a message never starts with a blank line
        line = _shorten(line, limit)
        size = text_units(line) + (1 if current else 0)
        if current and used + size > limit:
            if not line.strip():
                continue
            messages.append([line])
            used = text_units(line)
            continue
        current.append(line)
        used += size
    for message in messages:
        while message and not message[-1].strip():
            message.pop()  # nor ends with one
    return ["\n".join(message) for message in messages if message]


def _shorten(line: str, limit: int) -> str:
    """A single rendered line cut to `limit` units with "…", never inside an escape."""
    if text_units(line) <= limit:
        return line
    out, used = [], 0
    for char in line:
        used += text_units(char)
        if used > limit - 1:
            break
        out.append(char)
    cut = "".join(out)
    if (len(cut) - len(cut.rstrip("\\"))) % 2:  # a lone escape would swallow the "…"
        cut = cut[:-1]
    return cut + "…"


def reply_keyboard(
    reply: Reply, choice_data: Callable[[Choice], str | None]
) -> InlineKeyboardMarkup | None:
    """Choices one per row (numbered like the text), then the reply's button rows."""
    rows: list[list[InlineKeyboardButton]] = []
    for n, choice in enumerate(reply.choices, start=1):
        data = choice_data(choice)
        if data is not None:
            rows.append([InlineKeyboardButton(_label(f"{n}. {choice.label}"), callback_data=data)])
    for row in reply.buttons:
        buttons = [b for b in (_button(button) for button in row) if b is not None]
        if buttons:
            rows.append(buttons)
    return InlineKeyboardMarkup(rows) if rows else None


# --- alerts -------------------------------------------------------------------------------


# (when, p10, median, p90) of the cheapest price: the forecast band a chart draws.
Outlook = tuple[datetime, float, float, float]


@dataclass(frozen=True, slots=True)
class PriceChart:
    """What an alert's chart shows; the channel's `ChartRenderer` draws it."""

    points: tuple[tuple[datetime, float], ...]  # (time, the event's cheapest price)
    title: str
    max_price: float | None = None  # the watch's
    outlook: Outlook | None = None
    currency: str | None = None  # the prices' ISO 4217 code, when the payload says it
    # The alert's own price when it is not the event's cheapest (a zone or quantity
    # watch prices the seats it fits): the line is the whole event's, this is theirs.
    seats_price: float | None = None
    starts_at: datetime | None = None  # the event's, when the payload says it


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """An alert ready to send: text (or photo caption), keyboard and its chart, if any."""

    text: str
    keyboard: InlineKeyboardMarkup | None
    chart: PriceChart | None = None


def _data(message: OutboundMessage) -> Mapping[str, Any]:
    data = message.payload.get("data")
    return data if isinstance(data, Mapping) else {}


def _section(message: OutboundMessage, name: str) -> Mapping[str, Any]:
    value = _data(message).get(name)
    return value if isinstance(value, Mapping) else {}


def open_url(message: OutboundMessage) -> str | None:
    """Where Open ↗ leads: a page a person can open (the listing, else the event), or None.

    Never `links.alert`: that is the REST API's JSON, which wants a token (401 in a
    browser).
    """
    links = _section(message, "links")
    for candidate in (
        links.get("listing"),
        _section(message, "market").get("url"),
        _section(message, "event").get("url"),
    ):
        if isinstance(candidate, str) and candidate.startswith(("https://", "http://")):
            return candidate
    return None


def alert_text(message: OutboundMessage, *, limit: int = MAX_TEXT) -> str:
    """Title in bold, then the body lines; the forecast sentence in italics."""
    sentence = _section(message, "recommendation").get("sentence")
    title = (message.title or "Ticket alert")[: MAX_LABEL * 5]
    out = [(bold(title), title)]
    for line in message.body.splitlines():
        if not line.strip():
            continue
        out.append((italic(line) if is_advice(line, sentence) else escape(line), line))
    return _cut(out, limit)


def alert_keyboard(message: OutboundMessage) -> InlineKeyboardMarkup | None:
    """The action buttons two per row, then Open ↗ (a URL button)."""
    buttons = [b for b in (_button(button) for button in message.buttons) if b is not None]
    url = open_url(message)
    if url is not None and not any(b.url for b in buttons):
        buttons.append(InlineKeyboardButton("Open ↗", url=url))
    if not buttons:
        return None
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def chart_points(message: OutboundMessage) -> tuple[tuple[datetime, float], ...]:
    """`data.market.history` as (time, min price) points; () when absent or malformed."""
    raw = _section(message, "market").get("history")
    points = []
    for item in raw if isinstance(raw, Sequence) and not isinstance(raw, str) else ():
        try:
            when, price = item
            points.append((datetime.fromisoformat(str(when)), float(price)))
        except (TypeError, ValueError):
            continue
    return tuple(points)


def chart_currency(message: OutboundMessage) -> str | None:
    """`data.market.currency`: the ISO 4217 code of the event's prices, or None."""
    currency = _section(message, "market").get("currency")
    return currency if isinstance(currency, str) and currency else None


def chart_outlook(
    message: OutboundMessage, points: Sequence[tuple[datetime, float]]
) -> Outlook | None:
    """The 72 h forecast band after the last point (or to the event's start, if sooner),
    from `data.prediction`; None when the payload has no quantiles."""
    if not points:
        return None
    prediction = _section(message, "prediction")
    band = [prediction.get(k) for k in ("p10_72h", "p50_72h", "p90_72h")]
    if not all(isinstance(v, int | float) for v in band):
        return None
    at = band_end(max(t for t, _ in points), event_start(message))
    low, mid, high = (float(v) for v in band)  # type: ignore[arg-type]
    return (at, low, mid, high)


def event_start(message: OutboundMessage) -> datetime | None:
    """`data.event.starts_at` as a time, or None when the payload has no readable one."""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        at = datetime.fromisoformat(str(_section(message, "event")["starts_at"]))
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return None


def seats_price(message: OutboundMessage) -> float | None:
    """`data.alert.price` when it differs from `data.market.min_price` (the seats a zone
    or quantity watch fits, not the event's cheapest ticket), else None."""
    own, cheapest = (
        _section(message, "alert").get("price"),
        _section(message, "market").get("min_price"),
    )
    if not isinstance(own, int | float) or not isinstance(cheapest, int | float):
        return None
    return float(own) if own != cheapest else None


def render_alert(message: OutboundMessage) -> AlertMessage:
    """A new alert; levels 4 and 5 with a price history get a chart (caption-sized text)."""
    points = chart_points(message) if message.level in CHART_LEVELS else ()
    if len(points) < 2:
        points = ()
    max_price = _section(message, "watch").get("max_price")
    chart = None
    if points:
        chart = PriceChart(
            points=points,
            title=message.title,
            max_price=float(max_price) if isinstance(max_price, int | float) else None,
            outlook=chart_outlook(message, points),
            currency=chart_currency(message),
            seats_price=seats_price(message),
            starts_at=event_start(message),
        )
    return AlertMessage(
        text=alert_text(message, limit=MAX_CAPTION if points else MAX_TEXT),
        keyboard=alert_keyboard(message),
        chart=chart,
    )


def render_update(message: OutboundMessage, *, caption: bool) -> str:
    """The text that replaces an alert after a state change (its keyboard is removed)."""
    return alert_text(message, limit=MAX_CAPTION if caption else MAX_TEXT)


def _cut(lines: Sequence[tuple[str, str]], limit: int) -> str:
    """Join rendered lines within `limit` UTF-16 units, dropping whole lines from the end.

    Each line is (its MarkdownV2 source, the text it shows). Telegram counts a caption
    (1024) or message (4096) after parsing the entities, in UTF-16 code units (an emoji
    is 2): the backslashes of escapes and the bold and italic marks do not count, so the
    text shown is measured. Whole lines are dropped, so no escape, entity or surrogate
    pair is cut. The "…" that marks the cut takes 2 units with its newline.
    """
    out: list[str] = []
    used = 0
    for source, shown in lines:
        size = text_units(shown) + (1 if out else 0)
        if used + size > limit - 2:
            out.append("…")
            break
        out.append(source)
        used += size
    return "\n".join(out)
