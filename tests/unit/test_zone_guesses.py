"""The zone `tz` suggests for a name it does not know (core.command_values.parse_zone).

Before, the whole typed name was matched loosely against every zone name, so the hint
named a place hours away: "tz Mumbai" -> "did you mean Cuba?" (UTC-5 for UTC+5:30),
"tz Asia/Delhi" -> Asia/Dili (UTC+9), "tz America/Seattle" -> America/Thule (Greenland),
"tz SGT" -> GMT; a person who follows such a hint gets every time shown hours off. And a
bare city that is a zone's ("tz Sydney", "tz Paris") got no hint at all.
"""

from __future__ import annotations

import pytest

from core.command_values import CommandError, parse_zone

EXAMPLE = "tz America/New_York"


def _hint(typed: str) -> str:
    with pytest.raises(CommandError) as info:
        parse_zone(typed, EXAMPLE)
    return str(info.value)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("Sydney", "Australia/Sydney"),
        ("paris", "Europe/Paris"),
        ("Kathmandu", "Asia/Kathmandu"),
        ("Kolkatta", "Asia/Kolkata"),
        ("Sydny", "Australia/Sydney"),
        ("America/NewYork", "America/New_York"),
        ("europe/pariss", "Europe/Paris"),
        ("Canada/Toronto", "America/Toronto"),
        ("Sydney/Australia", "Australia/Sydney"),
        ("America/Sao Paulo", "America/Sao_Paulo"),
    ],
)
def test_a_city_gets_its_zone_suggested(typed: str, meant: str) -> None:
    assert _hint(typed) == f"unknown time zone '{typed}' (did you mean {meant}?), e.g. {EXAMPLE}"


@pytest.mark.parametrize(
    "typed",
    ["Mumbai", "SGT", "India", "China", "Z", "Asia/Delhi", "Asia/Mumbai",
     "America/Seattle", "America/Dallas", "US/Texas"],
)  # fmt: skip
def test_no_guess_rather_than_a_place_hours_away(typed: str) -> None:
    assert _hint(typed) == f"unknown time zone '{typed}', e.g. {EXAMPLE}"
