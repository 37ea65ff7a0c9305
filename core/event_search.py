"""Find upcoming events from what a person typed ("yankees red sox", "chase field").

Every word must match a word of the event's name, performers, venue, city or category
(a word of three letters or more also matches as a prefix: "yankee" finds "Yankees"; in
scripts written without spaces, any part of a word: "東京" finds "東京ドーム").
Small words like "vs", "at" and "in" are ignored. The database narrows the candidates with
LIKE on ASCII words; the exact word match runs here, so accents and emoji work too.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Event
from core.rules import fold, unspaced, word_matches, words

_WORD = re.compile(r"\w+")
CANDIDATES = 500


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The first `limit` matching events, soonest first, and how many matched in all."""

    events: tuple[Event, ...]
    total: int


def _event_words(event: Event) -> set[str]:
    parts = [event.name, event.venue or "", event.city or "", event.category or ""]
    parts += [str(p) for p in event.performers or []]
    return set(_WORD.findall(fold(" ".join(parts))))


def _matches(query: Sequence[str], haystack: set[str]) -> bool:
    return all(word_matches(q, haystack) for q in query)


def _haystack() -> ColumnElement[str]:
    """The event's searchable text, lower-cased, as the database sees it."""
    return func.lower(
        Event.name
        + literal(" ")
        + func.coalesce(Event.venue, "")
        + literal(" ")
        + func.coalesce(Event.city, "")
        + literal(" ")
        + func.coalesce(Event.category, "")
        + literal(" ")
        + cast(Event.performers, String)
    )


async def search_events(
    session: AsyncSession, text: str, *, now: datetime, limit: int = 8
) -> SearchResult:
    """Return upcoming events (starting after `now`) matching every word of `text`."""
    query = words(text)
    if not query:
        return SearchResult((), 0)
    found = await _found(session, query, now)
    return SearchResult(tuple(found[:limit]), len(found))


async def known_words(session: AsyncSession, query: Sequence[str]) -> frozenset[str]:
    """The words of `query` that some event holds, past or upcoming (one look-up each)."""
    return frozenset([w for w in query if await _found(session, [w], None)])


async def _found(session: AsyncSession, query: Sequence[str], now: datetime | None) -> list[Event]:
    found = await _candidates(session, query, _haystack(), now, accents=False)
    if not found and any(_ACCENTED.search(w) for w in query):
        # "bjork" finds "Björk": the stored text may carry accents the typed word lacks.
        found = await _candidates(session, query, _haystack(), now, accents=True)
    return found


# Letters that often carry an accent in names; the second look-up lets each stand for any
# one character, and the folded word match below decides.
_ACCENTED = re.compile(r"[aceinousyz]")


async def _candidates(
    session: AsyncSession,
    query: Sequence[str],
    haystack: ColumnElement[str],
    now: datetime | None,
    *,
    accents: bool,
) -> list[Event]:
    """Events (starting after `now`, unless None) whose text holds every ASCII word of
    `query` (LIKE narrows them in the database), kept when every word matches a folded
    word of the event."""
    stmt = select(Event) if now is None else select(Event).where(Event.starts_at > now)
    for word in query:
        if word.isascii() or unspaced(word):  # no case or accents to fold: LIKE narrows
            escaped = _escaped(word)
            if accents:
                escaped = _ACCENTED.sub("_", escaped)
            stmt = stmt.where(haystack.like(f"%{escaped}%", escape="\\"))
    stmt = stmt.order_by(Event.starts_at, Event.id).limit(CANDIDATES)
    return [e for e in (await session.execute(stmt)).scalars() if _matches(query, _event_words(e))]


CLOSE_MIN = 4  # shorter words are too often one letter from another name
CLOSE_CUTOFF = 0.8  # difflib's ratio: "diamondbaks" and "diamondbacks" are 0.96
CLOSE_MARGIN = 0.05  # words this near the closest are as likely meant: "brouns", bruins/browns
CLOSE_MOST = 3


async def close_words(session: AsyncSession, word: str, *, now: datetime) -> tuple[str, ...]:
    """The words of upcoming events spelled most like `word`, a letter or two off
    ("diamondbaks" -> "diamondbacks"): the closest, and up to two more about as close
    ("brouns" -> "browns", "bruins"), closest first, then alphabetically; or none. One
    query: the events looked at hold a word one slip from `word` (`_one_slip`: "knciks" ->
    "knicks", though "knc" and "iks" are in no event), or the first or the last three
    letters of `word` (two slips, in a long word)."""
    if len(word) < CLOSE_MIN or not word.isascii():
        return ()
    haystack = _haystack()
    ends = [_escaped(part) for part in (word[:3], word[-3:])]
    patterns = sorted(set(ends) | _one_slip(word))
    stmt = (
        select(Event)
        .where(
            Event.starts_at > now,
            or_(*[haystack.like(f"%{p}%", escape="\\") for p in patterns]),
        )
        .order_by(Event.starts_at, Event.id)
        .limit(CANDIDATES)
    )
    known: set[str] = set()
    for event in (await session.execute(stmt)).scalars():
        known |= _event_words(event)
    close = difflib.get_close_matches(word, known, n=len(known) or 1, cutoff=CLOSE_CUTOFF)
    scored = sorted((-difflib.SequenceMatcher(None, w, word).ratio(), w) for w in close)
    best = -scored[0][0] if scored else 0.0
    return tuple(w for score, w in scored if -score >= best - CLOSE_MARGIN)[:CLOSE_MOST]


def _one_slip(word: str) -> set[str]:
    """LIKE patterns (`_` is any one letter) for the words one slip from `word`: two
    letters swapped or one wrong ("knciks", "knocks": kn__ks), one missing ("knics":
    kn_ics) or one extra ("kniccks": knicks)."""
    pieces = [_escaped(letter) for letter in word]
    swapped = {"".join(pieces[:i]) + "__" + "".join(pieces[i + 2 :]) for i in range(len(word) - 1)}
    missing = {"".join(pieces[:i]) + "_" + "".join(pieces[i:]) for i in range(len(word) + 1)}
    extra = {"".join(pieces[:i] + pieces[i + 1 :]) for i in range(len(word))}
    return swapped | missing | extra


def _escaped(word: str) -> str:
    """`word` for LIKE, its wildcards taken literally."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def upcoming_event(session: AsyncSession, event_id: int, *, now: datetime) -> Event | None:
    """Return event `event_id` if it exists and has not started by `now`."""
    event = await session.get(Event, event_id)
    return event if event is not None and event.starts_at > now else None


async def is_category(session: AsyncSession, text: str) -> str | None:
    """Return the stored category spelled like `text` (e.g. "MLB" -> "mlb"), if any."""
    lowered = text.strip().casefold()
    if not lowered or " " in lowered:
        return None
    row = await session.execute(
        select(Event.category).where(func.lower(Event.category) == lowered).limit(1)
    )
    return row.scalar_one_or_none()
