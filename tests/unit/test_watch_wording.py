"""Everyday wording in `watch`: filler words, and choices that are commands again."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.commands import WatchCommand, parse
from core.domain import WatchSpec
from core.rules import WatchIndex, word_matches, words
from core.team_aliases import TEAM_ALIASES
from core.team_nicknames import nicknamed
from core.watch_choices import command_text, which_team
from tests.builders import game


def test_in_is_filler_like_at() -> None:
    assert words("Yankees in Boston") == ("yankees", "boston")


def test_a_stored_watch_with_in_now_finds_its_game() -> None:
    rockies_in_phoenix = WatchSpec(id=1, user_id=7, terms=("rockies in phoenix",))
    index = WatchIndex.from_specs([rockies_in_phoenix])
    assert [w.id for w in index.candidates(game())] == [1]


OPTIONS = WatchCommand("x", max_price=12345.67, quantity=2, zone="field level", drop_pct=12.5)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("#12", "watch #12"),
        ("any rockies", "watch any rockies"),
        ("mad max", 'watch "mad max"'),
        ("any mad max 40", 'watch "any mad max 40"'),
        ("“Under” Pressure", 'watch "“Under” Pressure"'),  # else "Pressure" follows a name
        ('"quoted" name', 'watch "quoted name"'),
        ("any " + "x" * 200, "watch any " + "x" * 200),
    ],
)
def test_choice_commands_parse_back_to_their_target(target: str, expected: str) -> None:
    assert command_text(target, WatchCommand("x")) == expected
    command = parse(command_text(target, OPTIONS))
    assert isinstance(command, WatchCommand)
    assert (command.max_price, command.quantity, command.zone, command.drop_pct) == (
        12345.67,
        2,
        "field level",
        12.5,
    )


@pytest.mark.parametrize(
    ("typed", "said"),
    [("GBP", "under £80"), ("CAD", "under 80 CAD"), (None, "under 80"), ("JPY", "under ¥80")],
)
def test_a_choice_keeps_the_currency_typed_with_the_max(typed: str | None, said: str) -> None:
    text = command_text("#12", WatchCommand("x", 80.0, currency=typed))
    assert text == f"watch #12 {said}"
    command = parse(text)
    assert isinstance(command, WatchCommand)
    assert (command.max_price, command.currency) == (80.0, typed)


ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


@pytest.mark.parametrize("mark", ZERO_WIDTH)
def test_zero_width_characters_pasted_into_a_name_are_no_part_of_it(mark: str) -> None:
    assert words(f"{mark}Dia{mark}mondbacks{mark}") == ("diamondbacks",)


@pytest.mark.parametrize(
    ("terms", "name"),
    [("diamond\u200bbacks", "Rockies at Diamondbacks"), ("rockies", "Rock\ufeffies at Dbacks")],
)
def test_a_zero_width_character_on_either_side_still_matches(terms: str, name: str) -> None:
    watch = WatchSpec(id=1, user_id=7, terms=(terms,))
    event = replace(game(), name=name, performers=())
    assert [w.id for w in WatchIndex.from_specs([watch]).candidates(event)] == [1]


@pytest.mark.parametrize("typed", ["dbacks", "D-Backs", "d backs", "DBACKS", "the d\u200bbacks"])
def test_a_nickname_names_its_team_however_it_is_written(typed: str) -> None:
    assert nicknamed(typed) == ("Arizona Diamondbacks",)


@pytest.mark.parametrize("typed", ["dbacksfan", "dbacks rockies", "yank", "sox", "mets"])
def test_only_a_whole_nickname_names_a_team(typed: str) -> None:
    assert nicknamed(typed) == ()


@pytest.mark.parametrize(("alias", "teams"), TEAM_ALIASES.items())
def test_no_nickname_is_already_found_by_the_team_name(alias: str, teams: tuple[str, ...]) -> None:
    """A nickname matching says nothing new ("mets", "sox"), and it would be shadowed."""
    for team in teams:
        haystack = set(words(team))
        assert not all(word_matches(w, haystack) for w in words(alias)), (alias, team)


def test_a_nickname_of_several_teams_asks_which_and_each_choice_parses_back() -> None:
    reply = which_team(WatchCommand("cards", max_price=50.0), nicknamed("Cards"))

    assert reply.lines == ("'cards' is a nickname of 2 teams — which one?",)
    assert [c.label for c in reply.choices[:2]] == ["St. Louis Cardinals", "Arizona Cardinals"]
    commands = [c.command or "" for c in reply.choices]
    assert commands == [
        "watch St. Louis Cardinals under 50",
        "watch Arizona Cardinals under 50",
        "watch any cards under 50",
    ]
    parsed = parse(commands[0])
    assert isinstance(parsed, WatchCommand) and parsed.what == "St. Louis Cardinals"
