"""The values a chat command parses into: one frozen dataclass per command.

`core.commands.parse` builds them; `core.handlers` acts on them. They say what the
person asked for, already validated, with no platform detail left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.command_values import Price
from core.domain import ChannelKind, Level

DEFAULT_SNOOZE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class WatchCommand:
    """`watch`: `event_id` for "watch #12"; `any_event` for "watch any <words>";
    `currency` the one typed with the max price ("under £80" -> "GBP"), None for none."""

    what: str
    max_price: float | None = None
    quantity: int | None = None
    zone: str | None = None
    drop_pct: float | None = None
    event_id: int | None = None
    any_event: bool = False
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class WatchesCommand:
    pass


@dataclass(frozen=True, slots=True)
class UnwatchCommand:
    watch_id: int


@dataclass(frozen=True, slots=True)
class PauseCommand:
    watch_id: int | None  # None: `pause all`, every watch of this chat


@dataclass(frozen=True, slots=True)
class ResumeCommand:
    watch_id: int | None  # None: `resume all`


@dataclass(frozen=True, slots=True)
class AlertsCommand:
    page: int = 1  # `alerts 2`: the next page of the list


@dataclass(frozen=True, slots=True)
class AckCommand:
    alert_id: int


@dataclass(frozen=True, slots=True)
class SnoozeCommand:
    """Snooze for `duration`, or until the price is under `below` (then duration is None);
    `below` is a `Price`, which says the currency typed with it, if any."""

    alert_id: int
    duration: timedelta | None = DEFAULT_SNOOZE
    below: Price | None = None


@dataclass(frozen=True, slots=True)
class MuteCommand:
    alert_id: int


@dataclass(frozen=True, slots=True)
class BoughtCommand:
    alert_id: int


@dataclass(frozen=True, slots=True)
class MarketCommand:
    what: str
    event_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelOrder:
    channels: tuple[ChannelKind, ...]


@dataclass(frozen=True, slots=True)
class MinLevel:
    """Minimum level to notify; on one channel, or by default (channel None)."""

    level: Level
    channel: ChannelKind | None = None


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    schedule: str  # hourly | daily


@dataclass(frozen=True, slots=True)
class WakeForCritical:
    on: bool


@dataclass(frozen=True, slots=True)
class ForgetLearning:
    """Forget what was learned from the person's responses (`prefs learning reset`)."""


PrefSetting = ChannelOrder | MinLevel | DigestSchedule | WakeForCritical | ForgetLearning


@dataclass(frozen=True, slots=True)
class PrefsCommand:
    """`prefs` alone shows the preferences; with a setting it changes one."""

    setting: PrefSetting | None = None


@dataclass(frozen=True, slots=True)
class QuietCommand:
    """Quiet hours in local time; both None means "off"; `show`: `quiet` alone, which
    changes nothing and says what is set."""

    start: str | None
    end: str | None
    show: bool = False


@dataclass(frozen=True, slots=True)
class TzCommand:
    zone: str | None  # None: `tz` alone, which says what is set


@dataclass(frozen=True, slots=True)
class PhoneCommand:
    number: str


@dataclass(frozen=True, slots=True)
class PhoneCodeCommand:
    """`phone 123456`: the code texted by `phone <number>`."""

    code: str


@dataclass(frozen=True, slots=True)
class ContactAddCommand:
    name: str
    number: str


@dataclass(frozen=True, slots=True)
class LinkCommand:
    code: str | None = None


@dataclass(frozen=True, slots=True)
class HelpCommand:
    topic: str | None = None
    welcome: bool = False  # `/start`, a person's first message: a greeting first


Command = (
    WatchCommand
    | WatchesCommand
    | UnwatchCommand
    | PauseCommand
    | ResumeCommand
    | AlertsCommand
    | AckCommand
    | SnoozeCommand
    | MuteCommand
    | BoughtCommand
    | MarketCommand
    | PrefsCommand
    | QuietCommand
    | TzCommand
    | PhoneCommand
    | PhoneCodeCommand
    | ContactAddCommand
    | LinkCommand
    | HelpCommand
)
