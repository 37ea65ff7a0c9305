"""A watch's max in a currency of its own holds only on events priced in it.

A watch on words or a category spans events of several currencies; its max was compared
as a bare number with each event's prices, so "arsenal under ¥7,000" fired on every
dollar game under $7,000 and "under £80" on a dollar game at $79. A watch without a
currency keeps reading its number in each event's currency.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.domain import EventRef, Level, Listing, MarketPoint, Match, TriggerKind, WatchSpec
from core.factors import MarketContext, price_factor, price_value
from core.render import AlertView, title
from core.rules import WatchIndex, check, evaluate, spec_from_row

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
LONDON = EventRef(id=1, name="Arsenal v Spurs", starts_at=NOW + timedelta(days=9))
NEW_YORK = EventRef(id=2, name="Arsenal v Red Bulls", starts_at=NOW + timedelta(days=5))
TOKYO = EventRef(id=3, name="Arsenal v Kashima", starts_at=NOW + timedelta(days=7))


def _point(event: EventRef, price: float, currency: str | None) -> MarketPoint:
    return MarketPoint(event.id, NOW, price, None, None, None, 12, 400, currency)


def _words(max_price: float | None, currency: str | None, **kw: object) -> WatchSpec:
    return WatchSpec(
        id=7, user_id=1, terms=("arsenal",), max_price=max_price, currency=currency, **kw
    )  # type: ignore[arg-type]


def _fired(
    watch: WatchSpec, event: EventRef, point: MarketPoint, high: float | None = None
) -> list[tuple[TriggerKind, str]]:
    """What the engine's fast path (the index's plan) and `evaluate` both say."""
    index = WatchIndex.from_specs([watch])
    planned = index.plan(event).matches(event, point, high, (), NOW)
    one = evaluate(watch, event, point, None, high, (), NOW)
    assert [(m.kind, m.reason) for m in planned] == [(m.kind, m.reason) for m in one]
    return [(m.kind, m.reason) for m in planned]


def test_a_pound_max_on_words_does_not_fire_on_a_dollar_event_at_a_lower_number() -> None:
    watch = _words(80.0, "GBP")

    assert _fired(watch, NEW_YORK, _point(NEW_YORK, 79.0, "USD")) == []
    assert _fired(watch, NEW_YORK, _point(NEW_YORK, 79.0, None)) == []  # None reads as USD
    assert (
        check(watch, TriggerKind.PRICE_BELOW, NEW_YORK, _point(NEW_YORK, 79.0, "USD"), None) is None
    )


def test_a_pound_max_on_words_fires_on_a_pound_event() -> None:
    fired = _fired(_words(80.0, "GBP"), LONDON, _point(LONDON, 79.0, "GBP"))

    assert fired == [(TriggerKind.PRICE_BELOW, "cheapest £79 is at or under your max £80")]


def test_a_yen_max_does_not_fire_on_dollar_or_pound_events() -> None:
    watch = _words(7000.0, "JPY")

    assert _fired(watch, NEW_YORK, _point(NEW_YORK, 6500.0, "USD")) == []
    assert _fired(watch, LONDON, _point(LONDON, 95.0, "GBP")) == []
    assert _fired(watch, TOKYO, _point(TOKYO, 6500.0, "JPY")) == [
        (TriggerKind.PRICE_BELOW, "cheapest ¥6,500 is at or under your max ¥7,000")
    ]


@pytest.mark.parametrize("currency", ["USD", "GBP", None])
def test_a_max_without_a_currency_is_read_in_each_events(currency: str | None) -> None:
    assert [
        kind for kind, _ in _fired(_words(80.0, None), LONDON, _point(LONDON, 79.0, currency))
    ] == [TriggerKind.PRICE_BELOW]


def test_a_drop_under_a_max_in_another_currency_does_not_fire() -> None:
    drop = frozenset({TriggerKind.DROP_PCT})
    with_max = _words(80.0, "GBP", triggers=drop, drop_pct=10.0)
    without = _words(None, None, triggers=drop, drop_pct=10.0)
    point = _point(NEW_YORK, 60.0, "USD")  # down 40% from $100

    assert _fired(with_max, NEW_YORK, point, high=100.0) == []
    assert [kind for kind, _ in _fired(without, NEW_YORK, point, high=100.0)] == [
        TriggerKind.DROP_PCT
    ]
    assert [kind for kind, _ in _fired(with_max, LONDON, _point(LONDON, 60.0, "GBP"), 100.0)] == [
        TriggerKind.DROP_PCT
    ]


def test_a_new_listing_under_a_max_in_another_currency_does_not_fire() -> None:
    watch = _words(80.0, "GBP", triggers=frozenset({TriggerKind.NEW_LISTING}))
    cheap = (Listing(listing_id="a", price=50.0, section="Lower 101", quantity=2),)
    for event, currency, wanted in ((NEW_YORK, "USD", []), (LONDON, "GBP", ["a"])):
        point = _point(event, 50.0, currency)
        plan = WatchIndex.from_specs([watch]).plan(event)
        found = plan.matches(event, point, None, ("a",), NOW, listings=cheap)
        assert ["a" for m in found if m.kind is TriggerKind.NEW_LISTING] == wanted


def test_a_snooze_price_in_another_currency_keeps_the_watch_snoozed() -> None:
    watch = _words(80.0, "GBP", snooze_below=60.0)

    assert _fired(watch, NEW_YORK, _point(NEW_YORK, 40.0, "USD")) == []
    assert [kind for kind, _ in _fired(watch, LONDON, _point(LONDON, 40.0, "GBP"))] == [
        TriggerKind.PRICE_BELOW
    ]


def test_the_plan_sorts_watches_of_several_currencies_apart() -> None:
    watches = [
        WatchSpec(id=1, user_id=1, terms=("arsenal",), max_price=80.0, currency="GBP"),
        WatchSpec(id=2, user_id=1, terms=("arsenal",), max_price=80.0),
        WatchSpec(id=3, user_id=1, terms=("arsenal",), max_price=7000.0, currency="JPY"),
        WatchSpec(id=4, user_id=1, terms=("arsenal",), max_price=90.0, currency="USD"),
    ]
    index = WatchIndex.from_specs(watches)

    def ids(event: EventRef, price: float, currency: str | None) -> list[int]:
        point = _point(event, price, currency)
        return [m.watch.id for m in index.plan(event).matches(event, point, None, (), NOW)]

    assert ids(NEW_YORK, 79.0, "USD") == [2, 4]
    assert ids(NEW_YORK, 79.0, None) == [2, 4]
    assert ids(LONDON, 79.0, "GBP") == [1, 2]
    assert ids(TOKYO, 79.0, "JPY") == [2, 3]


def test_the_matcher_reads_the_currency_of_a_row() -> None:
    row = {
        "id": 7, "user_id": 1, "event_id": None, "terms": ["arsenal"], "category": None,
        "venue": None, "max_price": 80.0, "currency": "GBP", "quantity": 1, "zones": [],
        "triggers": ["price_below"], "drop_pct": None, "low_inventory": None, "min_level": 1,
        "cooldown_s": 3600, "active": True, "removed_at": None, "snoozed_until": None,
        "snooze_below": None, "expires_at": None, "favourite": False, "muted_event_ids": [],
    }  # fmt: skip

    assert spec_from_row(row).currency == "GBP"
    assert spec_from_row({**row, "currency": None}).currency is None


def test_a_max_in_another_currency_is_neither_scored_nor_quoted() -> None:
    """A low-inventory match of "arsenal under £80" on a dollar game: its price factor and
    its title said "$50 is 38% under your max $80", a max the person never typed."""
    point = _point(NEW_YORK, 50.0, "USD")
    match = Match(_words(80.0, "GBP"), NEW_YORK, TriggerKind.LOW_INVENTORY, "only 12 left", 50.0)
    value, reason = price_factor(match, MarketContext(point))
    assert (value, reason) == (price_value(50.0, None, None), "cheapest $50")
    assert price_factor(match, MarketContext(point), explain=False)[0] == value
    pounds = price_factor(
        Match(_words(80.0, "GBP"), LONDON, TriggerKind.LOW_INVENTORY, "", 50.0),
        MarketContext(_point(LONDON, 50.0, "GBP")),
    )
    assert pounds == (price_value(50.0, 80.0, None), "£50 is 38% under your max £80")

    view = AlertView(
        alert_id=1, kind="drop_pct", status="open", level=Level.HIGH, score=0.7,
        event=NEW_YORK, price=50.0, max_price=80.0, max_currency="GBP", currency="USD",
    )  # fmt: skip
    assert title(view).endswith("Arsenal v Red Bulls — $50")
    assert title(replace(view, currency="GBP", event=LONDON)).endswith("— £50 (your max £80)")
    assert title(replace(view, max_currency=None)).endswith("— $50 (your max $80)")
