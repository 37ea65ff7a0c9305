"""Defects found by a QA pass over the chat commands, typed as a person would."""

from __future__ import annotations

import pytest

from core.commands import (
    AckCommand,
    CommandError,
    ContactAddCommand,
    QuietCommand,
    TzCommand,
    WatchCommand,
    parse,
)
from core.rules import fold

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 👨‍👩‍👧, one emoji joined by U+200D
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 🏳️‍🌈


def test_a_joined_emoji_in_a_watch_name_keeps_its_joiners() -> None:
    # "watch 👨‍👩‍👧 family" was stored and shown as '👨👩👧 family': three emoji.
    command = parse(f"watch {FAMILY} family under 80")
    assert isinstance(command, WatchCommand)
    assert command.what == f"{FAMILY} family"
    flag = parse(f"watch {RAINBOW_FLAG} pride")
    assert isinstance(flag, WatchCommand)
    assert flag.what == f"{RAINBOW_FLAG} pride"


def test_a_joined_emoji_in_a_contact_name_keeps_its_joiners() -> None:
    command = parse(f"contact add {FAMILY} Family +14155550124")
    assert command == ContactAddCommand(name=f"{FAMILY} Family", number="+14155550124")


def test_matching_still_folds_the_joiner_away() -> None:
    assert fold(f"{FAMILY} family") == fold("\U0001f468\U0001f469\U0001f467 family")


def test_a_pasted_joiner_beside_ascii_is_still_dropped() -> None:
    assert parse("ack 12\u200d") == AckCommand(12)
    assert parse("ack\u200d 12") == AckCommand(12)
    command = parse("watch yank\u200dees")
    assert isinstance(command, WatchCommand)
    assert command.what == "yankees"


def test_a_command_typo_with_words_after_it_suggests_the_command_that_takes_them() -> None:
    # "watchs knicks" suggested "watches", whose example then refuses "knicks".
    with pytest.raises(CommandError) as err:
        parse("watchs knicks")
    assert "did you mean watch?" in err.value.reason
    assert err.value.example.startswith("watch ")
    with pytest.raises(CommandError) as alone:
        parse("watchs")
    assert "did you mean watches?" in alone.value.reason


@pytest.mark.parametrize("typed", ["tz America/New York", "tz america/new york"])
def test_a_zone_typed_with_a_space_is_read_with_the_underscore(typed: str) -> None:
    # "tz America/New York" answered "give one time zone as Area/City".
    assert parse(typed) == TzCommand("America/New_York")


def test_two_words_that_are_no_zone_still_ask_for_area_and_city() -> None:
    with pytest.raises(CommandError) as err:
        parse("tz New York")
    assert err.value.reason == "give one time zone as Area/City"


@pytest.mark.parametrize(
    ("typed", "start", "end"),
    [
        ("quiet 10pm-7am", "22:00", "07:00"),
        ("quiet 10:30 PM - 6 AM", "22:30", "06:00"),
        ("quiet 12am-6am", "00:00", "06:00"),
        ("quiet 11pm-12pm", "23:00", "12:00"),
    ],
)
def test_quiet_hours_read_am_and_pm(typed: str, start: str, end: str) -> None:
    # "quiet 10pm-7am" answered "'10pm' is not a time like 22:00".
    assert parse(typed) == QuietCommand(start, end)


def test_a_pm_hour_past_twelve_is_refused() -> None:
    with pytest.raises(CommandError):
        parse("quiet 13pm-7am")
