"""The numbered choices `watch` answers with instead of guessing.

`ambiguous`: the words match several upcoming events; each choice re-issues the watch for
one event id, or for any event matching the words.

`narrowed`: the words match no upcoming event. Saved as typed, "rockies 40" or "rockies
fri" would never match: a bare number or a day (mon..sunday, today, tonight, tomorrow, or
a date: "jul 4", "4th of july", "7/4" as July 4 or April 7, "2024-07-04") is not part of
a name, and a word no event holds, past or upcoming, makes a real name miss.
Without those words the name may match upcoming events; then the choices are the number
as a price, the narrowed events (only those on the day said, when there are some), any
event matching the narrowed name, and the words as typed (future events only). When
nothing narrows, a word a letter or two off an upcoming event's ("diamondbaks") is asked
about (did you mean "diamondbacks"?; up to three names about as close: "brouns" asks
"browns" or "bruins"), a bare number or a day gets a line on how to say
it; other unknown words ("taylor swift") name future events and are watched as they are
(None). `narrow` gives `market` the same fewer or respelt words.

`which_team`: the choice among the teams a nickname names ("cards": `core.team_nicknames`).

Every choice is a `watch` command that parses again to what its label says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import product

from sqlalchemy.ext.asyncio import AsyncSession

from core.chat import Choice, Reply
from core.command_types import WatchCommand
from core.command_values import CommandError, parse_price
from core.command_watch import OPTION_WORDS
from core.db.models import Event
from core.domain import plural
from core.event_search import CANDIDATES, CLOSE_MOST, close_words, known_words, search_events
from core.formatting import CURRENCY_SYMBOLS, event_label, money, zone
from core.history import event_currencies
from core.rules import words

SHOWN = 8
MAX_LOOKUPS = 8  # words looked up one by one among all events; past it none are dropped
INITIALS = 3  # letters of a word that may be initials ("la", "ny", "msg")

_WEEKDAYS = {
    **dict.fromkeys(("mon", "monday"), 0),
    **dict.fromkeys(("tue", "tues", "tuesday"), 1),
    **dict.fromkeys(("wed", "weds", "wednesday"), 2),
    **dict.fromkeys(("thu", "thur", "thurs", "thursday"), 3),
    **dict.fromkeys(("fri", "friday"), 4),
    **dict.fromkeys(("sat", "saturday"), 5),
    "sunday": 6,  # not "sun": the Suns, Sun Devils and Sun Kil Moon are names
}
_DAYS_FROM_TODAY = {"today": 0, "tonight": 0, "tomorrow": 1}
_MONTH_NAMES = (
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
    ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
    ("oct", "october"), ("nov", "november"), ("dec", "december"),
)  # fmt: skip
_MONTHS = {name: n for n, names in enumerate(_MONTH_NAMES, start=1) for name in names}
_DAY_OF_MONTH = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?")
_NUMERIC_DATE = re.compile(r"(\d{1,2})/(\d{1,2})(?:/(?:\d\d|\d{4}))?")
_ISO_DATE = re.compile(r"\d{4}-(\d{1,2})-(\d{1,2})")
_OPENING_QUOTES = ('"', "“", "«")


def command_text(target: str, cmd: WatchCommand) -> str:
    """The `watch` command that re-issues `cmd` for `target` ("#12" or "any yankees")."""
    if set(target.casefold().split()) & OPTION_WORDS or target.startswith(_OPENING_QUOTES):
        target = '"' + target.replace('"', "") + '"'
    parts = ["watch", target]
    if cmd.max_price is not None:  # with the currency typed: another event may refuse it
        amount = f"{cmd.max_price:.2f}".removesuffix(".00")
        symbol = CURRENCY_SYMBOLS.get(cmd.currency or "")
        if symbol is not None or cmd.currency is None:
            parts.append(f"under {symbol or ''}{amount}")
        else:  # a code without a symbol: "under 80 CAD"
            parts.append(f"under {amount} {cmd.currency}")
    if cmd.quantity is not None:
        parts.append(f"qty {cmd.quantity}")
    if cmd.drop_pct is not None:
        parts.append(f"drop {cmd.drop_pct!r}%".replace(".0%", "%"))
    if cmd.zone is not None:
        parts.append(f"zone {cmd.zone}")
    return " ".join(parts)


def ambiguous(
    cmd: WatchCommand, events: tuple[Event, ...], total: int, person_tz: str | None
) -> Reply:
    """Choices when `cmd.what` matches `total` upcoming events (`events`: the first)."""
    lines = [f"'{cmd.what}' matches {total} upcoming events — which one?"]
    if total > len(events):
        lines.append(_showing_the_first(len(events)))
    choices = [_event_choice(e, cmd, person_tz) for e in events]
    choices.append(_any_choice(cmd.what, cmd))
    return Reply(lines=tuple(lines), choices=tuple(choices))


@dataclass(frozen=True, slots=True)
class _Dates:
    """The dates in a name ("yankees jul 4"), read as (month, day) where the game is."""

    days: frozenset[tuple[int, int]]  # {(7, 4)}; "7/4" is {(7, 4), (4, 7)}
    said: tuple[str, ...]  # as typed: ("jul 4",)
    words: frozenset[str]  # their words, no part of a name: {"jul", "4"}


def _dates(tokens: list[str]) -> _Dates:
    """The dates typed among `tokens`: "jul 4", "4th of july", "7/4", "2024-07-04"."""
    bare = [t.casefold().strip(".,!?;:") for t in tokens]
    days: set[tuple[int, int]] = set()
    said: list[str] = []
    used: set[str] = set()
    i = 0
    while i < len(bare):
        found, size = _date_at(bare, i)
        if found:
            typed = " ".join(tokens[i : i + size]).strip(".,!?;:")
            days |= found
            said.append(typed)
            used.update(words(typed))
        i += size if found else 1
    return _Dates(frozenset(days), tuple(said), frozenset(used))


def _date_at(bare: list[str], i: int) -> tuple[set[tuple[int, int]], int]:
    """The (month, day)s of the date that starts at `bare[i]`, and how many words it takes."""
    word, after = bare[i], bare[i + 1 : i + 3]
    if iso := _ISO_DATE.fullmatch(word):
        return _real([(int(iso[1]), int(iso[2]))]), 1
    if numeric := _NUMERIC_DATE.fullmatch(word):  # 7/4: July 4 in America, April 7 elsewhere
        first, second = int(numeric[1]), int(numeric[2])
        return _real([(first, second), (second, first)]), 1
    if word in _MONTHS and after and (day := _DAY_OF_MONTH.fullmatch(after[0])):
        return _real([(_MONTHS[word], int(day[1]))]), 2  # "jul 4", "july 4th"
    if day := _DAY_OF_MONTH.fullmatch(word):  # "4 july", "4th of july"
        of = after[:1] == ["of"]
        month = after[1:2] if of else after[:1]
        if month and month[0] in _MONTHS:
            return _real([(_MONTHS[month[0]], int(day[1]))]), 3 if of else 2
    return set(), 1


def _real(days: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The (month, day)s that are days of some year (February 29 is)."""
    real = set()
    for month, day in days:
        try:
            date(2000, month, day)
        except ValueError:
            continue
        real.add((month, day))
    return real


@dataclass(frozen=True, slots=True)
class _Split:
    """What is left of a name that matches nothing ("rockies dodgers fri 40")."""

    kept: str  # without the words that cannot match: "rockies"
    name: str  # without its bare numbers and days: "rockies dodgers"
    days: frozenset[str]  # the days said: {"fri"}
    dates: _Dates  # the dates said: "jul 4"
    unknown: frozenset[str]  # the words no event holds: {"dodgers"}; or initials (`_initials`)
    loose: bool  # whether it holds a bare number, a day or a date
    price: float | None  # the one bare number, read as a price: 40.0

    def when(self) -> str:
        """The days and dates said: "fri", "jul 4", "sat/7/6"."""
        return "/".join([*sorted(self.days), *self.dates.said])


async def narrowed(
    session: AsyncSession, cmd: WatchCommand, *, now: datetime, person_tz: str | None
) -> Reply | None:
    """What to answer when `cmd.what` matches no upcoming event: choices among fewer
    words, a line on how to say it, or None to watch the words as they are."""
    split = await _split(session, cmd.what, cmd.max_price, now)
    if split is None:
        return None
    found = await search_events(session, split.kept, now=now, limit=CANDIDATES)
    if found.total:
        # The price choice re-issues the watch on the narrowed words: with one event they
        # name, it watches that event, whose prices (and so the max) are in its currency.
        currency = None
        if found.total == 1:
            only = found.events[0].id
            currency = (await event_currencies(session, [only])).get(only)
        return _narrowed(cmd, split, found.events, now, person_tz, currency)
    respelt = await _respelt(session, cmd.what, split, now)
    if respelt:
        return _did_you_mean(cmd, respelt)
    return _how_to_say_it(cmd, split) if split.loose else None


async def _split(
    session: AsyncSession, what: str, max_price: float | None, now: datetime
) -> _Split | None:
    query = tuple(dict.fromkeys(words(what)))
    tokens = what.split()
    dates = _dates(tokens)
    days = frozenset(w for w in query if w in _WEEKDAYS or w in _DAYS_FROM_TODAY)
    numbers = {w for w in query if w.isdecimal()} - dates.words
    loose = days | numbers | dates.words
    rest = [w for w in query if w not in loose]
    unknown = set(rest) - await known_words(session, rest) if len(rest) <= MAX_LOOKUPS else set()
    if not loose and not unknown:
        unknown = set(await _initials(session, rest, now))
    drop = loose | unknown
    if not drop:
        return None
    prices = [p for t in tokens if numbers.intersection(words(t)) for p in _price(t)]
    price = prices[0] if len(prices) == 1 and max_price is None else None
    kept, name = _without(tokens, drop), _without(tokens, loose)
    return _Split(kept, name, days, dates, frozenset(unknown), bool(loose), price)


async def _initials(session: AsyncSession, rest: list[str], now: datetime) -> frozenset[str]:
    """The short words of a name whose words each some event holds but no upcoming event
    all together ("la" of "la dodgers", known from the LA Clippers), when the other words
    alone match an upcoming event: initials, more often than not, of a name spelled out
    where the event is (Los Angeles Dodgers). Empty otherwise: "rockies orioles" may be a
    game to come."""
    short = frozenset(w for w in rest if len(w) <= INITIALS)
    others = [w for w in rest if w not in short]
    if not short or not others:
        return frozenset()
    found = await search_events(session, " ".join(others), now=now, limit=1)
    return short if found.total else frozenset()


async def _respelt(
    session: AsyncSession, what: str, split: _Split, now: datetime
) -> tuple[str, ...]:
    """`what` with its unknown words spelled as close words of upcoming events
    ("diamondbaks fri" -> "diamondbacks fri"), those without one left out: the spellings
    (up to `CLOSE_MOST`, the closest first: "brouns" -> "browns", "bruins") whose name
    matches an upcoming event."""
    unknown = [w for w in dict.fromkeys(words(what)) if w in split.unknown]
    close = {w: c for w in unknown if (c := await close_words(session, w, now=now))}
    if not close:
        return ()
    ranks = sorted(product(*(range(len(c)) for c in close.values())), key=sum)
    found: list[str] = []
    for rank in ranks[: CLOSE_MOST * CLOSE_MOST]:  # a bound on look-ups, however many words
        fixed = {w: c[i] for (w, c), i in zip(close.items(), rank, strict=True)}
        tokens = [
            " ".join(fixed.get(w, w) for w in words(t)) if fixed.keys() & set(words(t)) else t
            for t in what.split()
        ]
        respelt = _without(tokens, split.unknown - fixed.keys())
        loose = split.days | split.dates.words | {w for w in words(respelt) if w.isdecimal()}
        name = _without(respelt.split(), loose)
        if (await search_events(session, name, now=now, limit=1)).total:
            found.append(respelt)
        if len(found) == CLOSE_MOST:
            break
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Narrowing:
    """What fewer or respelt words find when all the words typed find nothing."""

    name: str  # the words that match: "yankees" of "yankees sat", or "diamondbacks"
    events: tuple[Event, ...]  # on the day said, when there are some, else all; soonest first
    where: str  # " on sat", ", none on sat" or ""
    respelt: tuple[str, ...]  # the words typed spelled as events spell them (`name` is the
    # first; "browns", "bruins" of "brouns"), when no fewer words match; then no `events`


async def narrow(
    session: AsyncSession, what: str, *, now: datetime, person_tz: str | None
) -> Narrowing | None:
    """Fewer words of `what` (without days, dates, bare numbers and words no event holds)
    that match upcoming events, or `what` respelt, when `what` matches none; else None."""
    split = await _split(session, what, None, now)
    if split is None:
        return None
    found = await search_events(session, split.kept, now=now, limit=CANDIDATES)
    if found.total:
        events, where = _on_day(split, found.events, now, person_tz)
        return Narrowing(split.kept, events, where, respelt=())
    respelt = await _respelt(session, what, split, now)
    return Narrowing(respelt[0], (), "", respelt) if respelt else None


def _without(tokens: list[str], drop: set[str] | frozenset[str]) -> str:
    """The typed words that hold none of `drop` ("#" starts an event id: not first)."""
    return " ".join(t for t in tokens if not drop.intersection(words(t))).lstrip("#")


def _price(token: str) -> list[float]:
    try:
        return [parse_price(token, "watch yankees under 80")]
    except CommandError:
        return []


def _narrowed(
    cmd: WatchCommand,
    split: _Split,
    events: tuple[Event, ...],
    now: datetime,
    person_tz: str | None,
    currency: str | None,
) -> Reply:
    events, where = _on_day(split, events, now, person_tz)
    count = plural(len(events), "upcoming event")
    lines = [
        f"No upcoming event matches '{cmd.what}'.",
        f"'{split.kept}' matches {count}{where} — pick one, or watch the words as typed:",
    ]
    if len(events) > SHOWN:
        lines.append(_showing_the_first(SHOWN))
    choices = _price_choices(cmd, split.kept, split.price, currency)
    choices += [_event_choice(e, cmd, person_tz) for e in events[:SHOWN]]
    choices += [_any_choice(split.kept, cmd), _as_typed(cmd)]
    return Reply(lines=tuple(lines), choices=tuple(choices))


def _on_day(
    split: _Split, events: tuple[Event, ...], now: datetime, person_tz: str | None
) -> tuple[tuple[Event, ...], str]:
    """The events on the days or dates said, when there are some, else all; and where
    they are said to be: " on fri", ", none on fri" or ""."""
    on_day = tuple(e for e in events if _starts_on(e, split, now, person_tz))
    days = split.when()
    if on_day:
        return on_day, f" on {days}"
    return events, f", none on {days}" if days else ""


def which_team(cmd: WatchCommand, teams: tuple[str, ...]) -> Reply:
    """Choices when `cmd.what` is a nickname of several teams ("cards")."""
    lines = (f"'{cmd.what}' is a nickname of {len(teams)} teams — which one?",)
    choices = [Choice(label=team, command=command_text(team, cmd)) for team in teams]
    return Reply(lines=lines, choices=(*choices, _as_typed(cmd)))


def _did_you_mean(cmd: WatchCommand, respelt: tuple[str, ...]) -> Reply:
    lines = (f"No upcoming event matches '{cmd.what}'.", f"Did you mean {either(respelt)}?")
    choices = [Choice(label=f"Watch '{name}'", command=command_text(name, cmd)) for name in respelt]
    return Reply(lines=lines, choices=(*choices, _as_typed(cmd)))


def either(names: tuple[str, ...]) -> str:
    """The names quoted, the last after "or": "'browns'", "'browns' or 'bruins'",
    "'kings', 'rings' or 'wings'"."""
    quoted = [f"'{name}'" for name in names]
    return " or ".join(filter(None, (", ".join(quoted[:-1]), quoted[-1])))


def _starts_on(event: Event, split: _Split, now: datetime, person_tz: str | None) -> bool:
    """Whether `event` starts on one of the days or dates said where it is held (or else
    where you are)."""
    tz = zone(event.timezone or person_tz)
    start, today = event.starts_at.astimezone(tz), now.astimezone(tz).date()
    return (start.month, start.day) in split.dates.days or any(
        start.weekday() == _WEEKDAYS[day]
        if day in _WEEKDAYS
        else start.date() == today + timedelta(days=_DAYS_FROM_TODAY[day])
        for day in split.days
    )


def _how_to_say_it(cmd: WatchCommand, split: _Split) -> Reply:
    named = bool(words(split.name))
    price = (split.price if named else None) or cmd.max_price or 80
    example = command_text(split.name if named else "yankees", replace(cmd, max_price=price))
    lines = (
        f"No upcoming event matches '{cmd.what}'.",
        f"Say the name without days or bare numbers, and a price after under, e.g. {example}",
    )
    choices = _price_choices(cmd, split.name, split.price, None) if named else []
    return Reply(lines=lines, choices=(*choices, _as_typed(cmd)))


def _price_choices(
    cmd: WatchCommand, name: str, price: float | None, currency: str | None
) -> list[Choice]:
    """The bare number as the price of `name`, when there is one, in `currency` (the one
    event `name` names; None, for words that span events, reads as USD)."""
    if price is None:
        return []
    command = command_text(name, replace(cmd, max_price=price))
    return [Choice(label=f"'{name}' under {money(price, currency)}", command=command)]


def _showing_the_first(shown: int) -> str:
    return f"Showing the first {shown}; add an opponent, venue or city to narrow it."


def _event_choice(event: Event, cmd: WatchCommand, person_tz: str | None) -> Choice:
    label = event_label(
        event.name, event.venue, event.city, event.starts_at, person_tz, event.timezone
    )
    return Choice(label=label, command=command_text(f"#{event.id}", cmd))


def _any_choice(name: str, cmd: WatchCommand) -> Choice:
    return Choice(
        label=f"Any event matching '{name}', now and later",
        command=command_text(f"any {name}", cmd),
    )


def _as_typed(cmd: WatchCommand) -> Choice:
    return Choice(
        label=f"Watch '{cmd.what}' anyway (future events only)",
        command=command_text(f"any {cmd.what}", cmd),
    )
