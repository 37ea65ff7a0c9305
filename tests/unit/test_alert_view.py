"""`hdtickets alerts show`: the forecast lines say estimates as the alert texts do."""

from __future__ import annotations

from bot.cli.alert_view import forecast_lines


def _depletion(hours: object) -> str:
    [line] = [
        line
        for line in forecast_lines({"hours_to_depletion": hours, "model": "heuristic"}, None, "USD")
        if "depletion in" in line
    ]
    return line.split("depletion in ")[1].split(" · ")[0]


def test_depletion_is_a_rough_duration_never_zero_hours() -> None:
    assert _depletion(0.0) == "under a minute"
    assert _depletion(0.4) == "about 24 min"
    assert _depletion(10.2) == "about 10 h"
    assert _depletion(30.0) == "1 day 6 h"
    assert _depletion(None) == "-"
