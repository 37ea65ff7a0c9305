"""Value types shared by every layer: plain, frozen, free of I/O.

Everything that crosses a port is one of these. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, IntFlag, StrEnum
from typing import NamedTuple

# What no text column can hold: NUL (PostgreSQL refuses it) and lone UTF-16 surrogates
# (no UTF-8 encoding exists). Ingest, commands and the REST API refuse such text.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Zero-width characters come with copy-paste, unseen (a `str.translate` table that drops
# them): commands drop them before reading a word, matching before comparing words.
_ZERO_WIDTH_CHARS = "\u200b\u200c\u200d\u2060\ufeff"
ZERO_WIDTH = dict.fromkeys(map(ord, _ZERO_WIDTH_CHARS))
# U+200D (ZERO WIDTH JOINER) between two characters outside ASCII joins them into one
# emoji (👨‍👩‍👧, 🏳️‍🌈) or one letter form; any other zero-width character is dropped.
_VISIBLE = rf"[^\x00-\x7f\s{_ZERO_WIDTH_CHARS}]"
_ZERO_WIDTH_OR_JOINER = re.compile(
    rf"(?P<joiner>(?<={_VISIBLE})\u200d(?={_VISIBLE}))|[{_ZERO_WIDTH_CHARS}]"
)


def without_zero_width(text: str) -> str:
    """`text` without the zero-width characters pasted into it, but with each joiner that
    joins two characters outside ASCII (an emoji sequence): what a command keeps of a
    name to store and show. Matching folds the joiners too (`core.rules.fold`)."""
    return _ZERO_WIDTH_OR_JOINER.sub(lambda m: m.group("joiner") or "", text)


class Platform(StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    TELEGRAM = "telegram"
    CONSOLE = "console"
    API = "api"


class ChannelKind(StrEnum):
    """A destination kind in the outbox (a notification's `channel`)."""

    CONSOLE = "console"
    WEBHOOK = "webhook"
    TELEGRAM = "telegram"
    SLACK = "slack"
    DISCORD = "discord"
    SMS = "sms"
    VOICE = "voice"


# The channels a phone number reaches, linked by verifying the number (`phone`), not by
# chatting from an account.
PHONE_CHANNELS = (ChannelKind.SMS.value, ChannelKind.VOICE.value)
# The channels a person chats on (not webhooks, SMS or calls).
CHAT_CHANNELS = frozenset(
    (ChannelKind.TELEGRAM, ChannelKind.SLACK, ChannelKind.DISCORD, ChannelKind.CONSOLE)
)


class TriggerKind(StrEnum):
    PRICE_BELOW = "price_below"
    DROP_PCT = "drop_pct"
    LOW_INVENTORY = "low_inventory"
    NEW_LISTING = "new_listing"
    SELLOUT_RISK = "sellout_risk"


# `alerts.kind` text -> its trigger (`.get`: None for a kind this code does not know).
TRIGGER_KINDS: Mapping[str, TriggerKind] = {kind.value: kind for kind in TriggerKind}


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"
    EXPIRED = "expired"


# Why an alert of an event that has begun resolves: the engine, the skip rules and the
# `event-start` job all say it in these words.
EVENT_STARTED = "event started"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


class ActivityKind(StrEnum):
    COMMAND = "command"
    BUTTON = "button"
    MESSAGE = "message"
    PRESENCE = "presence"
    DELIVERY_SEEN = "delivery_seen"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class Level(IntEnum):
    """Priority level of an alert; higher is more urgent."""

    LOW = 1
    NORMAL = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        return self.name.lower()


class Capability(IntFlag):
    """What a Channel can do beyond sending text."""

    NONE = 0
    BUTTONS = 1
    EDIT = 2
    RICH_TEXT = 4
    IMAGES = 8
    DTMF = 16
    REPLY_CODES = 32


class ActionKind(StrEnum):
    """What a button (or reply code) does to an alert or watch."""

    ACK = "ack"
    SNOOZE = "snooze"
    SNOOZE_CHEAPER = "snooze_cheaper"
    MUTE = "mute"
    BOUGHT = "bought"
    OPEN = "open"
    PAUSE_WATCH = "pause"
    REMOVE_WATCH = "remove"
    CHOOSE = "choose"


# --- market ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventInfo:
    """An event as a source describes it."""

    external_id: str
    name: str
    starts_at: datetime
    category: str | None = None
    performers: tuple[str, ...] = ()
    venue: str | None = None
    city: str | None = None
    capacity: int | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    listing_id: str | None
    price: float
    section: str | None = None
    row: str | None = None
    quantity: int | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class SnapshotIn:
    """One market observation from a source, before it is stored."""

    source: str
    event: EventInfo
    observed_at: datetime
    currency: str | None = "USD"
    min_price: float | None = None
    median_price: float | None = None
    avg_price: float | None = None
    max_price: float | None = None
    listing_count: int | None = None
    ticket_count: int | None = None
    listings: tuple[Listing, ...] = ()


@dataclass(frozen=True, slots=True)
class MarketPoint:
    """A stored snapshot reduced to what matching, scoring and prediction need."""

    event_id: int
    observed_at: datetime
    min_price: float | None
    median_price: float | None
    avg_price: float | None
    max_price: float | None
    listing_count: int | None
    ticket_count: int | None
    # ISO 4217, as the snapshot gave it (None: not said, read as USD). Every price of the
    # point, and the max of a watch compared with them, is in it.
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class EventRef:
    """A stored event, as matching and rendering see it."""

    id: int
    name: str
    starts_at: datetime
    category: str | None = None
    performers: tuple[str, ...] = ()
    venue: str | None = None
    city: str | None = None
    capacity: int | None = None
    timezone: str | None = None


# --- people and what they want ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchSpec:
    """A watch as the matcher sees it (a row of `watches`, frozen)."""

    id: int
    user_id: int
    event_id: int | None = None
    terms: tuple[str, ...] = ()
    category: str | None = None
    venue: str | None = None
    max_price: float | None = None
    quantity: int = 1
    zones: tuple[str, ...] = ()
    triggers: frozenset[TriggerKind] = frozenset({TriggerKind.PRICE_BELOW})
    drop_pct: float | None = None
    low_inventory: int | None = None
    min_level: Level = Level.LOW
    cooldown_s: int = 3600
    active: bool = True
    snoozed_until: datetime | None = None
    snooze_below: float | None = None
    expires_at: datetime | None = None
    favourite: bool = False
    muted_events: frozenset[int] = frozenset()
    # ISO 4217 of `max_price` and `snooze_below`: they hold only on snapshots priced in it
    # (a snapshot without one reads as USD). None: read in each snapshot's own currency.
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """A watch whose trigger fired on a snapshot.

    `why` is the one-line reason, or a function that writes it: most matches only
    re-confirm an open alert and are never shown, so triggers defer the formatting.
    """

    watch: WatchSpec
    event: EventRef
    kind: TriggerKind
    why: str | Callable[[], str]
    price: float | None

    @property
    def reason(self) -> str:
        return self.why if isinstance(self.why, str) else self.why()


# --- prediction ------------------------------------------------------------------------


# Ten tickets or fewer left is reason to buy now rather than wait for a lower price: the
# heuristic forecast judges an event by it, alert messages a pair or zone watch.
SCARCE_TICKETS = 10


class Advice(StrEnum):
    BUY_NOW = "BUY NOW"
    WAIT = "WAIT"
    WATCH = "WATCH"


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a Predictor expects for one event after one snapshot."""

    p_drop_72h: float
    p_rise_72h: float
    p_sellout: float | None
    p10_72h: float | None
    p50_72h: float | None
    p90_72h: float | None
    demand: float
    hours_to_depletion: float | None
    model: str
    p_dip_before_deadline: float | None = None  # a get-in <= 95% of today's before the start


BAND_HORIZON = timedelta(hours=72)


def band_end(after: datetime, starts_at: datetime | None) -> datetime:
    """When a forecast made at `after` puts its p10/p50/p90 (`Prediction.p10_72h` ...):
    72 h later, or at the event's start if that is sooner."""
    end = after + BAND_HORIZON
    return min(end, starts_at) if starts_at is not None else end


@dataclass(frozen=True, slots=True)
class Recommendation:
    advice: Advice
    expected_saving: float
    availability_risk: float
    confidence: float
    sentence: str


# --- scoring ---------------------------------------------------------------------------


class Factor(NamedTuple):
    """One factor of the priority score, in [0, 1], with the reason it has that value.

    A named tuple rather than a frozen dataclass: every re-score builds six, and a tuple
    is built in half the time.
    """

    name: str
    value: float
    weight: float
    reason: str


@dataclass(frozen=True, slots=True)
class Score:
    value: float
    level: Level
    factors: tuple[Factor, ...]


# --- delivery --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    token: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A neutral message for one destination; each Channel renders it its own way."""

    notification_id: int
    idempotency_key: str
    channel: ChannelKind
    address: str
    level: Level
    title: str
    body: str
    payload: dict[str, object] = field(default_factory=dict)
    buttons: tuple[Button, ...] = ()
    edit_of: DeliveryReceipt | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """Proof of a send: the platform's message id, used later to edit in place."""

    channel: ChannelKind
    address: str
    message_id: str | None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """A snapshot just written by ingest, handed to the alert engine in the same transaction.

    `previous` is the event's newest earlier snapshot (None for its first one).
    """

    snapshot_id: int
    event: EventRef
    point: MarketPoint
    previous: MarketPoint | None
    listings: tuple[Listing, ...] = ()
    new_listing_ids: tuple[str, ...] = ()


# How quantities are said to people; ml writes its sentences with these too.


# Prices that say no currency are in this one.
DEFAULT_CURRENCY = "USD"


def max_priced_in(max_currency: str | None, currency: str | None) -> bool:
    """Whether a max typed in `max_currency` may be compared with prices in `currency`
    (None reads as USD): a max without a currency of its own is read in each event's,
    and amounts are never converted ("under £80" says nothing of a game in dollars)."""
    return max_currency is None or max_currency == (currency or DEFAULT_CURRENCY)


def rough_duration(seconds: float) -> str:
    """Format an estimate roughly, never "0 h": "under a minute", "about 40 min",
    "about 10 h", "about 1 day", "1 day 6 h".

    Every estimate in one alert (the urgency row, the recommendation) goes through this
    one function so that two lines describing the same quantity read the same.
    """
    total = max(0.0, seconds)
    if total < 60.0:
        return "under a minute"
    if total < 3570.0:  # rounds to under 60 min
        return f"about {max(1, round(total / 60.0))} min"
    hours = round(total / 3600.0)
    if hours < 24:
        return f"about {hours} h"
    days, hours = divmod(hours, 24)
    return f"{plural(days, 'day')} {hours} h" if hours else f"about {plural(days, 'day')}"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`count` and `noun`, plural unless it is one: "1 ticket", "1,400 tickets".

    Args:
        count: how many.
        noun: the singular noun.
        many: the plural when it is not `noun` + "s".
    """
    word = noun if count == 1 else (many if many is not None else f"{noun}s")
    return f"{count:,} {word}"
