"""What an escalation step says of the other open alerts its message stands for."""

from __future__ import annotations

from core.escalation_texts import ALSO_LINES, also_piece, chat_lines, spoken
from core.siblings import OpenSibling

DROP = OpenSibling(31, 12, "mlb", "drop_pct", 50.0, "down 11% to £50 from £56 in 24 h")


def test_each_other_alert_is_one_short_line_naming_its_watch() -> None:
    same_watch = OpenSibling(32, 7, "arsenal", "low_inventory", 50.0, "only 12 tickets left")
    piece = also_piece(7, [DROP, same_watch], "GBP")

    assert piece["lines"] == [
        "Also: watch #12 down 11% to £50 from £56 in 24 h",
        "Also: only 12 tickets left",  # another trigger of the alert's own watch
    ]
    assert (piece["alerts"], piece["count"]) == ([31, 32], 2)
    assert piece["spoken"] == "This also matches another of your watches."


def test_an_alert_without_a_reason_is_told_by_its_kind_and_price_in_the_events_currency() -> None:
    bare = OpenSibling(33, 14, None, "price_below", 45.0, None)

    assert also_piece(7, [bare], "GBP")["lines"] == ["Also: watch #14 price below at £45"]
    assert also_piece(7, [bare], None)["lines"] == ["Also: watch #14 price below at $45"]


def test_many_others_are_counted_beyond_the_lines_carried() -> None:
    many = [OpenSibling(100 + n, 20 + n, None, "drop_pct", 50.0, "down 11%") for n in range(15)]
    piece = also_piece(7, many, None)

    assert len(piece["lines"]) == ALSO_LINES and piece["count"] == 15


def test_the_spoken_sentence_counts_other_watches() -> None:
    other = OpenSibling(34, 13, None, "price_below", 50.0, "cheapest $50")
    mine = OpenSibling(35, 7, None, "low_inventory", 50.0, "only 12 tickets left")

    assert spoken(7, [DROP, other, mine]) == "This also matches 2 of your other watches."
    assert spoken(7, [mine]) == "This watch has another alert open for this event."
    assert spoken(7, [mine, mine]) == "This watch has 2 more alerts open for this event."


def test_a_chat_nudge_names_them_as_the_first_message_did() -> None:
    assert chat_lines(7, [DROP], "GBP", group=False) == (
        "Also matches your watch #12 (mlb): down 11% to £50 from £56 in 24 h"
    )
    assert chat_lines(7, [DROP], "GBP", group=True) == (
        "Also matches watch #12 (mlb): down 11% to £50 from £56 in 24 h"
    )
