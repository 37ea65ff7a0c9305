"""The grammar of the settings commands: prefs, quiet, tz, phone, contact and link.

Each parser takes the words after the command and returns one frozen command value, or
raises `CommandError` with a one-line reason and an example.
"""

from __future__ import annotations

import re

from core.command_help import example
from core.command_types import (
    ChannelOrder,
    Command,
    ContactAddCommand,
    DigestSchedule,
    ForgetLearning,
    LinkCommand,
    MinLevel,
    PhoneCodeCommand,
    PhoneCommand,
    PrefsCommand,
    QuietCommand,
    TzCommand,
    WakeForCritical,
)
from core.command_values import (
    MAX_TEXT,
    CommandError,
    ascii_digits,
    clip_word,
    compatible,
    parse_clock,
    parse_level,
    parse_phone,
    parse_switch,
    parse_zone,
)
from core.domain import ChannelKind

__all__ = [
    "parse_contact",
    "parse_link",
    "parse_phone_command",
    "parse_prefs",
    "parse_quiet",
    "parse_tz",
]

_LINK_CODE = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
# What people put between the two ends of quiet hours besides "-": "22:00 to 07:00", an
# en or em dash, the tilde and wave dash of Japanese ranges ("22:00～07:00" is "~" in NFKC).
_RANGE_MARK = re.compile(r"until|till|til|to|[–—~〜]", re.IGNORECASE)

_PREF_KEYS = {
    "channels": "channels",
    "channel": "channels",
    "order": "channels",
    "level": "level",
    "min-level": "level",
    "minlevel": "level",
    "digest": "digest",
    "wake": "wake",
    "learning": "learning",
    "learned": "learning",
    "wake-for-critical": "wake",
    "wake_for_critical": "wake",
}
_PREF_EXAMPLES = {
    "channels": "prefs channels telegram,console",
    "level": "prefs level high",
    "digest": "prefs digest daily",
    "wake": "prefs wake on",
    "learning": "prefs learning reset",
}
_FORGET = frozenset({"reset", "forget", "clear"})


def parse_prefs(rest: list[str]) -> Command:
    if not rest:
        return PrefsCommand()
    key = _PREF_KEYS.get(rest[0].casefold())
    if key is None:
        raise CommandError(
            f"unknown setting '{clip_word(rest[0])}'; use channels, level, digest, wake"
            " or learning",
            "prefs digest daily",
        )
    ex, values = _PREF_EXAMPLES[key], rest[1:]
    if not values:
        raise CommandError(f"prefs {key} needs a value", ex)
    if key == "channels":
        names = [n for part in values for n in part.replace(",", " ").split()]
        if not names:
            raise CommandError("say at least one channel", ex)
        return PrefsCommand(ChannelOrder(tuple(_channel(n, ex) for n in dict.fromkeys(names))))
    if key == "level":
        if len(values) > 2:
            raise CommandError("prefs level takes a level and an optional channel", ex)
        if len(values) == 2 and values[1].casefold() in _CHANNEL_NAMES:
            values = [values[1], values[0]]  # "prefs level high telegram" reads the same
        if len(values) == 1 and values[0].casefold() in _CHANNEL_NAMES:  # the level left out
            named = values[0].casefold()
            raise CommandError(f"say the level for {named}", f"prefs level {named} high")
        channel = _channel(values[0], "prefs level telegram high") if len(values) == 2 else None
        return PrefsCommand(MinLevel(parse_level(values[-1], ex), channel))
    if len(values) > 1:
        raise CommandError(f"prefs {key} takes one value", ex)
    if key == "learning":
        if values[0].casefold() not in _FORGET:
            raise CommandError("prefs learning takes reset (forget what was learned)", ex)
        return PrefsCommand(ForgetLearning())
    if key == "digest":
        schedule = values[0].casefold()
        if schedule not in {"hourly", "daily"}:
            raise CommandError("digest is hourly or daily", ex)
        return PrefsCommand(DigestSchedule(schedule))
    return PrefsCommand(WakeForCritical(parse_switch(values[0], ex)))


_CHANNEL_NAMES = frozenset(kind.value for kind in ChannelKind)


def _channel(name: str, ex: str) -> ChannelKind:
    try:
        return ChannelKind(name.casefold())
    except ValueError:
        known = ", ".join(kind.value for kind in ChannelKind)
        raise CommandError(f"unknown channel '{clip_word(name)}' (known: {known})", ex) from None


def parse_quiet(rest: list[str]) -> Command:
    ex = example("quiet")
    if not rest:
        return QuietCommand(None, None, show=True)
    text = compatible("".join(rest))
    if text.casefold() == "off":
        return QuietCommand(None, None)
    first, dash, second = _RANGE_MARK.sub("-", text).partition("-")
    if not (first and dash and second) or "-" in second:  # "22:00-" or "-": not a range
        raise CommandError("quiet hours are a range like 22:00-07:00, or off", ex)
    start, end = parse_clock(first, ex), parse_clock(second, ex)
    if start == end:
        raise CommandError("quiet hours must start and end at different times", ex)
    return QuietCommand(start, end)


def parse_tz(rest: list[str]) -> Command:
    ex = example("tz")
    if not rest:
        return TzCommand(None)
    if len(rest) > 1:  # "America/New York": zone names write a space as "_"
        try:
            return TzCommand(parse_zone("_".join(rest), ex))
        except CommandError:
            pass
    if len(rest) != 1:
        raise CommandError("give one time zone as Area/City", ex)
    return TzCommand(parse_zone(rest[0], ex))


def parse_phone_command(rest: list[str]) -> Command:
    ex = example("phone")
    if not rest:
        raise CommandError("give your number", ex)
    # "１２３４５６" from a fullwidth keyboard, "١٢٣٤٥٦" from an Arabic one: ASCII digits
    joined = ascii_digits(compatible("".join(rest)))
    if len(joined) == 6 and joined.isascii() and joined.isdigit():  # maybe typed "123 456"
        return PhoneCodeCommand(joined)
    return PhoneCommand(parse_phone(joined, ex))


def parse_contact(rest: list[str]) -> Command:
    ex = example("contact")
    if not rest or rest[0].casefold() != "add":
        raise CommandError("use contact add <name> <number>", ex)
    # The number starts at its "+" or, without one, at the first word that is a number.
    plus = next((i for i, word in enumerate(rest) if word.startswith("+")), None)
    if plus is None:
        plus = next((i for i, w in enumerate(rest) if i > 1 and w[:1].isdigit()), len(rest) - 1)
    name = " ".join(rest[1:plus])
    if not name or plus >= len(rest):
        raise CommandError("contact add needs a name and a number", ex)
    if len(name) > MAX_TEXT:
        raise CommandError("that name is too long", ex)
    number = parse_phone("".join(rest[plus:]), ex, f"contact add {name}")
    return ContactAddCommand(name=name, number=number)


def parse_link(rest: list[str]) -> Command:
    if not rest:
        return LinkCommand()
    code = rest[0]
    if len(rest) > 1 or not _LINK_CODE.match(code):
        raise CommandError(
            "a link code is the one word of 4 or more letters and digits that link gives",
            "link K7P2QX",
        )
    return LinkCommand(code)
