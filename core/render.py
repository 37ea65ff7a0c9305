"""Neutral alert text and the notification payload every channel reads. Pure.

A title such as "🔥 Rockies at Diamondbacks — $28 (your max $40)" (prices in the event's
currency: "£28" for a London event) and a few plain body lines (priority, venue and local
start time, tickets left, factor reasons, the forecast sentence). Channels format these
their own way; the payload shape is the one in briefs/common.md and DESIGN.md §9.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from core.actions import ActionSigner
from core.domain import (
    DEFAULT_CURRENCY,
    SCARCE_TICKETS,
    ActionKind,
    Advice,
    EventRef,
    Factor,
    Level,
    MarketPoint,
    Prediction,
    Recommendation,
    StoredSnapshot,
    TriggerKind,
    WatchSpec,
    max_priced_in,
    plural,
)
from core.formatting import (
    clip,
    event_zone,
    iso,
    local_time,
    money,
    place,
)
from core.ports import Forecast
from core.triggers import priced_by_listings

LEVEL_EMOJI: Mapping[Level, str] = {
    Level.CRITICAL: "🚨",
    Level.HIGH: "🔥",
    Level.MEDIUM: "🔔",
    Level.NORMAL: "🎟️",
    Level.LOW: "📋",
}
STATUS_EMOJI: Mapping[str, str] = {
    "acknowledged": "✅",
    "snoozed": "💤",
    "resolved": "☑️",
}
ALERT_BUTTONS: tuple[tuple[str, ActionKind], ...] = (
    ("Acknowledge", ActionKind.ACK),
    ("Snooze 1h", ActionKind.SNOOZE),
    ("Snooze until cheaper", ActionKind.SNOOZE_CHEAPER),
    ("Mute event", ActionKind.MUTE),
    ("Bought", ActionKind.BOUGHT),
)


def _faces(
    buttons: Sequence[tuple[str, ActionKind]],
) -> tuple[tuple[ActionKind, ...], tuple[tuple[str, str], ...]]:
    """The buttons' actions, and (label, action value) of each, computed once."""
    return tuple(a for _, a in buttons), tuple((label, a.value) for label, a in buttons)


# Every alert message carries all the buttons but an acknowledged alert's (`alert_buttons`).
_BUTTONS = _faces(ALERT_BUTTONS)
_ACKED_BUTTONS = _faces([b for b in ALERT_BUTTONS if b[1] is not ActionKind.ACK])


OTHERS_SHOWN = 3  # other alerts a message names one by one; the rest are counted
LABEL_CHARS = 40


@dataclass(frozen=True, slots=True)
class OtherAlert:
    """Another alert of the person about the same event, as a message names it."""

    watch_id: int
    label: str | None
    headline: str


def other_alerts_text(
    others: Sequence[OtherAlert], *, watch_id: int, group: bool, lead: str, verb: str, rest: str
) -> str:
    """Lines naming a person's other alerts about an event in one message, e.g.
    "Also matches your watch #12 (mlb): down 20% to $50 from $62 in 24 h" or
    "Still open on your watch #12 (mlb): under $60 at $55".

    Args:
        others: the other alerts, in the order they are named.
        watch_id: the watch of the message's own alert.
        group: the message goes to a group chat ("watch #12", not "your watch #12").
        lead: what begins a line about another trigger of the same watch ("Also").
        verb: what begins a line about another watch ("Also matches").
        rest: what the count of alerts not named is of ("more of your alerts").
    """
    whose = "watch" if group else "your watch"
    lines = []
    for other in others[:OTHERS_SHOWN]:
        if other.watch_id == watch_id:
            lines.append(f"{lead}: {other.headline}")
            continue
        label = f" ({clip(other.label, LABEL_CHARS)})" if other.label else ""
        lines.append(f"{verb} {whose} #{other.watch_id}{label}: {other.headline}")
    if len(others) > OTHERS_SHOWN:
        lines.append(f"… and {len(others) - OTHERS_SHOWN} {rest}")
    return "\n".join(lines)


# How a price in each currency is written: the symbol before the amount, and whether the
# currency has cents. Any other ISO 4217 code is written before the amount ("CAD 28").
# Snapshots without a currency (None) are read as USD, the feeds' default.
@dataclass(frozen=True, slots=True)
class AlertView:
    """What the text of one alert message is made of."""

    alert_id: int
    kind: str
    status: str
    level: Level
    score: float
    event: EventRef
    price: float | None = None
    max_price: float | None = None
    tickets_left: int | None = None
    headline: str | None = None
    factors: tuple[Factor, ...] = ()
    sentence: str | None = None
    timezone: str | None = None
    status_note: str | None = None
    # The event's prices are in this currency (the snapshot's; None reads as USD), and so
    # is the watch's max: it is compared with them as a bare number...
    currency: str | None = None
    # ...unless the max was typed in a currency of its own: then it is quoted only beside
    # prices in that one ("your max £80" is not said of a game priced in dollars).
    max_currency: str | None = None


def title(view: AlertView) -> str:
    """One line: level emoji (or status emoji), event, price vs the person's max."""
    emoji = STATUS_EMOJI.get(view.status, LEVEL_EMOJI[view.level])
    if view.kind == TriggerKind.LOW_INVENTORY and view.tickets_left is not None:
        detail = f"only {plural(view.tickets_left, 'ticket')} left"
    elif (
        view.price is not None
        and view.max_price is not None
        and max_priced_in(view.max_currency, view.currency)
    ):
        currency = view.currency
        detail = f"{money(view.price, currency)} (your max {money(view.max_price, currency)})"
    elif view.price is not None:
        detail = money(view.price, view.currency)
    else:
        detail = view.kind.replace("_", " ")
    prefix = f"{view.status.capitalize()}: " if view.status in STATUS_EMOJI else ""
    return f"{emoji} {prefix}{view.event.name} — {detail}"


_PRIORITY: Mapping[int, str] = {level: f"{level.label.capitalize()} priority" for level in Level}
# The start of a message's priority line, "High priority (score 0.67): ", for channels
# too short for it (SMS, calls): `body_parts`.
_PRIORITY_LINE = re.compile(
    rf"^(?:{'|'.join(map(re.escape, _PRIORITY.values()))}) \(score \d+\.\d+\)(?:: |$)"
)


@dataclass(frozen=True, slots=True)
class BodyParts:
    """An alert message's body as a short channel (SMS, a call) tells it: no priority or
    score, no factors."""

    notes: tuple[str, ...]  # the lines before the priority line: a status note
    headline: str  # what happened: "down 21% to $19 from $24 in 24 h"
    where_when: str | None  # "Chase Field, Phoenix · Sun 31 Mar 13:10 MST"

    def lines(self) -> list[str]:
        return [*self.notes, *filter(None, (self.headline, self.where_when))]


def body_parts(lines: Sequence[str]) -> BodyParts | None:
    """The parts of a message body (`body_lines`) around its priority line; None when no
    line is one (not an alert's message)."""
    for i, line in enumerate(lines):
        if match := _PRIORITY_LINE.match(line):
            where_when = lines[i + 1] if i + 1 < len(lines) else None
            return BodyParts(tuple(lines[:i]), line[match.end() :], where_when)
    return None


def body_lines(view: AlertView) -> list[str]:
    """Plain lines: priority, where and when, tickets left, reasons, the forecast."""
    lines: list[str] = []
    if view.status_note:
        lines.append(view.status_note)
    summary = f"{_PRIORITY[view.level]} (score {view.score:.2f})"
    lines.append(f"{summary}: {view.headline}" if view.headline else summary)
    where = place(view.event.venue, view.event.city)
    when = local_time(view.event.starts_at, event_zone(view.timezone, view.event.timezone))
    lines.append(f"{where} · {when}" if where else when)
    if view.tickets_left is not None:
        lines.append(f"{plural(view.tickets_left, 'ticket')} left")
    lines += [f"• {name}: {reason}" for name, _, _, reason in view.factors]
    if view.sentence:
        lines.append(view.sentence)
    return lines


def body(view: AlertView) -> str:
    return "\n".join(body_lines(view))


def advice_sentence(
    forecast: Forecast | None,
    spec: WatchSpec | None,
    price: float | None,
    stored: StoredSnapshot | None,
    left: int | None,
) -> str | None:
    """The forecast's sentence as an alert's message says it to the watch's person: the
    first message and every later one (an edit, a webhook's text) alike.

    Said of the event's cheapest ticket when the watch's own price (its zones or quantity)
    is another: the forecast knows only the event minimum. The forecast also judged
    availability on the event's total: a pair or zone watch that only a few listed tickets
    fit is told to buy now, not to wait or watch beside its own "8 tickets left" (`left`:
    the tickets that fit it, as the message shows them). `stored`: the snapshot the watch
    was priced on (None: unknown, the forecast's own sentence). The stored recommendation
    (`data.recommendation`) stays the forecast's.
    """
    if forecast is None:
        return None
    sentence = forecast.recommendation.sentence
    if spec is None or stored is None or not priced_by_listings(spec, stored.listings):
        return sentence
    if (
        forecast.recommendation.advice is not Advice.BUY_NOW
        and left is not None
        and 0 < left <= SCARCE_TICKETS
    ):
        fit = "fits" if left == 1 else "fit"
        return f"Only {plural(left, 'ticket')} {fit} your search{_SCARCE_END}"
    cheapest = stored.point.min_price
    if price is None or cheapest is None or price == cheapest:
        return sentence
    return f"{_CHEAPEST} ({money(cheapest, stored.point.currency)}): {sentence}"


_SCARCE_END = " — buy now rather than wait"
_CHEAPEST = "For the event's cheapest ticket"


def is_advice(line: str, sentence: str | None) -> bool:
    """Whether body `line` is the forecast's sentence as `advice_sentence` words it, for a
    stored `sentence` (platforms set it apart, e.g. in italics)."""
    if not sentence:
        return False
    if line == sentence or (line.startswith(_CHEAPEST) and line.endswith(f"): {sentence}")):
        return True
    return line.startswith("Only ") and line.endswith(f"your search{_SCARCE_END}")


# --- payload ----------------------------------------------------------------------------


def factor_dicts(factors: Sequence[Factor]) -> list[dict[str, Any]]:
    return [
        {"name": name, "value": value, "weight": weight, "reason": reason}
        for name, value, weight, reason in factors
    ]


def factors_from_dicts(raw: Sequence[Mapping[str, Any]] | None) -> tuple[Factor, ...]:
    """Read factors back from `alerts.factors` JSON; malformed entries are skipped."""
    out = []
    for item in raw or ():
        try:
            out.append(
                Factor(
                    str(item["name"]),
                    float(item["value"]),
                    float(item["weight"]),
                    str(item["reason"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(out)


def event_dict(event: EventRef) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "starts_at": event.starts_at.isoformat(),
        "category": event.category,
        "performers": list(event.performers),
        "venue": event.venue,
        "city": event.city,
        "capacity": event.capacity,
        "timezone": event.timezone,
    }


def market_dict(point: MarketPoint | None) -> dict[str, Any]:
    if point is None:
        return {}
    return {
        "observed_at": point.observed_at.isoformat(),
        "min_price": point.min_price,
        "median_price": point.median_price,
        "avg_price": point.avg_price,
        "max_price": point.max_price,
        "listing_count": point.listing_count,
        "ticket_count": point.ticket_count,
        "currency": point.currency,
    }


def written_price(payload: Mapping[str, Any]) -> tuple[float | None, str]:
    """The alert price a stored payload quotes (None: none), and its currency."""
    data = payload.get("data") or {}
    price = (data.get("alert") or {}).get("price")
    currency = (data.get("market") or {}).get("currency") or DEFAULT_CURRENCY
    return (float(price) if isinstance(price, int | float) else None), str(currency)


def price_moved(price: float | None, price_now: float | None) -> bool:
    """Whether `price_now` (None: unknown) differs from `price` by a cent or more."""
    return price is not None and price_now is not None and round(price, 2) != round(price_now, 2)


# Both hold scalars only, so reading the fields gives what `asdict` gives, without its
# recursive deep copy.
_PREDICTION_FIELDS = tuple(f.name for f in fields(Prediction))
_RECOMMENDATION_FIELDS = tuple(f.name for f in fields(Recommendation))


def prediction_dict(prediction: Prediction) -> dict[str, Any]:
    return {name: getattr(prediction, name) for name in _PREDICTION_FIELDS}


def recommendation_dict(recommendation: Recommendation) -> dict[str, Any]:
    out = {name: getattr(recommendation, name) for name in _RECOMMENDATION_FIELDS}
    out["advice"] = recommendation.advice.value
    return out


def forecast_from_dicts(
    prediction: Mapping[str, Any] | None, recommendation: Mapping[str, Any] | None
) -> Forecast | None:
    """Read a forecast back from `alerts.prediction` and `recommendation` (as
    `prediction_dict` and `recommendation_dict` wrote them); None when either is missing
    or does not read."""
    if not prediction or not recommendation:
        return None
    try:
        return Forecast(
            Prediction(**{k: v for k, v in prediction.items() if k in _PREDICTION_FIELDS}),
            Recommendation(
                Advice(recommendation["advice"]),
                float(recommendation["expected_saving"]),
                float(recommendation["availability_risk"]),
                float(recommendation["confidence"]),
                str(recommendation["sentence"]),
            ),
        )
    except (KeyError, TypeError, ValueError):
        return None


def alert_buttons(
    signer: ActionSigner,
    alert_id: int,
    *,
    now: datetime,
    rng: random.Random,
    acknowledged: bool = False,
) -> list[dict[str, Any]]:
    """The alert's action buttons (ALERT_BUTTONS) as the payload carries them, each with
    its own signed token.

    An `acknowledged` alert's message (its rise to critical) has no Acknowledge button,
    which could only answer that it already is.
    """
    actions, faces = _ACKED_BUTTONS if acknowledged else _BUTTONS
    tokens = signer.sign_all(actions, alert_id, now=now, nonce=rng.randbytes(4 * len(actions)))
    return [
        {"label": label, "action": action, "token": token, "url": None}
        for (label, action), token in zip(faces, tokens, strict=True)
    ]


def payload(
    *,
    event_type: str,
    timestamp: datetime,
    title_text: str,
    body_text: str,
    buttons: Sequence[Mapping[str, Any]] = (),
    factors: Sequence[Factor] = (),
    data: Mapping[str, Any] | None = None,
    edit_of: Mapping[str, Any] | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Build the notification payload of briefs/common.md (JSON-ready).

    With `fresh`, `buttons` and `data` were built for this payload alone (lists and dicts)
    and are taken as they are instead of copied.
    """
    return {
        "event_type": event_type,
        "timestamp": iso(timestamp),
        "title": title_text,
        "body": body_text,
        "buttons": list(buttons) if fresh else [dict(b) for b in buttons],
        "factors": factor_dicts(factors),
        "data": data if fresh and isinstance(data, dict) else dict(data or {}),
        "edit_of": dict(edit_of) if edit_of is not None else None,
    }
