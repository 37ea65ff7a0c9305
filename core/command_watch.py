"""The grammar of `watch` and `market` (DESIGN.md §8): a name, then its options.

"watch Yankees under $80 qty 2 zone field level drop 15%" becomes one `WatchCommand`; a
name that holds an option word goes in quotes ("watch "mad max" under 50"). Every bad
input raises `CommandError` with a one-line reason and an example.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from core.command_help import example
from core.command_types import Command, MarketCommand, WatchCommand
from core.command_values import (
    MAX_TEXT,
    CommandError,
    clip_word,
    is_currency,
    parse_id,
    parse_percent,
    parse_price,
    parse_quantity,
)
from core.formatting import CURRENCY_SYMBOLS

__all__ = ["OPTION_WORDS", "parse_market", "parse_watch", "price_text"]

_QUOTES = {'"': '"', "“": "”", "«": "»"}

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


_SENTENCE_END = ".!?"
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


def price_text(tokens: list[str], i: int) -> tuple[str | None, int]:
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


def _unpunctuated(rest: list[str]) -> list[str]:
    """The words without the marks that end a sentence: "watch yankees under 80!" is
    "watch yankees under 80" (a name is matched by its words and keeps its own marks)."""
    last = rest[-1].rstrip(_SENTENCE_END) if rest else ""
    if last:
        return [*rest[:-1], last]
    return rest[:-1] if len(rest) > 1 else rest  # "... under 80 !"; "watch !" stays


def parse_watch(rest: list[str]) -> Command:
    ex = example("watch")
    quoted, rest = _split_quoted(_unpunctuated(rest))
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
    if quoted is None and what.casefold() == "any":  # "watch any", "watch any under 50"
        raise CommandError("say what to watch after any", "watch any yankees under 80")
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
            value, i = price_text(rest, i)
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
        elif is_currency(rest[i - 1]) and command.currency is not None:  # "under $80 CAD"
            raise CommandError(
                f"the price says {command.currency} and then '{clip_word(rest[i - 1])}'; "
                "give one currency",
                "watch blue jays under 80 CAD",
            )
        else:
            raise CommandError(f"unexpected '{clip_word(key)}' after the name", ex)
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
    else:
        any_event, what = _after_any(what)
    return WatchCommand(what=what, event_id=event_id, any_event=any_event)


def _after_any(what: str) -> tuple[bool, str]:
    """Whether `what` starts with the word "any" ("any yankees": every event that
    matches), and the words after it."""
    if what.casefold().startswith("any "):
        return True, what[4:].strip()
    return False, what


def parse_market(rest: list[str]) -> Command:
    what = " ".join(_unpunctuated(rest)).strip().strip('"“”')
    if not what:
        raise CommandError("say which event", example("market"))
    if len(what) > MAX_TEXT:
        raise CommandError(
            f"that name is too long (at most {MAX_TEXT} characters)", "market yankees"
        )
    if what.startswith("#"):
        return MarketCommand(what=what, event_id=parse_id([what], "event", "market #12"))
    _, what = _after_any(what)  # as a watch says it: the market is one event's
    return MarketCommand(what=what)
