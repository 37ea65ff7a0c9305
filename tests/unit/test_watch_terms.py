"""Which open alerts a changed watch keeps (`core.watch_change.WatchTerms.still_holds`): the
ones the new terms would still open, by the rules of `core.triggers.fire`."""

from __future__ import annotations

import pytest

from core.db.models import Alert
from core.watch_change import WatchTerms


def terms(
    max_price: float | None = 40.0,
    *,
    drop: float | None = None,
    triggers: tuple[str, ...] = ("price_below", "drop_pct", "new_listing", "low_inventory"),
    currency: str | None = None,
    quantity: int = 1,
) -> WatchTerms:
    return WatchTerms(max_price, quantity, (), drop, frozenset(triggers), currency)


def alert(kind: str, price: float | None) -> Alert:
    return Alert(kind=kind, price=price)


@pytest.mark.parametrize(
    ("kind", "price", "after", "kept"),
    [
        ("price_below", 35.0, terms(38.0), True),
        ("price_below", 35.0, terms(30.0), False),
        ("price_below", 35.0, terms(None), False),  # no max: price_below cannot fire
        ("price_below", 35.0, terms(40.0, currency="GBP"), False),  # another currency
        # drop and new-listing alerts need their price under the max too
        ("drop_pct", 35.0, terms(38.0, drop=10.0), True),
        ("drop_pct", 35.0, terms(30.0, drop=10.0), False),
        ("drop_pct", 35.0, terms(None, drop=10.0), True),
        ("drop_pct", 35.0, terms(40.0, drop=20.0), False),  # a larger drop wanted
        ("new_listing", 35.0, terms(38.0), True),
        ("new_listing", 35.0, terms(30.0), False),
        ("new_listing", None, terms(30.0), False),
        ("new_listing", 35.0, terms(None), True),
        ("low_inventory", 35.0, terms(10.0), True),  # no price rule
        ("low_inventory", 35.0, terms(40.0, quantity=2), False),  # other seats
        ("low_inventory", 35.0, terms(40.0, triggers=("price_below",)), False),  # dropped
    ],
)
def test_a_changed_watch_keeps_the_alerts_its_new_terms_would_open(
    kind: str, price: float | None, after: WatchTerms, kept: bool
) -> None:
    before = terms(40.0, drop=10.0)
    assert after.still_holds(alert(kind, price), before) is kept


def test_a_max_typed_in_a_new_currency_closes_drop_and_new_listing_alerts_too() -> None:
    before = terms(40.0, drop=10.0, currency="GBP")
    after = terms(40.0, drop=10.0, currency="EUR")
    for kind in ("price_below", "drop_pct", "new_listing"):
        assert not after.still_holds(alert(kind, 35.0), before)
    assert after.still_holds(alert("low_inventory", 35.0), before)
