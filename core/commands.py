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
from typing import TypeAlias

from core import command_help
from core.command_help import example
from core.command_settings import (
    parse_contact,
    parse_link,
    parse_phone_command,
    parse_prefs,
    parse_quiet,
    parse_tz,
)
from core.command_types import (
    AckCommand,
    AlertsCommand,
    BoughtCommand,
    ChannelOrder,
    Command,
    ContactAddCommand,
    DigestSchedule,
    ForgetLearning,
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
    clip_word,
    compatible,
    parse_duration,
    parse_id,
    parse_price,
)
from core.command_watch import OPTION_WORDS, parse_market, parse_watch, price_text
from core.domain import UNSTORABLE, without_zero_width

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
    "ForgetLearning",
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

_Parser: TypeAlias = Callable[[list[str]], Command]

# Control characters other than the whitespace a message may hold (tab, new line, CR):
# an escape code typed into a watch or contact name would be stored, then replayed to
# every terminal that shows it (the console chat, `hdtickets watches list`).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _unaddressed(text: str) -> list[str]:
    """The words of `text` without a leading mention of the bot ("@HDTBot watch ...")."""
    words = text.split()
    if len(words) > 1 and words[0].startswith(("@", "<@")):
        return words[1:]
    return words


def _command_word(word: str) -> str:
    """A message's first word as a command name: in NFKC ("ｕｎｗａｔｃｈ" and "？" from a
    fullwidth keyboard), without the slash or a bot's @name ("/watch@HDTBot")."""
    return compatible(word).removeprefix("/").split("@", 1)[0].casefold()


def command_name(text: str) -> str:
    """Return the canonical command word of `text` ("" when it has none)."""
    words = _unaddressed(text)
    if not words:
        return ""
    word = _command_word(words[0])
    if word == "tickets" and len(words) > 1:
        word = compatible(words[1]).casefold()
    return command_help.ALIASES.get(word, word)


def parse(text: str) -> Command:
    """Parse one chat message into a command, without the zero-width characters pasted
    into it; every platform's text comes in here.

    Raises:
        CommandError: with a one-line reason and an example, for any bad input.
    """
    # "mlb\u200b" would be a word, not the category, "ack 12\u200b" no number, and a
    # watch's label would keep them; a joiner inside an emoji (👨‍👩‍👧) is kept whole.
    text = without_zero_width(text)
    if UNSTORABLE.search(text):
        raise CommandError("that message holds a NUL or a broken character", "help")
    if _CONTROL.search(text):
        raise CommandError("that message holds a control character (an escape code?)", "help")
    words = _unaddressed(text)
    if not words:
        raise CommandError("say a command", "help")
    word = _command_word(words[0])
    if word == "tickets":  # Slack's "/tickets <subcommand>"
        words = words[1:]
        if not words:
            return HelpCommand()
        word = compatible(words[0]).removeprefix("/").casefold()
    rest = words[1:]
    if word == "start":  # Telegram's first message; with a deep link, /start <link code>
        return parse_link(rest) if rest else HelpCommand(welcome=True)
    if not word:  # "/" or "@bot" alone
        after = "the /" if words[0].startswith("/") else words[0]
        raise CommandError(f"say a command after {after}", "help")
    name = command_help.ALIASES.get(word, word)
    parser = _PARSERS.get(name)
    if parser is None:
        guess = command_help.closest(word, words_after=bool(rest))
        if guess is None:
            raise CommandError(
                f"unknown command '{clip_word(word)}'; type help for the list", "help"
            )
        raise CommandError(
            f"unknown command '{clip_word(word)}' (did you mean {guess}?)", example(guess)
        )
    return parser(rest)


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


def _watches_command(name: str, build: Callable[[int | None], Command]) -> _Parser:
    """`pause 3`, or `pause all` for every watch of the chat."""

    def parse_one(rest: list[str]) -> Command:
        if len(rest) == 1 and compatible(rest[0]).casefold() == "all":
            return build(None)
        return build(parse_id(rest, "watch", example(name)))

    return parse_one


# --- alerts -------------------------------------------------------------------------

ALERT_PAGES = 1000  # far past any list; keeps the offset a small number


def _alerts(rest: list[str]) -> Command:
    """`alerts`, or `alerts 2` for the next page."""
    if not rest:
        return AlertsCommand()
    ex = example("alerts")
    text = compatible(rest[0])
    if len(rest) > 1 or not text.isascii() or not text.isdigit():
        raise CommandError("alerts takes a page number only", ex)
    page = int(text)
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
        text, end = price_text(tail, 1)
        if end < len(tail):
            raise CommandError("snooze under takes one price", "snooze 12 under 60")
        price = parse_price(text, "snooze 12 under 60")
        return SnoozeCommand(alert_id, duration=None, below=price)
    return SnoozeCommand(alert_id, duration=parse_duration(" ".join(tail), ex))


def _help(rest: list[str]) -> Command:
    if not rest:
        return HelpCommand()
    topic = compatible(rest[0]).removeprefix("/").casefold()
    topic = command_help.ALIASES.get(topic, topic)
    if topic in command_help.BY_NAME:
        return HelpCommand(topic)
    if len(rest) > 1:  # "help me please"
        return HelpCommand()
    guess = command_help.closest(topic)
    hint = f" (did you mean {guess}?)" if guess else ""
    raise CommandError(f"no command '{clip_word(rest[0])}'{hint}", "help watch")


_PARSERS: dict[str, _Parser] = {
    "watch": parse_watch,
    "watches": _no_args("watches", WatchesCommand()),
    "unwatch": _id_command("unwatch", "watch", UnwatchCommand),
    "pause": _watches_command("pause", PauseCommand),
    "resume": _watches_command("resume", ResumeCommand),
    "alerts": _alerts,
    "ack": _id_command("ack", "alert", AckCommand),
    "snooze": _snooze,
    "mute": _id_command("mute", "alert", MuteCommand),
    "bought": _id_command("bought", "alert", BoughtCommand),
    "market": parse_market,
    "prefs": parse_prefs,
    "quiet": parse_quiet,
    "tz": parse_tz,
    "phone": parse_phone_command,
    "contact": parse_contact,
    "link": parse_link,
    "help": _help,
}
