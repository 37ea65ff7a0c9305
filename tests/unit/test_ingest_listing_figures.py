"""A snapshot with listings but no min_price (or counts) takes them from its listings, on
both paths of `check_snapshot` alike (the fast one for normal input, the full one)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.domain import EventInfo, Listing, SnapshotIn
from core.ingest.rules import check_snapshot

NOW = datetime(2024, 3, 20, 18, 0, tzinfo=UTC)
EVENT = EventInfo(
    external_id="6100043",
    name="Rockies at Diamondbacks",
    starts_at=datetime(2024, 3, 31, 20, 10, tzinfo=UTC),
)
LISTINGS = (
    Listing("L1", 45.0, "112", "5", 2),
    Listing("L2", 31.5, "301", "9", 4),
    Listing("L3", 60.0, "Field 12", None, 1),
)
ITEM = SnapshotIn(
    source="seatgeek",
    event=EVENT,
    observed_at=datetime(2024, 3, 20, 17, 1, tzinfo=UTC),
    currency="USD",
    listings=LISTINGS,
)
# The same item on each path: already normal (fast), and needing normalising (full).
PATHS = {"fast": ITEM, "full": replace(ITEM, currency="usd")}


@pytest.fixture(params=sorted(PATHS))
def item(request: pytest.FixtureRequest) -> SnapshotIn:
    return PATHS[request.param]


def figures(checked: SnapshotIn) -> tuple[float | None, int | None, int | None]:
    return checked.min_price, checked.ticket_count, checked.listing_count


def test_a_null_min_price_is_the_cheapest_listing(item: SnapshotIn) -> None:
    checked = check_snapshot(item, NOW)
    assert figures(checked) == (31.5, 7, 3)
    assert checked.currency == "USD" and checked.listings == LISTINGS


def test_both_paths_fill_in_alike() -> None:
    fast, full = (check_snapshot(PATHS[name], NOW) for name in ("fast", "full"))
    assert fast == full


def test_figures_the_source_gave_are_kept(item: SnapshotIn) -> None:
    given = check_snapshot(replace(item, ticket_count=900, listing_count=120), NOW)
    assert figures(given) == (31.5, 900, 120)
    priced = check_snapshot(replace(item, min_price=20.0), NOW)
    assert figures(priced) == (20.0, None, None)


def test_no_ticket_count_from_listings_without_quantities(item: SnapshotIn) -> None:
    listings = (*LISTINGS, Listing("L4", 55.0, "112"))  # how many? a sum would undercount
    checked = check_snapshot(replace(item, listings=listings), NOW)
    assert figures(checked) == (31.5, None, 4)


def test_listings_above_a_stated_price_fill_in_nothing(item: SnapshotIn) -> None:
    # A median of $30 under the cheapest listing: the listings are a sample, not the market.
    checked = check_snapshot(replace(item, median_price=30.0), NOW)
    assert figures(checked) == (None, None, None)


def test_without_listings_nothing_changes() -> None:
    bare = replace(ITEM, listings=())
    assert check_snapshot(bare, NOW) is bare
    whole = replace(ITEM, min_price=31.5, ticket_count=7, listing_count=3)
    assert check_snapshot(whole, NOW) is whole  # normal input still comes back as itself
