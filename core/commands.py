"""The chat command grammar, parsed once for every platform (DESIGN.md §8).

`parse(text)` turns what a person typed — "/watch@HDTBot Yankees under $80 qty 2" —
into one frozen command value, or raises `CommandError` with a one-line reason and an
example. A leading "/", a Telegram "@BotName" suffix, a leading mention of the bot
("@HDTBot watch yankees", Slack's "<@U123> watch yankees") and Slack's "tickets" prefix
are accepted; keywords are case-insensitive; names keep their case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeAlias

from core import command_help
from core.command_help import example
from core.command_types import (
    AckCommand,
    AlertsCommand,
    BoughtCommand,
    ChannelOrder,
    Command,
    ContactAddCommand,
    DigestSchedule,
    HelpCommand,
    LinkCommand,
    MarketCommand,
    MinLevel,
    MuteCommand,
    PauseCommand,
    PhoneCodeCommand,
    PhoneCommand,
    PrefsCommand,
    PrefSetting,
    QuietCommand,
    ResumeCommand,
    SnoozeCommand,
    TzCommand,
    UnwatchCommand,
    WakeForCritical,
    WatchCommand,
    WatchesCommand,
)
from core.command_values import (
    CommandError,
    is_currency,
    parse_clock,
    parse_duration,
    parse_id,
    parse_level,
    parse_percent,
    parse_phone,
    parse_price,
    parse_quantity,
    parse_switch,
    parse_zone,
)
from core.domain import UNSTORABLE, ChannelKind
from core.render import CURRENCY_SYMBOLS, clip

__all__ = [
    "OPTION_WORDS",
    "AckCommand",
    "AlertsCommand",
    "BoughtCommand",
    "ChannelOrder",
    "Command",
    "CommandError",
    "ContactAddCommand",
    "DigestSchedule",
    "HelpCommand",
    "LinkCommand",
    "MarketCommand",
    "MinLevel",
    "MuteCommand",
    "PauseCommand",
    "PhoneCodeCommand",
    "PhoneCommand",
    "PrefSetting",
    "PrefsCommand",
    "QuietCommand",
    "ResumeCommand",
    "SnoozeCommand",
    "TzCommand",
    "UnwatchCommand",
    "WakeForCritical",
    "WatchCommand",
    "WatchesCommand",
    "command_name",
    "parse",
]

MAX_TEXT = 200
_QUOTES = {'"': '"', "“": "”", "«": "»"}


_Parser: TypeAlias = Callable[[list[str]], Command]
_LINK_CODE = re.compile(r"^[A-Za-z0-9_-]{4,64}$")


def _unaddressed(text: str) -> list[str]:
    """The words of `text` without a leading mention of the bot ("@HDTBot watch ...")."""
    words = text.split()
    if len(words) > 1 and words[0].startswith(("@", "<@")):
        return words[1:]
    return words


def command_name(text: str) -> str:
    """Return the canonical command word of `text` ("" when it has none)."""
    words = _unaddressed(text)
    if not words:
        return ""
    word = words[0].removeprefix("/").split("@", 1)[0].casefold()
    if word == "tickets" and len(words) > 1:
        word = words[1].casefold()
    return command_help.ALIASES.get(word, word)


def parse(text: str) -> Command:
    """Parse one chat message into a command.

    Raises:
        CommandError: with a one-line reason and an example, for any bad input.
    """
    if UNSTORABLE.search(text):
        raise CommandError("that message holds a NUL or a broken character", "help")
    words = _unaddressed(text)
    if not words:
        raise CommandError("say a command", "help")
    word = words[0].removeprefix("/").split("@", 1)[0].casefold()
    if word == "tickets":  # Slack's "/tickets <subcommand>"
        words = words[1:]
        if not words:
            return HelpCommand()
        word = words[0].removeprefix("/").casefold()
    rest = words[1:]
    if word == "start" and rest:  # Telegram deep link: /start <link code>
        return _link(rest)
    if not word:  # "/" or "@bot" alone
        raise CommandError("say a command after the /", "help")
    name = command_help.ALIASES.get(word, word)
    parser = _PARSERS.get(name)
    if parser is None:
        guess = command_help.closest(word)
        if guess is None:
            raise CommandError(f"unknown command '{_clip(word)}'; type help for the list", "help")
        raise CommandError(
            f"unknown command '{_clip(word)}' (did you mean {guess}?)", example(guess)
        )
    return parser(rest)


def _clip(text: str) -> str:
    return clip(text, 30)


def _no_args(name: str, command: Command) -> _Parser:
    def parse_none(rest: list[str]) -> Command:
        if rest:
            raise CommandError(f"{name} takes nothing after it", example(name))
        return command

    return parse_none


def _id_command(name: str, noun: str, build: Callable[[int], Command]) -> _Parser:
    def parse_one(rest: list[str]) -> Command:
        return build(parse_id(rest, noun, example(name)))

    return parse_one


# --- watch and market ---------------------------------------------------------------

# Words that end a watch name and start its options.
OPTION_WORDS = frozenset({"under", "below", "max", "qty", "quantity", "zone", "section", "drop"})


def _split_quoted(rest: list[str]) -> tuple[str | None, list[str]]:
    """Return a leading quoted name ("under the sea") and the words after it."""
    text = " ".join(rest)
    if not text or text[0] not in _QUOTES:
        return None, rest
    closing = text.find(_QUOTES[text[0]], 1)
    if closing < 0:
        raise CommandError("a quote is not closed", 'watch "under the sea" under 50')
    return text[1:closing].strip(), text[closing + 1 :].split()


_SYMBOLS = tuple(CURRENCY_SYMBOLS.values())
_TRAILING_SYMBOL = re.compile(r"^\d+(?:\.\d+)?[" + re.escape("".join(_SYMBOLS)) + "]$")

# What each option word needs after it, said when it is missing.
_NEEDS = {
    **dict.fromkeys(("under", "below", "max"), ("a price", "under 80")),
    **dict.fromkeys(("qty", "quantity"), ("a number of tickets", "qty 2")),
    "drop": ("a percentage", "drop 15%"),
    **dict.fromkeys(("zone", "section"), ("a zone", "zone field level")),
}


def _is_price(word: str) -> bool:
    """$80, £80, 80€ ...: a price that needs no `under` before it."""
    return word.startswith(_SYMBOLS) or bool(_TRAILING_SYMBOL.match(word))


def _missing(word: str) -> CommandError:
    """An option word with nothing after it: "watch yankees under"."""
    what, option = _NEEDS[word.casefold()]
    keyword = option.split()[0]
    return CommandError(
        f"'{word}' needs {what} after it", f"watch yankees {option.replace(keyword, word, 1)}"
    )


def _price_text(tokens: list[str], i: int) -> tuple[str | None, int]:
    """The price at `tokens[i]` and where the words after it start: a code typed apart
    from its number ("GBP 80", "80 GBP") is joined to it."""
    if i >= len(tokens):
        return None, i
    text = tokens[i]
    if i + 1 < len(tokens):
        after = tokens[i + 1]
        if (is_currency(text) and after[:1].isdigit()) or (
            text[:1].isdigit() and is_currency(after)
        ):
            return f"{text} {after}", i + 2
    return text, i + 1


def _starts_options(rest: list[str]) -> bool:
    """Whether the words open with an option instead of a name ("under 80", "$80")."""
    if not rest:
        return False
    first = rest[0].casefold()
    if _is_price(first):
        return True
    follows = rest[1] if len(rest) > 1 else ""
    return first in OPTION_WORDS - {"zone", "section"} and (
        follows[:1].isdigit() or _is_price(follows)
    )


def _watch(rest: list[str]) -> Command:
    ex = example("watch")
    quoted, rest = _split_quoted(rest)
    if quoted == "" or (quoted is None and _starts_options(rest)):
        raise CommandError("say what to watch before its options", ex)
    if quoted is None and len(rest) == 1 and rest[0].casefold() in OPTION_WORDS:
        raise _missing(rest[0])  # "watch under": an option word, not a name
    name: list[str] = [quoted] if quoted else []
    i = 0
    while i < len(rest) and not (
        name and (rest[i].casefold() in OPTION_WORDS or _is_price(rest[i]))
    ):
        name.append(rest[i])
        i += 1
    what = " ".join(name).strip()
    if not what:
        raise CommandError("say what to watch", ex)
    command = _watch_target(what)
    if len(command.what) > MAX_TEXT:  # the name itself: "any" before it may take it past
        raise CommandError(f"that name is too long (at most {MAX_TEXT} characters)", ex)
    while i < len(rest):
        key, i = rest[i].casefold(), i + 1
        value = rest[i] if i < len(rest) else None
        if value is None and key in OPTION_WORDS:
            raise _missing(rest[i - 1])
        if _is_price(key):
            key, value, i = "under", key, i - 1
        elif key in OPTION_WORDS and value is not None and value.casefold() in OPTION_WORDS:
            raise CommandError(  # "watch Mad Max under 50": the name holds an option word
                f"'{rest[i - 1]}' reads as an option; put a name that holds it in quotes",
                'watch "mad max" under 50',
            )
        if key in {"under", "below", "max"}:
            value, i = _price_text(rest, i)
            price = parse_price(value, ex)
            command = _once(command, "max_price", price.amount, "price")
            command = replace(command, currency=price.currency)
        elif key in {"qty", "quantity"}:
            command = _once(
                command, "quantity", parse_quantity(value, "watch yankees qty 2"), "qty"
            )
            i += 1
        elif key == "drop":
            if i + 1 < len(rest) and rest[i + 1] == "%":
                value, i = f"{value}%", i + 1
            command = _once(
                command, "drop_pct", parse_percent(value, "watch yankees drop 15%"), "drop"
            )
            i += 1
        elif key in {"zone", "section"}:
            start = i
            while i < len(rest) and rest[i].casefold() not in OPTION_WORDS:
                i += 1
            zone = " ".join(rest[start:i])
            if not zone:
                raise CommandError("say which zone", "watch yankees zone field level")
            if len(zone) > MAX_TEXT:
                raise CommandError(
                    f"that zone is too long (at most {MAX_TEXT} characters)",
                    "watch yankees zone field level",
                )
            command = _once(command, "zone", zone, "zone")
        else:
            raise CommandError(f"unexpected '{_clip(key)}' after the name", ex)
    return command


def _once(command: WatchCommand, key: str, value: Any, word: str) -> WatchCommand:
    if getattr(command, key) is not None:
        raise CommandError(f"{word} is given twice", example("watch"))
    changes: dict[str, Any] = {key: value}
    return replace(command, **changes)


def _watch_target(what: str) -> WatchCommand:
    event_id, any_event = None, False
    if what.startswith("#"):
        event_id = parse_id([what], "event", "watch #12 under 80")
    elif what.casefold().startswith("any "):
        any_event, what = True, what[4:].strip()
    return WatchCommand(what=what, event_id=event_id, any_event=any_event)


def _market(rest: list[str]) -> Command:
    what = " ".join(rest).strip().strip('"“”')
    if not what:
        raise CommandError("say which event", example("market"))
    if len(what) > MAX_TEXT:
        raise CommandError(
            f"that name is too long (at most {MAX_TEXT} characters)", "market yankees"
        )
    if what.startswith("#"):
        return MarketCommand(what=what, event_id=parse_id([what], "event", "market #12"))
    return MarketCommand(what=what)


# --- alerts -------------------------------------------------------------------------

ALERT_PAGES = 1000  # far past any list; keeps the offset a small number


def _alerts(rest: list[str]) -> Command:
    """`alerts`, or `alerts 2` for the next page."""
    if not rest:
        return AlertsCommand()
    ex = example("alerts")
    if len(rest) > 1 or not rest[0].isascii() or not rest[0].isdigit():
        raise CommandError("alerts takes a page number only", ex)
    page = int(rest[0])
    if not 1 <= page <= ALERT_PAGES:
        raise CommandError(f"pages are numbered 1 to {ALERT_PAGES}", ex)
    return AlertsCommand(page=page)


def _snooze(rest: list[str]) -> Command:
    ex = example("snooze")
    alert_id = parse_id(rest[:1], "alert", ex)
    tail = rest[1:]
    if tail and tail[0].casefold() == "for":
        tail = tail[1:]
    if not tail:
        return SnoozeCommand(alert_id)
    if tail[0].casefold() in {"under", "below"}:
        text, end = _price_text(tail, 1)
        if end < len(tail):
            raise CommandError("snooze under takes one price", "snooze 12 under 60")
        price = parse_price(text, "snooze 12 under 60")
        return SnoozeCommand(alert_id, duration=None, below=price)
    return SnoozeCommand(alert_id, duration=parse_duration(" ".join(tail), ex))


# --- settings -----------------------------------------------------------------------

_PREF_KEYS = {
    "channels": "channels",
    "channel": "channels",
    "order": "channels",
    "level": "level",
    "min-level": "level",
    "minlevel": "level",
    "digest": "digest",
    "wake": "wake",
    "wake-for-critical": "wake",
    "wake_for_critical": "wake",
}
_PREF_EXAMPLES = {
    "channels": "prefs channels telegram,console",
    "level": "prefs level high",
    "digest": "prefs digest daily",
    "wake": "prefs wake on",
}


def _prefs(rest: list[str]) -> Command:
    if not rest:
        return PrefsCommand()
    key = _PREF_KEYS.get(rest[0].casefold())
    if key is None:
        raise CommandError(
            f"unknown setting '{_clip(rest[0])}'; use channels, level, digest or wake",
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
        channel = _channel(values[0], "prefs level telegram high") if len(values) == 2 else None
        return PrefsCommand(MinLevel(parse_level(values[-1], ex), channel))
    if len(values) > 1:
        raise CommandError(f"prefs {key} takes one value", ex)
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
        raise CommandError(f"unknown channel '{_clip(name)}' (known: {known})", ex) from None


def _quiet(rest: list[str]) -> Command:
    ex = example("quiet")
    text = "".join(rest).replace("–", "-").replace("—", "-")
    if text.casefold() == "off":
        return QuietCommand(None, None)
    if text.count("-") != 1:
        raise CommandError("quiet hours are a range like 22:00-07:00, or off", ex)
    first, second = text.split("-")
    start, end = parse_clock(first, ex), parse_clock(second, ex)
    if start == end:
        raise CommandError("quiet hours must start and end at different times", ex)
    return QuietCommand(start, end)


def _tz(rest: list[str]) -> Command:
    ex = example("tz")
    if len(rest) != 1:
        raise CommandError("give one time zone as Area/City", ex)
    return TzCommand(parse_zone(rest[0], ex))


def _phone(rest: list[str]) -> Command:
    ex = example("phone")
    if not rest:
        raise CommandError("give your number", ex)
    if len(rest) == 1 and len(rest[0]) == 6 and rest[0].isdigit():
        return PhoneCodeCommand(rest[0])
    return PhoneCommand(parse_phone("".join(rest), ex))


def _contact(rest: list[str]) -> Command:
    ex = example("contact")
    if not rest or rest[0].casefold() != "add":
        raise CommandError("use contact add <name> <number>", ex)
    plus = next((i for i, word in enumerate(rest) if word.startswith("+")), len(rest) - 1)
    name = " ".join(rest[1:plus])
    if not name or plus >= len(rest):
        raise CommandError("contact add needs a name and a number", ex)
    if len(name) > MAX_TEXT:
        raise CommandError("that name is too long", ex)
    return ContactAddCommand(name=name, number=parse_phone("".join(rest[plus:]), ex))


def _link(rest: list[str]) -> Command:
    if not rest:
        return LinkCommand()
    code = rest[0]
    if len(rest) > 1 or not _LINK_CODE.match(code):
        raise CommandError("a link code is one word of letters and digits", "link K7P2QX")
    return LinkCommand(code)


def _help(rest: list[str]) -> Command:
    if not rest:
        return HelpCommand()
    topic = rest[0].removeprefix("/").casefold()
    topic = command_help.ALIASES.get(topic, topic)
    if topic in command_help.BY_NAME:
        return HelpCommand(topic)
    if len(rest) > 1:  # "help me please"
        return HelpCommand()
    guess = command_help.closest(topic)
    hint = f" (did you mean {guess}?)" if guess else ""
    raise CommandError(f"no command '{_clip(rest[0])}'{hint}", "help watch")


_PARSERS: dict[str, _Parser] = {
    "watch": _watch,
    "watches": _no_args("watches", WatchesCommand()),
    "unwatch": _id_command("unwatch", "watch", UnwatchCommand),
    "pause": _id_command("pause", "watch", PauseCommand),
    "resume": _id_command("resume", "watch", ResumeCommand),
    "alerts": _alerts,
    "ack": _id_command("ack", "alert", AckCommand),
    "snooze": _snooze,
    "mute": _id_command("mute", "alert", MuteCommand),
    "bought": _id_command("bought", "alert", BoughtCommand),
    "market": _market,
    "prefs": _prefs,
    "quiet": _quiet,
    "tz": _tz,
    "phone": _phone,
    "contact": _contact,
    "link": _link,
    "help": _help,
}
