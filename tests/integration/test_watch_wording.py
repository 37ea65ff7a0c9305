"""Everyday wording in `watch` (QA): no watch that can never fire is confirmed as working."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.chat import Reply
from core.commands import parse
from core.db.models import Event
from tests.integration.engine_helpers import add_event
from tests.integration.test_handlers import World, world

__all__ = ["world"]  # the fixture, shared with test_handlers

FRI_LOCAL = datetime(2024, 3, 30, 1, 40, tzinfo=UTC)  # Fri 29 Mar 18:40 in Phoenix
SAT_LOCAL = datetime(2024, 3, 30, 20, 10, tzinfo=UTC)  # Sat 30 Mar 13:10 in Phoenix


@pytest.fixture
async def series(world: World) -> World:
    """Two more Rockies games at Chase Field (Fri and Sat there): three Rockies games."""
    async with world.sessions() as session, session.begin():
        for key, starts in (("rockies_fri", FRI_LOCAL), ("rockies_sat", SAT_LOCAL)):
            world.events[key] = (await add_event(session, external_id=key, starts_at=starts)).id
    return world


def commands(reply: Reply) -> list[str]:
    """The choices' commands; each must parse again, as people pick them."""
    found = [c.command or "" for c in reply.choices]
    for command in found:
        parse(command)
    return found


async def test_in_is_filler_like_at(world: World) -> None:
    reply = await world.say("watch yankees in boston under 80")

    assert "'yankees in boston' matches 2 upcoming events" in reply.lines[0], reply.text
    assert commands(reply)[0] == f"watch #{world.events['nyy_bos']} under 80"
    assert await world.watches() == []


async def test_a_bare_number_after_a_name_offers_it_as_the_price(series: World) -> None:
    reply = await series.say("watch rockies 40")

    assert await series.watches() == [], "no watch that can never fire"
    assert reply.lines[:2] == (
        "No upcoming event matches 'rockies 40'.",
        "'rockies' matches 3 upcoming events — pick one, or watch the words as typed:",
    )
    ids = [series.events[k] for k in ("rockies_fri", "rockies_sat", "rockies")]
    assert commands(reply) == [
        "watch rockies under 40",
        *[f"watch #{i}" for i in ids],
        "watch any rockies",
        "watch any rockies 40",
    ]
    assert reply.choices[0].label == "'rockies' under $40"
    assert reply.choices[-1].label == "Watch 'rockies 40' anyway (future events only)"

    again = await series.say("watch rockies under 40")
    assert again.choices[0].command == f"watch #{ids[0]} under 40", again.text


async def test_a_day_keeps_the_games_on_that_day_where_they_are_played(series: World) -> None:
    reply = await series.say("watch rockies fri under 40")

    assert reply.lines[1].startswith("'rockies' matches 1 upcoming event on fri"), reply.text
    assert commands(reply) == [
        f"watch #{series.events['rockies_fri']} under 40",  # Saturday in UTC, Friday there
        "watch any rockies under 40",
        "watch any rockies fri under 40",
    ]
    await series.say(commands(reply)[0])
    [row] = await series.watches()
    assert (row.event_id, row.max_price) == (series.events["rockies_fri"], 40.0)


async def test_a_day_without_games_lists_them_all(series: World) -> None:
    reply = await series.say("watch rockies monday")

    assert "matches 3 upcoming events, none on monday" in reply.lines[1], reply.text
    assert len(commands(reply)) == 5 and await series.watches() == []


@pytest.mark.parametrize(
    ("now", "said", "event"),
    [
        (datetime(2024, 3, 29, 15, 0, tzinfo=UTC), "tonight", "rockies_fri"),
        (datetime(2024, 3, 29, 15, 0, tzinfo=UTC), "today", "rockies_fri"),
        (datetime(2024, 3, 29, 15, 0, tzinfo=UTC), "tomorrow", "rockies_sat"),
    ],
)
async def test_today_tonight_and_tomorrow_are_days_where_the_game_is(
    series: World, now: datetime, said: str, event: str
) -> None:
    series.clock.set(now)  # Fri 29 Mar 08:00 in Phoenix

    reply = await series.say(f"watch rockies {said}")

    assert commands(reply)[0] == f"watch #{series.events[event]}", reply.text


@pytest.mark.parametrize(
    ("said", "event"),
    [
        ("mar 30", "rockies_sat"),
        ("march 29th", "rockies_fri"),  # Saturday in UTC, Friday there
        ("29th of march", "rockies_fri"),
        ("30 mar", "rockies_sat"),
        ("3/31", "rockies"),  # March 31 ...
        ("31/3", "rockies"),  # ... as the rest of the world writes it
        ("2024-03-30", "rockies_sat"),
    ],
)
async def test_a_date_keeps_the_games_on_that_date_and_is_no_price(
    series: World, said: str, event: str
) -> None:
    reply = await series.say(f"watch rockies {said} qty 2")

    assert reply.lines[1].startswith(f"'rockies' matches 1 upcoming event on {said}"), reply.text
    assert commands(reply) == [  # no "'rockies' under $30": the day of the month is no price
        f"watch #{series.events[event]} qty 2",
        "watch any rockies qty 2",
        f"watch any rockies {said} qty 2",
    ]


async def test_a_date_without_games_lists_them_all(series: World) -> None:
    reply = await series.say("watch rockies jul 4")

    assert "matches 3 upcoming events, none on jul 4" in reply.lines[1], reply.text
    assert commands(reply)[0] == f"watch #{series.events['rockies_fri']}"


async def test_a_word_no_event_knows_narrows_to_the_name(series: World) -> None:
    reply = await series.say("watch rockies dodgers qty 2")

    assert reply.lines[0] == "No upcoming event matches 'rockies dodgers'.", reply.text
    assert commands(reply)[-2:] == ["watch any rockies qty 2", "watch any rockies dodgers qty 2"]


@pytest.mark.parametrize("typed", ["diamondbaks", "dimondbacks", "rockeis"])
async def test_a_misspelt_name_is_asked_about_not_watched(world: World, typed: str) -> None:
    reply = await world.say(f"watch {typed} under 40")

    assert await world.watches() == [], "no watch on a word no event will hold"
    right = "rockies" if typed == "rockeis" else "diamondbacks"
    assert reply.lines == (f"No upcoming event matches '{typed}'.", f"Did you mean '{right}'?")
    assert commands(reply) == [f"watch {right} under 40", f"watch any {typed} under 40"]

    await world.say(commands(reply)[0])
    [row] = await world.watches()
    assert row.event_id == world.events["rockies"]


async def test_choosing_anyway_watches_the_words_for_future_events(series: World) -> None:
    reply = await series.say("watch any rockies 40")

    [row] = await series.watches()
    assert (row.event_id, row.terms) == (None, ["rockies 40"])
    assert "any event matching 'rockies 40', now and later" in reply.lines[0], reply.text


async def test_known_words_without_a_game_together_watch_future_games(world: World) -> None:
    # "Orioles" are known from a past game: a future Rockies-Orioles game can come.
    reply = await world.say("watch rockies orioles")

    [row] = await world.watches()
    assert row.terms == ["rockies orioles"]
    assert "(none on sale right now; future ones count)" in reply.lines[0], reply.text


async def test_a_future_name_with_a_number_says_how_to_say_it(world: World) -> None:
    reply = await world.say("watch taylor swift 40")

    assert await world.watches() == []
    assert reply.lines == (
        "No upcoming event matches 'taylor swift 40'.",
        "Say the name without days or bare numbers, and a price after under,"
        " e.g. watch taylor swift under 40",
    )
    assert commands(reply) == ["watch taylor swift under 40", "watch any taylor swift 40"]
    assert not reply.is_error

    await world.say("watch taylor swift")
    [row] = await world.watches()
    assert row.terms == ["taylor swift"], "a future name alone is watched as before"


async def test_only_days_and_numbers_get_the_example_name(world: World) -> None:
    reply = await world.say("watch 182 friday")

    assert reply.lines[1].endswith("e.g. watch yankees under 80"), reply.text
    assert commands(reply) == ["watch any 182 friday"]


async def test_choices_keep_option_words_quoted(world: World) -> None:
    async with world.sessions() as session, session.begin():
        await add_event(session, external_id="mad", name="Mad Max Live", performers=["Mad Max"])

    reply = await world.say('watch "mad max 40"')

    assert commands(reply)[0] == 'watch "mad max" under 40', reply.text
    assert commands(reply)[-1] == 'watch "any mad max 40"'


async def test_a_mention_of_the_bot_before_the_command_is_ignored(world: World) -> None:
    reply = await world.say("@HDTicketsBot watch rockies under 40")

    assert not reply.is_error, reply.text
    [row] = await world.watches()
    assert row.event_id == world.events["rockies"]


@pytest.mark.parametrize("length", [197, 198, 199, 200])
async def test_any_choice_of_a_name_at_the_length_limit_still_works(
    world: World, length: int
) -> None:
    rest = length - len("yankees ")
    name = "yankees " + "red " * ((rest - 4) // 4) + "yankees"[: 4 + rest % 4]  # "yank"..
    assert len(name) == length
    reply = await world.say(f"watch {name}")

    assert "matches 2 upcoming events" in reply.lines[0], reply.text
    picked = await world.say(commands(reply)[-1])

    assert not picked.is_error, picked.text
    [row] = await world.watches()
    assert row.event_id is None and row.terms


async def test_an_event_named_after_a_day_is_found_by_its_name(world: World) -> None:
    async with world.sessions() as session, session.begin():
        session.add(
            Event(
                source="test",
                external_id="fri",
                name="Friday Night Lights",
                performers=["The Lights"],
                venue="Ball Arena",
                city="Denver",
                category="concert",
                starts_at=datetime(2024, 4, 1, 2, 0, tzinfo=UTC),
                timezone="America/Denver",
                created_at=world.clock.now(),
            )
        )

    reply = await world.say("watch friday night lights")

    [row] = await world.watches()
    assert row.event_id is not None, reply.text


async def test_initials_known_from_another_name_are_asked_about_not_watched(
    world: World,
) -> None:
    """'LA' is a word of "LA Clippers" but not of "Los Angeles Dodgers": watched as typed,
    'la dodgers' could never fire on a Dodgers game; the Dodgers games are offered."""
    async with world.sessions() as session, session.begin():
        clippers = await add_event(session, external_id="lac", name="Suns at LA Clippers",
                                   category="nba", performers=("LA Clippers", "Phoenix Suns"),
                                   starts_at=SAT_LOCAL)  # fmt: skip
        dodgers = await add_event(session, external_id="lad", name="Giants at Dodgers",
                                  performers=("Los Angeles Dodgers", "San Francisco Giants"),
                                  starts_at=FRI_LOCAL)  # fmt: skip
    assert clippers.id and dodgers.id

    reply = await world.say("watch LA dodgers under 50")

    assert await world.watches() == [], "no watch that can never fire"
    assert reply.lines[:2] == (
        "No upcoming event matches 'LA dodgers'.",
        "'dodgers' matches 1 upcoming event — pick one, or watch the words as typed:",
    ), reply.text
    assert f"watch #{dodgers.id} under 50" in commands(reply)
    # Every word long, both known, no game together: a game to come, watched as before.
    assert (await world.say("watch rockies orioles")).lines[0].startswith("Watching")


async def test_a_nickname_watches_the_team_it_names_and_says_so(world: World) -> None:
    reply = await world.say("watch D-Backs under 50")

    [row] = await world.watches()
    assert (row.event_id, row.max_price) == (world.events["rockies"], 50.0), reply.text
    assert reply.lines[0].startswith("Watching Rockies at Diamondbacks")
    assert reply.lines[1] == "You wrote 'D-Backs': read as Arizona Diamondbacks."


async def test_a_nickname_of_a_team_with_several_games_offers_them(world: World) -> None:
    reply = await world.say("watch yanks under 80")

    assert await world.watches() == []
    assert reply.lines[:2] == (
        "'New York Yankees' matches 2 upcoming events — which one?",
        "You wrote 'yanks': read as New York Yankees.",
    ), reply.text
    assert commands(reply)[-1] == "watch any New York Yankees under 80"


async def test_a_nickname_of_several_teams_none_playing_asks_which(world: World) -> None:
    reply = await world.say("watch cards")

    assert await world.watches() == []
    assert commands(reply) == [
        "watch St. Louis Cardinals",
        "watch Arizona Cardinals",
        "watch any cards",
    ], reply.text


async def test_a_nickname_of_several_teams_watches_the_one_playing(world: World) -> None:
    """St. Louis at Arizona holds the words of the Arizona Cardinals too, but lists only
    the baseball team."""
    async with world.sessions() as session, session.begin():
        stl = await add_event(session, external_id="stl", name="Cardinals at Diamondbacks",
                              performers=("Arizona Diamondbacks", "St. Louis Cardinals"),
                              starts_at=SAT_LOCAL)  # fmt: skip

    reply = await world.say("watch cards")

    [row] = await world.watches()
    assert row.event_id == stl.id, reply.text
    assert reply.lines[1] == "You wrote 'cards': read as St. Louis Cardinals."


async def test_a_zero_width_character_pasted_into_a_name_is_dropped(world: World) -> None:
    reply = await world.say("watch any yan\u200bkees\ufeff under 80")

    [row] = await world.watches()
    assert row.terms == ["yankees"], reply.text


async def test_a_category_with_a_zero_width_character_pasted_watches_the_category(
    world: World,
) -> None:
    reply = await world.say("watch mlb\u200b under 80")

    [row] = await world.watches()
    assert (row.category, row.terms, row.label) == ("mlb", [], "mlb"), reply.text
    assert "\u200b" not in reply.text
