"""Everyday wording in `watch`: filler words, and choices that are commands again."""

from __future__ import annotations

import pytest

from core.commands import WatchCommand, parse
from core.domain import WatchSpec
from core.rules import WatchIndex, words
from core.watch_choices import command_text
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
