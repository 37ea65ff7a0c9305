"""Matching: the watch index (event id, terms, categories) and the four triggers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.domain import EventRef, Listing, MarketPoint, TriggerKind, WatchSpec
from core.rules import (
    WatchIndex,
    check,
    effective_price,
    evaluate,
    skip_reason,
    tickets_left,
    words,
)
from tests.builders import NOW, game, point

GAME = game()
CONCERT = EventRef(
    id=2,
    name="Taylor Swift | The Eras Tour",
    starts_at=datetime(2024, 5, 1, 19, 0, tzinfo=UTC),
    category="concert",
    performers=("Taylor Swift",),
    venue="Estadio Azteca",
    city="Mexico City",
)


def spec(watch_id: int = 1, **fields: object) -> WatchSpec:
    return WatchSpec(id=watch_id, user_id=7, **fields)  # type: ignore[arg-type]


def ids(index: WatchIndex, event: EventRef) -> set[int]:
    return {w.id for w in index.candidates(event)}


# --- the index --------------------------------------------------------------------------


def test_words_drop_small_words_and_fold_case() -> None:
    assert words("Yankees vs Red Sox") == ("yankees", "red", "sox")
    assert words("The Rockies AT Chase") == ("rockies", "chase")


def test_event_id_watch_matches_only_that_event() -> None:
    index = WatchIndex.from_specs([spec(1, event_id=1), spec(2, event_id=2)])
    assert ids(index, GAME) == {1}
    assert ids(index, CONCERT) == {2}


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (("Rockies",), True),
        (("rockies",), True),
        (("Colorado Rockies",), True),
        (("Diamondbacks", "Rockies"), True),
        (("Rockies vs Diamondbacks",), True),  # "vs" is ignored
        (("rockie",), True),  # a prefix of three letters or more
        (("Chase Field",), True),
        (("Phoenix",), True),
        (("mlb",), True),
        (("Yankees",), False),
        (("Rockies", "Yankees"), False),  # every term must match
        (("ro",), False),  # too short for a prefix
        (("Colorado Avalanche",), False),
    ],
)
def test_term_watches(terms: tuple[str, ...], expected: bool) -> None:
    index = WatchIndex.from_specs([spec(1, terms=terms)])
    assert (1 in ids(index, GAME)) is expected


def test_category_watch_matches_only_its_category() -> None:
    index = WatchIndex.from_specs(
        [
            spec(1, category="mlb"),
            spec(2, category="MLB", terms=("Rockies",)),
            spec(3, category="nba", terms=("Rockies",)),
            spec(4, category="concert"),
        ]
    )
    assert ids(index, GAME) == {1, 2}
    assert ids(index, CONCERT) == {4}


def test_venue_watch_and_unicode_terms() -> None:
    index = WatchIndex.from_specs(
        [spec(1, venue="Estadio Azteca"), spec(2, terms=("TAYLOR swift",))]
    )
    assert ids(index, CONCERT) == {1, 2}
    assert ids(index, GAME) == set()


def test_inactive_watches_are_not_indexed() -> None:
    index = WatchIndex.from_specs([spec(1, event_id=1, active=False), spec(2, event_id=1)])
    assert ids(index, GAME) == {2} and len(index) == 1


def test_add_remove_replace_keep_the_index_current() -> None:
    index = WatchIndex.from_specs([spec(1, terms=("Rockies",))])
    assert ids(index, GAME) == {1}
    index.add(spec(2, event_id=1))
    assert ids(index, GAME) == {1, 2}
    index.replace(spec(1, terms=("Yankees",)))
    assert ids(index, GAME) == {2}
    index.remove(2)
    assert ids(index, GAME) == set()
    index.replace(spec(1, terms=("Chase",)))
    assert ids(index, GAME) == {1}
    index.replace(spec(1, terms=("Chase",), active=False))
    assert ids(index, GAME) == set() and 1 not in index
    index.remove(99)  # unknown ids are ignored


def test_on_change_hook() -> None:
    index = WatchIndex()
    index.on_change(spec(5, event_id=1), "created")
    assert ids(index, GAME) == {5}
    index.on_change(5, "removed")
    assert ids(index, GAME) == set()


def test_candidates_follow_a_renamed_event() -> None:
    index = WatchIndex.from_specs([spec(1, terms=("Dodgers",))])
    assert ids(index, GAME) == set()
    renamed = replace(GAME, name="Dodgers at Diamondbacks")
    assert ids(index, renamed) == {1}


def test_many_watches_find_only_theirs() -> None:
    specs = [spec(i, event_id=i % 50) for i in range(1, 2001)]
    specs += [spec(10_000 + i, terms=(f"team{i}",)) for i in range(500)]
    index = WatchIndex.from_specs(specs)
    found = index.candidates(GAME)
    assert {w.id for w in found} == {i for i in range(1, 2001) if i % 50 == 1}
    assert index.candidates(GAME) is found  # cached until the index changes


# --- skip rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"active": False}, "watch paused"),
        ({"expires_at": NOW}, "watch expired"),
        ({"expires_at": NOW - timedelta(days=1)}, "watch expired"),
        ({"muted_events": frozenset({1})}, "event muted"),
        ({"snoozed_until": NOW + timedelta(minutes=1)}, "watch snoozed"),
        ({"snooze_below": 25.0}, "watch snoozed until cheaper"),
        ({"snoozed_until": NOW}, None),
        ({"snooze_below": 28.0}, None),
        ({"expires_at": NOW + timedelta(days=1)}, None),
    ],
)
def test_skip_reason(fields: dict[str, object], reason: str | None) -> None:
    watch = spec(1, event_id=1, max_price=40.0, **fields)
    assert skip_reason(watch, GAME, point(28.0), NOW) == reason
    assert bool(evaluate(watch, GAME, point(28.0), None, None, (), NOW)) is (reason is None)


def test_started_events_and_sold_out_snapshots_never_match() -> None:
    watch = spec(1, event_id=1, max_price=40.0)
    assert evaluate(watch, GAME, point(28.0), None, None, (), GAME.starts_at) == []
    assert evaluate(watch, GAME, point(28.0, tickets=0), None, None, (), NOW) == []


# --- triggers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "fires"), [(28.0, True), (40.0, True), (40.01, False), (None, False)]
)
def test_price_below(price: float | None, fires: bool) -> None:
    watch = spec(1, event_id=1, max_price=40.0)
    matches = evaluate(watch, GAME, point(price), None, None, (), NOW)
    assert bool(matches) is fires
    if fires:
        assert matches[0].kind is TriggerKind.PRICE_BELOW and matches[0].price == price
        assert "$40" in matches[0].reason


def test_price_below_needs_a_max() -> None:
    assert evaluate(spec(1, event_id=1), GAME, point(1.0), None, None, (), NOW) == []


@pytest.mark.parametrize(
    ("high", "price", "fires"),
    [(50.0, 40.0, True), (50.0, 45.0, False), (50.0, 42.5, True), (None, 10.0, False)],
)
def test_drop_pct(high: float | None, price: float, fires: bool) -> None:
    watch = spec(1, event_id=1, triggers=frozenset({TriggerKind.DROP_PCT}), drop_pct=15.0)
    matches = evaluate(watch, GAME, point(price), None, high, (), NOW)
    assert bool(matches) is fires
    if fires:
        assert matches[0].kind is TriggerKind.DROP_PCT and "down" in matches[0].reason


def test_drop_respects_the_max_when_there_is_one() -> None:
    watch = spec(
        1, event_id=1, triggers=frozenset({TriggerKind.DROP_PCT}), drop_pct=10.0, max_price=30.0
    )
    assert evaluate(watch, GAME, point(40.0), None, 100.0, (), NOW) == []
    assert evaluate(watch, GAME, point(29.0), None, 100.0, (), NOW) != []


@pytest.mark.parametrize(("tickets", "fires"), [(50, True), (51, False), (1, True), (None, False)])
def test_low_inventory(tickets: int | None, fires: bool) -> None:
    watch = spec(1, event_id=1, triggers=frozenset({TriggerKind.LOW_INVENTORY}), low_inventory=50)
    matches = evaluate(watch, GAME, point(28.0, tickets=tickets), None, None, (), NOW)
    assert bool(matches) is fires


def test_low_inventory_counts_tickets_for_the_wanted_quantity_and_zone() -> None:
    listings = (
        Listing("a", 30.0, section="112", quantity=4),
        Listing("b", 25.0, section="112", quantity=1),
        Listing("c", 35.0, section="Upper 300", quantity=6),
    )
    watch = spec(
        1,
        event_id=1,
        triggers=frozenset({TriggerKind.LOW_INVENTORY}),
        low_inventory=5,
        quantity=2,
        zones=("112",),
    )
    assert tickets_left(watch, point(), listings) == 4
    assert effective_price(watch, point(), listings) == 30.0
    (match,) = evaluate(watch, GAME, point(tickets=1344), None, None, (), NOW, listings=listings)
    assert match.price == 30.0 and "4 tickets" in match.reason


def test_price_below_uses_listings_for_quantity() -> None:
    listings = (Listing("a", 20.0, quantity=1), Listing("b", 45.0, quantity=2))
    watch = spec(1, event_id=1, max_price=40.0, quantity=2)
    assert evaluate(watch, GAME, point(20.0), None, None, (), NOW, listings=listings) == []
    solo = spec(2, event_id=1, max_price=40.0)
    assert evaluate(solo, GAME, point(20.0), None, None, (), NOW, listings=listings) != []


def test_new_listing_fires_for_new_ids_at_or_under_the_max() -> None:
    watch = spec(1, event_id=1, max_price=40.0, triggers=frozenset({TriggerKind.NEW_LISTING}))
    listings = (Listing("old", 20.0), Listing("new1", 45.0), Listing("new2", 39.0))
    (match,) = evaluate(
        watch, GAME, point(20.0), None, None, ("new1", "new2"), NOW, listings=listings
    )
    assert match.kind is TriggerKind.NEW_LISTING and match.price == 39.0
    assert evaluate(watch, GAME, point(20.0), None, None, ("new1",), NOW, listings=listings) == []
    assert evaluate(watch, GAME, point(20.0), None, None, (), NOW, listings=listings) == []


def test_several_triggers_fire_together_in_a_stable_order() -> None:
    watch = spec(
        1,
        event_id=1,
        max_price=40.0,
        triggers=frozenset(
            {TriggerKind.LOW_INVENTORY, TriggerKind.PRICE_BELOW, TriggerKind.DROP_PCT}
        ),
        low_inventory=2000,
        drop_pct=10.0,
    )
    kinds = [m.kind for m in evaluate(watch, GAME, point(28.0), None, 40.0, (), NOW)]
    assert kinds == [TriggerKind.PRICE_BELOW, TriggerKind.DROP_PCT, TriggerKind.LOW_INVENTORY]


def test_check_ignores_snooze_for_open_alerts() -> None:
    watch = spec(1, event_id=1, max_price=40.0, snoozed_until=NOW + timedelta(hours=1))
    assert evaluate(watch, GAME, point(28.0), None, None, (), NOW) == []
    assert check(watch, TriggerKind.PRICE_BELOW, GAME, point(28.0), None) is not None
    assert check(watch, TriggerKind.PRICE_BELOW, GAME, point(41.0), None) is None


# --- the 24 h history that feeds drop_pct -----------------------------------------------


def test_history_high_is_the_highest_minimum_of_the_24_hours_before() -> None:
    from core.history import MarketHistory

    history = MarketHistory(window_s=24 * 3600, max_points=8)

    def at(hours: float, price: float | None) -> MarketPoint:
        return MarketPoint(1, NOW + timedelta(hours=hours), price, None, None, None, None, None)

    for hours, price in [(-30, 99.0), (-20, 60.0), (-10, 55.0), (-5, None), (-1, 50.0)]:
        history.append(at(hours, price))
    assert history.high(1, NOW) == 60.0  # the -30 h point is out of the window
    assert history.high(1, NOW - timedelta(hours=10)) == 60.0  # strictly before
    assert history.high(2, NOW) is None
    history.append(at(-15, 70.0))  # late, out of order: still counted
    assert [p.min_price for p in history.points(1)][-4:] == [70.0, 55.0, None, 50.0]
    assert history.high(1, NOW) == 70.0
    assert history.latest(1) is not None and history.latest(1).min_price == 50.0  # type: ignore[union-attr]
    assert history.prune(NOW + timedelta(days=2)) == 1 and len(history) == 0


def test_history_ring_is_bounded() -> None:
    from core.history import MarketHistory

    history = MarketHistory(max_points=3)
    for minute in range(10):
        history.append(
            MarketPoint(
                1, NOW + timedelta(minutes=minute), float(minute), None, None, None, None, None
            )
        )
    assert [p.min_price for p in history.points(1)] == [7.0, 8.0, 9.0]


def test_history_reference_for_the_drain_is_old_enough() -> None:
    """A feed polled every few seconds: the stored snapshot before is seconds old, so
    the drain is measured against the newest remembered point five minutes older."""
    from core.history import MarketHistory

    history = MarketHistory()
    gap = timedelta(minutes=5)

    def at(seconds: float, tickets: int | None) -> MarketPoint:
        when = NOW + timedelta(seconds=seconds)
        return MarketPoint(1, when, 50.0, None, None, None, None, tickets)

    for second in range(0, 600, 10):
        history.append(at(second, 1000 - second if second != 290 else None))
    now, previous = at(600, 400), at(590, 410)
    reference = history.reference(now, previous, gap)
    assert reference is not None and reference.observed_at == NOW + timedelta(seconds=300)
    history.append(at(295, None))  # no count: skipped for an older point with one
    assert history.reference(at(596, 400), previous, gap) == at(280, 720)
    old_enough = at(0, 1000)
    assert history.reference(now, old_enough, gap) is old_enough  # the stored one will do
    assert history.reference(at(120, 880), at(110, 890), gap) == at(110, 890)  # none older
    assert history.reference(now, None, gap) is None


TOKYO = replace(
    GAME, id=3, name="Tokyo Giants Fan Fest 東京ドーム", performers=("読売ジャイアンツ",)
)


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("東京ドーム", True),  # the whole run of text
        ("東京", True),  # written without spaces: any part of two characters or more
        ("ドーム", True),
        ("ジャイアンツ", True),
        ("東", False),  # one character is too little to mean a place or a name
        ("大阪", False),
        ("gian", True),  # latin words keep prefix matching from three letters
        ("ian", False),
    ],
)
def test_words_of_unspaced_scripts_match_as_any_part(term: str, found: bool) -> None:
    index = WatchIndex.from_specs([spec(1, terms=(term,))])
    assert (ids(index, TOKYO) == {1}) is found
