"""A misspelt name in `watch` and `market` ("knciks") is asked about, not watched as typed.

The close word is looked for among the words of upcoming events; one slip anywhere in the
word (a letter swapped, missing, extra or wrong) finds it, even when it breaks both its
first and its last three letters ("knciks": "knc" and "iks" are in no event).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.chat import Reply
from core.commands import parse
from tests.integration.engine_helpers import add_event
from tests.integration.test_handlers import World, world

__all__ = ["world"]  # the fixture, shared with test_handlers

KNICKS_AT = datetime(2024, 4, 2, 23, 30, tzinfo=UTC)


@pytest.fixture
async def knicks(world: World) -> World:
    """A Knicks game on sale besides the shared world's baseball games."""
    async with world.sessions() as session, session.begin():
        event = await add_event(
            session,
            external_id="knicks",
            name="Celtics at Knicks",
            category="nba",
            performers=("New York Knicks", "Boston Celtics"),
            starts_at=KNICKS_AT,
        )
        world.events["knicks"] = event.id
    return world


def commands(reply: Reply) -> list[str]:
    """The choices' commands; each must parse again, as people pick them."""
    found = [c.command or "" for c in reply.choices]
    for command in found:
        parse(command)
    return found


@pytest.mark.parametrize("typed", ["knciks", "kincks", "knikcs", "knicsk", "nkicks", "knics"])
async def test_a_misspelt_name_offers_the_close_name_and_watches_nothing(
    knicks: World, typed: str
) -> None:
    reply = await knicks.say(f"watch {typed} under 80")

    assert await knicks.watches() == [], f"no watch on '{typed}', which no event holds"
    assert reply.lines == (f"No upcoming event matches '{typed}'.", "Did you mean 'knicks'?")
    assert commands(reply) == ["watch knicks under 80", f"watch any {typed} under 80"]
    assert reply.choices[-1].label == f"Watch '{typed}' anyway (future events only)"


async def test_picking_the_close_name_watches_it_with_the_options_kept(knicks: World) -> None:
    reply = await knicks.say("watch knciks under 80 qty 2")

    picked = await knicks.say(commands(reply)[0])

    [row] = await knicks.watches()
    assert (row.event_id, row.max_price, row.quantity) == (knicks.events["knicks"], 80.0, 2)
    assert picked.created == row.id, picked.text


async def test_picking_as_typed_watches_the_typed_words(knicks: World) -> None:
    reply = await knicks.say("watch knciks under 80")

    await knicks.say(commands(reply)[-1])

    [row] = await knicks.watches()
    assert (row.event_id, row.terms, row.max_price) == (None, ["knciks"], 80.0)


async def test_a_word_far_from_every_name_is_watched_as_today(knicks: World) -> None:
    reply = await knicks.say("watch zwxqvpl under 80")

    [row] = await knicks.watches()
    assert (row.event_id, row.terms, row.max_price) == (None, ["zwxqvpl"], 80.0)
    assert reply.choices == ()
    assert "any event matching 'zwxqvpl' (none on sale right now" in reply.lines[0], reply.text


async def test_the_right_name_is_watched_without_a_question(knicks: World) -> None:
    reply = await knicks.say("watch knicks under 80")

    [row] = await knicks.watches()
    assert (row.event_id, row.max_price) == (knicks.events["knicks"], 80.0)
    assert reply.choices == () and reply.created == row.id


async def test_market_offers_the_close_name(knicks: World) -> None:
    reply = await knicks.say("market knciks")

    assert reply.lines == ("No upcoming event matches 'knciks'; did you mean 'knicks'?",)
    assert commands(reply) == ["market knicks"]
    shown = await knicks.say(commands(reply)[0])
    assert shown.lines[0].startswith("Celtics at Knicks — Chase Field"), shown.text


async def test_market_of_the_right_name_shows_it(knicks: World) -> None:
    reply = await knicks.say("market knicks")

    assert reply.lines[0].startswith("Celtics at Knicks"), reply.text
    assert reply.choices == ()


@pytest.fixture
async def rivals(world: World) -> World:
    """Names one letter apart: Bruins and Browns; Kings, Wings and Rings."""
    games = {
        "bruins": ("Bruins at Rangers", "nhl", ("Boston Bruins", "New York Rangers")),
        "browns": ("Steelers at Browns", "nfl", ("Cleveland Browns", "Pittsburgh Steelers")),
        "kings": ("Kings at Red Wings", "nhl", ("Los Angeles Kings", "Detroit Red Wings")),
        "rings": ("The Lord of the Rings in Concert", "concert", ("The Lord of the Rings",)),
    }
    async with world.sessions() as session, session.begin():
        for key, (name, category, performers) in games.items():
            event = await add_event(
                session,
                external_id=key,
                name=name,
                category=category,
                performers=performers,
                starts_at=KNICKS_AT,
            )
            world.events[key] = event.id
    return world


async def test_two_close_names_are_both_offered(rivals: World) -> None:
    reply = await rivals.say("watch brouns under 80")

    assert await rivals.watches() == []
    assert reply.lines == (
        "No upcoming event matches 'brouns'.",
        "Did you mean 'browns' or 'bruins'?",
    )
    assert commands(reply) == [
        "watch browns under 80",
        "watch bruins under 80",
        "watch any brouns under 80",
    ]
    assert [c.label for c in reply.choices[:2]] == ["Watch 'browns'", "Watch 'bruins'"]

    await rivals.say(commands(reply)[1])
    [row] = await rivals.watches()
    assert (row.event_id, row.max_price) == (rivals.events["bruins"], 80.0)


async def test_three_close_names_are_offered(rivals: World) -> None:
    reply = await rivals.say("watch tings")

    assert reply.lines[1] == "Did you mean 'kings', 'rings' or 'wings'?", reply.text
    assert commands(reply) == ["watch kings", "watch rings", "watch wings", "watch any tings"]


async def test_only_close_names_that_match_an_event_are_offered(rivals: World) -> None:
    # "browns rangers" is no game: only "bruins rangers" is asked about.
    reply = await rivals.say("watch brouns rnagers")

    assert reply.lines[1] == "Did you mean 'bruins rangers'?", reply.text
    assert commands(reply) == ["watch bruins rangers", "watch any brouns rnagers"]


async def test_market_offers_the_close_names(rivals: World) -> None:
    reply = await rivals.say("market brouns")

    assert reply.lines == (
        "No upcoming event matches 'brouns'; did you mean 'browns' or 'bruins'?",
    )
    assert commands(reply) == ["market browns", "market bruins"]
    shown = await rivals.say(commands(reply)[1])
    assert shown.lines[0].startswith("Bruins at Rangers"), shown.text
