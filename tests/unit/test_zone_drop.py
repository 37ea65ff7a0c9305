"""A zone or quantity watch priced from its fitting listings is not measured against the
event-wide 24 h high (the history keeps the event minimum, not each zone's price)."""

from __future__ import annotations

from datetime import timedelta

from core.domain import Listing, Match, TriggerKind, WatchSpec
from core.factors import MarketContext, price_factor
from core.rules import TriggerPlan, check, evaluate
from core.triggers import comparable_high
from tests.builders import NOW, game, point

GAME = game(starts_at=NOW + timedelta(days=11))
DROP = frozenset({TriggerKind.DROP_PCT})
# The event's cheapest seats are upper-deck $28 ones; the field seats cost $400 and more.
LISTINGS = (
    Listing("u1", 28.0, section="Upper 300", quantity=4),
    Listing("f1", 400.0, section="Field 12", quantity=2),
    Listing("f2", 420.0, section="Field 14", quantity=1),
)
HIGH = 60.0  # the event minimum's 24 h high


def spec(watch_id: int = 1, **fields: object) -> WatchSpec:
    values: dict[str, object] = {"event_id": 1, "triggers": DROP, "drop_pct": 10.0}
    values.update(fields)
    return WatchSpec(id=watch_id, user_id=7, **values)  # type: ignore[arg-type]


def test_a_zone_watch_fires_no_drop_against_the_event_wide_high() -> None:
    # Cheap upper seats "dropped" 53% vs $60; the field seats were never near $60.
    upper = spec(1, zones=("upper",))
    assert evaluate(upper, GAME, point(28.0), None, HIGH, (), NOW, listings=LISTINGS) == []
    assert check(upper, TriggerKind.DROP_PCT, GAME, point(28.0), HIGH, listings=LISTINGS) is None
    pair = spec(2, quantity=2)
    assert evaluate(pair, GAME, point(28.0), None, HIGH, (), NOW, listings=LISTINGS) == []


def test_the_trigger_plan_agrees() -> None:
    watches = (spec(1, zones=("upper",)), spec(2, quantity=2), spec(3))
    plan = TriggerPlan(watches)
    found = plan.matches(GAME, point(28.0), HIGH, (), NOW, listings=LISTINGS)
    assert [m.watch.id for m in found] == [3]  # only the plain watch: $28 vs its $60 high


def test_without_listings_a_zone_watch_reads_the_event_minimum_and_its_high() -> None:
    upper = spec(1, zones=("upper",))
    (found,) = evaluate(upper, GAME, point(28.0), None, HIGH, (), NOW)
    assert found.kind is TriggerKind.DROP_PCT and "from $60" in found.reason
    assert comparable_high(upper, HIGH) == HIGH
    assert comparable_high(upper, HIGH, LISTINGS) is None
    assert comparable_high(spec(3), HIGH, LISTINGS) == HIGH


def test_the_price_factor_claims_no_drop_for_a_zone_watch_priced_from_listings() -> None:
    field = spec(1, zones=("field",), max_price=450.0, triggers=frozenset())
    m = Match(field, GAME, TriggerKind.PRICE_BELOW, "test", 400.0)
    ctx = MarketContext(point(28.0), high_24h=500.0, tickets_left=3, listings=LISTINGS)
    value, reason = price_factor(m, ctx)
    assert "24 h high" not in reason and "under your max" in reason
    assert price_factor(m, ctx, explain=False)[0] == value
    # The same figures without listings: the price is the event's, so is the high.
    plain_ctx = MarketContext(point(400.0), high_24h=500.0, tickets_left=3)
    plain_value, plain_reason = price_factor(m, plain_ctx)
    assert "down 20% vs the 24 h high $500" in plain_reason and plain_value > value


def test_without_listings_a_zone_or_quantity_reason_says_the_seats_were_not_checked() -> None:
    """The event's cheapest is not a price for the zone: the reasons must not read as
    if the wanted seats were found at it."""
    upper = spec(1, zones=("upper",), max_price=30.0, triggers=DROP | {TriggerKind.PRICE_BELOW})
    found = {m.kind: m.reason for m in evaluate(upper, GAME, point(28.0), None, HIGH, (), NOW)}
    note = " (whole event: no listings to check zone upper)"
    assert found[TriggerKind.PRICE_BELOW] == f"cheapest $28 is at or under your max $30{note}"
    assert found[TriggerKind.DROP_PCT].endswith(note)
    pair = spec(2, quantity=2, max_price=30.0, triggers=frozenset({TriggerKind.PRICE_BELOW}))
    (match,) = evaluate(pair, GAME, point(28.0), None, HIGH, (), NOW)
    assert match.reason.endswith("(whole event: no listings to check 2 together)")
    _, reason = price_factor(match, MarketContext(point(28.0), high_24h=HIGH, tickets_left=9))
    assert reason.endswith("(whole event: no listings to check 2 together)"), reason
    # With listings the seats are checked, and a plain watch has nothing to check.
    (seats,) = evaluate(pair, GAME, point(28.0), None, HIGH, (), NOW, listings=LISTINGS)
    assert "no listings" not in seats.reason
    plain = spec(3, max_price=30.0, triggers=frozenset({TriggerKind.PRICE_BELOW}))
    (whole,) = evaluate(plain, GAME, point(28.0), None, HIGH, (), NOW)
    assert whole.reason == "cheapest $28 is at or under your max $30"
