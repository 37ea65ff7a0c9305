"""The fast path of `check_snapshot`: already-normal input comes back as itself, and any
input that is not normal or not valid gets exactly what the full rules give it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from core.domain import EventInfo, Listing, SnapshotIn
from core.errors import ValidationError
from core.ingest import rules
from core.ingest.rules import check_snapshot

NOW = datetime(2024, 3, 20, 18, 0, tzinfo=UTC)
EVENT = EventInfo(
    external_id="6100043",
    name="Rockies at Diamondbacks",
    starts_at=datetime(2024, 3, 31, 20, 10, tzinfo=UTC),
    category="mlb",
    performers=("Arizona Diamondbacks", "Colorado Rockies"),
    venue="Chase Field",
    city="Phoenix",
    capacity=48405,
    timezone="America/Phoenix",
)
LISTING = Listing("L1", 45.0, "112", "5", 2, "https://example.com/L1")
ITEM = SnapshotIn(
    source="seatgeek",
    event=EVENT,
    observed_at=datetime(2024, 3, 20, 17, 1, tzinfo=UTC),
    currency="USD",
    min_price=28.0,
    median_price=None,
    avg_price=83.0,
    max_price=473.0,
    listing_count=315,
    ticket_count=1344,
    listings=(LISTING,),
)

# Each variant is valid-but-not-normal or invalid: none may come back as itself.
VARIANTS: dict[str, dict[str, Any]] = {
    "naive time": {"observed_at": datetime(2024, 3, 20, 17, 1)},
    "other zone": {
        "observed_at": datetime(2024, 3, 20, 19, 1, tzinfo=timezone(timedelta(hours=2)))
    },
    "future": {"observed_at": NOW + timedelta(minutes=6)},
    "lower currency": {"currency": "usd"},
    "padded currency": {"currency": " USD"},
    "bad currency": {"currency": "US"},
    "empty currency": {"currency": ""},
    "int price": {"min_price": 28},
    "bool price": {"avg_price": True},
    "nan price": {"avg_price": float("nan")},
    "inf price": {"max_price": float("inf")},
    "negative price": {"min_price": -1.0, "avg_price": None},
    "negative zero price": {"min_price": -0.0},
    "negative zero listing price": {"listings": (replace(LISTING, price=-0.0),)},
    "below min": {"avg_price": 20.0},
    "above max": {"median_price": 500.0},
    "upper source": {"source": "SeatGeek"},
    "padded source": {"source": "seatgeek "},
    "bad source": {"source": "seat geek"},
    "float count": {"listing_count": 315.0},
    "bool count": {"ticket_count": False},
    "negative count": {"ticket_count": -1},
    "list listings": {"listings": [LISTING]},
    "padded listing id": {"listings": (replace(LISTING, listing_id="L1 "),)},
    "empty section": {"listings": (replace(LISTING, section=""),)},
    "long row": {"listings": (replace(LISTING, row="r" * 33),)},
    "int listing price": {"listings": (replace(LISTING, price=45),)},
    "no listing price": {"listings": (replace(LISTING, price=None),)},
    "zero quantity": {"listings": (replace(LISTING, quantity=0),)},
    "padded url": {"listings": (replace(LISTING, url="\thttps://example.com/L1"),)},
    "padded event name": {"event": replace(EVENT, name="Rockies at Diamondbacks ")},
    "bad time zone": {"event": replace(EVENT, timezone="Mars/Olympus")},
    "duplicate performer": {"event": replace(EVENT, performers=("A", "A"))},
    "id written as a float": {"event": replace(EVENT, external_id="6100043.0")},
}


def _slow(item: SnapshotIn) -> SnapshotIn | str:
    """What the full rules give `item`: the checked snapshot, or the error's text."""
    saved = rules._normal_snapshot
    rules._normal_snapshot = lambda item, latest: False  # type: ignore[assignment]
    try:
        return check_snapshot(item, NOW)
    except ValidationError as exc:
        return str(exc)
    finally:
        rules._normal_snapshot = saved  # type: ignore[assignment]


def _fast(item: SnapshotIn) -> SnapshotIn | str:
    try:
        return check_snapshot(item, NOW)
    except ValidationError as exc:
        return str(exc)


def test_normal_item_comes_back_as_itself() -> None:
    assert rules._normal_snapshot(ITEM, NOW + rules.FUTURE_TOLERANCE)
    assert check_snapshot(ITEM, NOW) is ITEM
    assert _slow(ITEM) is ITEM  # the full rules agree that it is normal


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_not_normal_items_get_what_the_full_rules_give(name: str) -> None:
    item = replace(ITEM, **VARIANTS[name])
    assert not rules._normal_snapshot(item, NOW + rules.FUTURE_TOLERANCE)
    fast, slow = _fast(item), _slow(item)
    assert fast == slow
    assert (fast is item) == (slow is item)
    assert fast is not item


@pytest.mark.parametrize(
    ("given", "kept"),
    [("6100043.0", "6100043"), ("7.000", "7"), ("6100043.5", None), ("A12.0", None), ("1e3", None)],
)
def test_an_id_written_as_a_float_with_no_fraction_is_the_whole_number(
    given: str, kept: str | None
) -> None:
    checked = check_snapshot(replace(ITEM, event=replace(EVENT, external_id=given)), NOW)
    assert checked.event.external_id == (kept or given)


def test_event_remembered_as_normal_is_only_that_very_object() -> None:
    assert check_snapshot(ITEM, NOW) is ITEM  # EVENT is now remembered as normal
    padded = replace(EVENT, venue=" Chase Field")  # equal id()s are impossible while held
    item = replace(ITEM, event=padded)
    checked = check_snapshot(item, NOW)
    assert checked is not item
    assert checked.event == EVENT


# Odd values per field: the fast path must never keep what the full rules would change
# or refuse. A rule added to the full rules but not to `_normal_snapshot` shows up here
# as a difference (the fast path hands back the item, the full rules do not).
ODD: dict[str, list[Any]] = {
    "event": [
        EVENT,
        *(
            replace(EVENT, external_id=external_id)
            for external_id in ("6100043.0", "6100043.00", " 6100043.0", "6100043.5", "A12.0")
        ),
    ],
    "source": ["seatgeek", "SeatGeek", " seatgeek", "", "a" * 80, "seat_geek", 5, None],
    "observed_at": [
        ITEM.observed_at,
        datetime(2024, 3, 20, 17, 1),
        ITEM.observed_at.astimezone(timezone(timedelta(hours=-7))),
        NOW + timedelta(minutes=4),
        NOW + timedelta(hours=1),
        datetime(1999, 1, 1, tzinfo=UTC),
        "2024-03-20T17:01:00Z",
    ],
    "currency": ["USD", "EUR", "usd", "US", "USDD", " USD", "", None, 840],
    "min_price": [28.0, 0.0, None, -0.0, -1.0, 28, True, float("nan"), float("inf"), 1e12],
    "median_price": [None, 50.0, 5.0, 600.0, float("nan"), 50],
    "avg_price": [83.0, None, 28.0, 473.0, 473.5, -3.0, "83"],
    "max_price": [473.0, None, 27.0, float("inf"), 1e300, 473],
    "listing_count": [315, 0, None, -1, 315.0, True, "315", 10**12],
    "ticket_count": [1344, 0, None, -5, 1344.5, False],
    "listings": [
        (LISTING,),
        (),
        [LISTING],
        (LISTING, LISTING),
        (replace(LISTING, price=0.0),),
        (replace(LISTING, price=-0.0),),
        (replace(LISTING, price=-1.0),),
        (replace(LISTING, price=float("nan")),),
        (replace(LISTING, quantity=None),),
        (replace(LISTING, quantity=True),),
        (replace(LISTING, section=None, row=None, url=None),),
        (replace(LISTING, listing_id=""),),
        (replace(LISTING, listing_id="x" * 500),),
        (replace(LISTING, url="ftp://example.com"),),
        (replace(LISTING, section="1\n2"),),
    ],
}


def test_random_field_combinations_agree_with_the_full_rules() -> None:
    import random

    rng = random.Random(20261127)
    kept = 0
    for _ in range(3000):
        changes = {name: rng.choice(values) for name, values in ODD.items() if rng.random() < 0.35}
        item = replace(ITEM, **changes)
        fast, slow = _fast(item), _slow(item)
        assert fast == slow, changes
        assert (fast is item) == (slow is item), changes
        kept += fast is item
    assert kept > 100  # the fast path really was taken on many of them
