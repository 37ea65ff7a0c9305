"""Team nicknames ("dbacks", "cards") read as the teams' names, by `watch` and `market`.

A nickname is no word of the team's name (`core.team_aliases`), so typed as it is it
matches no event. `nicknamed` gives the teams a whole nickname names; `teams_playing`
keeps those with upcoming events, so a nickname of two teams ("cards") needs no
question when only one of them plays.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Event
from core.event_search import SearchResult, search_events
from core.rules import fold, words
from core.team_aliases import TEAM_ALIASES

# Keyed by their words as matching folds them: "D-Backs" and "d backs" are "d backs".
_NICKNAMES = {" ".join(words(alias)): teams for alias, teams in TEAM_ALIASES.items()}


def nicknamed(what: str) -> tuple[str, ...]:
    """The teams `what` is a nickname of, all of it ("dbacks": Arizona Diamondbacks;
    "cards": a baseball and a football team), or none."""
    return _NICKNAMES.get(" ".join(words(what)), ())


async def teams_playing(
    session: AsyncSession, teams: tuple[str, ...], *, now: datetime
) -> dict[str, SearchResult]:
    """The teams an upcoming event lists as a performer, else those whose words an upcoming
    event holds ("Arizona Cardinals" are words of St. Louis at Arizona Diamondbacks), each
    with the upcoming events its name matches; in the order of `teams`.

    Args:
        session: where the events are.
        teams: the team names a nickname reads as (`nicknamed`).
        now: events starting later are upcoming.
    """
    found = {t: await search_events(session, t, now=now) for t in teams}
    named = {t: f for t, f in found.items() if any(_performs(t, e) for e in f.events)}
    return named or {t: f for t, f in found.items() if f.total}


def read_as(what: str, team: str) -> str:
    """The line that says which team a nickname was read as."""
    return f"You wrote '{what}': read as {team}."


def _performs(team: str, event: Event) -> bool:
    return fold(team) in {fold(str(p)) for p in event.performers or ()}
