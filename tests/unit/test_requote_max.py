"""A kept alert's reason quotes the watch's new max (`core.watch_change.requoted`)."""

from __future__ import annotations

from core.watch_change import requoted


def test_the_max_is_requoted_in_the_events_currency_and_the_rest_kept() -> None:
    reason = "cheapest £45 is at or under your max £50 (whole event: no listings to check zone A)"

    assert requoted(reason, 50.0, 47.5, "GBP") == (
        "cheapest £45 is at or under your max £47.50 (whole event: no listings to check zone A)"
    )


def test_only_that_exact_max_is_requoted() -> None:
    reason = "cheapest $45 is at or under your max $50"

    assert requoted(reason, 5.0, 4.0, "USD") == reason  # "$5" is not "$50"
    assert requoted(reason, 50.0, 45.0, "EUR") == reason  # written in another currency
    assert requoted("only 12 tickets left", 50.0, 45.0, None) == "only 12 tickets left"
    assert requoted("cheapest $1,344 is at or under your max $1,400", 1.0, 2.0, None) == (
        "cheapest $1,344 is at or under your max $1,400"
    )
