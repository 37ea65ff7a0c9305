"""Ingest validation: the wire format, the domain rules, the envelope, and API tokens."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from core.domain import EventInfo, Listing, SnapshotIn
from core.errors import ValidationError
from core.ingest import MAX_BATCH, check_snapshot, parse_envelope, parse_item
from core.tokens import PREFIX, Scope, generate, has_scope, hash_token, parse_scopes

NOW = datetime(2024, 3, 20, 18, 0, tzinfo=UTC)
PAYLOAD = Path(__file__).parents[1] / "payloads" / "ingest" / "seatgeek_batch.json"


def good_item() -> dict[str, Any]:
    return {
        "event": {
            "external_id": "6100043",
            "name": "Rockies at Diamondbacks",
            "category": "mlb",
            "performers": ["Arizona Diamondbacks", "Colorado Rockies"],
            "venue": "Chase Field",
            "city": "Phoenix",
            "capacity": 48405,
            "starts_at": "2024-03-31T20:10:00Z",
            "timezone": "America/Phoenix",
        },
        "observed_at": "2024-03-20T17:01:00Z",
        "currency": "USD",
        "min_price": 28.0,
        "median_price": None,
        "avg_price": 83.0,
        "max_price": 473.0,
        "listing_count": 315,
        "ticket_count": 1344,
        "listings": [
            {
                "listing_id": "L1",
                "section": "112",
                "row": "5",
                "quantity": 2,
                "price": 45.0,
                "url": "https://example.com/L1",
            }
        ],
    }


def validate(raw: object) -> SnapshotIn:
    return check_snapshot(parse_item(raw, "seatgeek"), NOW)


def mutate(path: str, value: object) -> dict[str, Any]:
    """A good item with `path` (dotted; "-" deletes) set to `value`."""
    item = copy.deepcopy(good_item())
    *parents, leaf = path.split(".")
    target: Any = item
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value == "-":
        del target[leaf]
    elif isinstance(target, list):
        target[int(leaf)] = value
    else:
        target[leaf] = value
    return item


def test_the_issue_example_becomes_a_normalised_domain_snapshot() -> None:
    snapshot = validate(good_item())
    assert snapshot.source == "seatgeek"
    assert snapshot.event.external_id == "6100043"
    assert snapshot.event.performers == ("Arizona Diamondbacks", "Colorado Rockies")
    assert snapshot.event.starts_at == datetime(2024, 3, 31, 20, 10, tzinfo=UTC)
    assert snapshot.observed_at == datetime(2024, 3, 20, 17, 1, tzinfo=UTC)
    assert (snapshot.min_price, snapshot.median_price, snapshot.max_price) == (28.0, None, 473.0)
    assert snapshot.listings == (
        Listing("L1", 45.0, section="112", row="5", quantity=2, url="https://example.com/L1"),
    )


def test_only_four_fields_are_required() -> None:
    minimal = {
        "event": {"external_id": 7, "name": " Game ", "starts_at": "2024-03-31T20:10:00Z"},
        "observed_at": "2024-03-20T17:01:00+00:00",
    }
    snapshot = validate(minimal)
    assert snapshot.event.external_id == "7"
    assert snapshot.event.name == "Game"
    assert snapshot.event.starts_at == datetime(2024, 3, 31, 20, 10, tzinfo=UTC)
    assert snapshot.observed_at == datetime(2024, 3, 20, 17, 1, tzinfo=UTC)
    assert snapshot.currency is None and snapshot.listings == () and snapshot.min_price is None


def test_times_are_converted_to_utc_and_currency_upper_cased() -> None:
    item = mutate("observed_at", "2024-03-20T10:01:00-07:00")
    item["currency"] = " usd "
    item["event"]["starts_at"] = "2024-03-31T13:10:00-07:00"
    snapshot = validate(item)
    assert snapshot.observed_at == datetime(2024, 3, 20, 17, 1, tzinfo=UTC)
    assert snapshot.observed_at.utcoffset() == timedelta(0)
    assert snapshot.event.starts_at == datetime(2024, 3, 31, 20, 10, tzinfo=UTC)
    assert snapshot.currency == "USD"


def test_empty_optional_text_becomes_null_and_performers_are_deduplicated() -> None:
    item = mutate("event.venue", "   ")
    item["event"]["performers"] = ["A", " A ", "", "B"]
    snapshot = validate(item)
    assert snapshot.event.venue is None
    assert snapshot.event.performers == ("A", "B")


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("event", "-", "event: is required"),
        ("event", "not an object", "event: must be a JSON object"),
        ("event.external_id", "-", "event.external_id: is required"),
        ("event.external_id", "  ", "event.external_id: must not be empty"),
        ("event.external_id", "x" * 129, "event.external_id: must be at most 128 characters"),
        ("event.name", "-", "event.name: is required"),
        ("event.name", None, "event.name: must be a string"),
        ("event.name", "n" * 301, "event.name: must be at most 300 characters"),
        ("event.starts_at", "-", "event.starts_at: is required"),
        ("event.starts_at", "next tuesday", "event.starts_at: must be an ISO-8601 time"),
        ("event.starts_at", "2024-02-30T10:00:00Z", "event.starts_at: must be an ISO-8601 time"),
        ("event.performers", "Yankees", "event.performers: must be a list"),
        ("event.performers", [1, 2], "event.performers[0]: must be a string"),
        ("event.capacity", -1, "event.capacity: must be at least 1"),
        ("event.capacity", 1.5, "event.capacity: must be a whole number"),
        ("event.capacity", True, "event.capacity: must be a number, not true/false"),
        ("event.timezone", "Mars/Olympus", "event.timezone: 'Mars/Olympus' is not an IANA"),
        ("event.timezone", "america/phoenix", "is not an IANA time zone"),
        ("event.timezone", "../etc/passwd", "is not an IANA time zone"),
        ("event.timezone", "localtime", "is not an IANA time zone"),
        ("event.category", "c" * 65, "event.category: must be at most 64 characters"),
        ("observed_at", "-", "observed_at: is required"),
        ("observed_at", "", "observed_at: must be an ISO-8601 time"),
        ("observed_at", "2024-03-20T18:06:00Z", "observed_at: 2024-03-20T18:06:00+00:00 is in"),
        ("currency", "US", "currency: must be a three-letter ISO 4217 code"),
        ("currency", "US$", "currency: must be a three-letter ISO 4217 code"),
        ("currency", 840, "currency: must be a string"),
        ("min_price", -0.01, "min_price: must not be negative, got -0.01"),
        ("min_price", "cheap", "min_price: must be a number"),
        ("min_price", False, "min_price: must be a number, not true/false"),
        ("min_price", 500.0, "min_price: 500 is above max_price 473"),
        ("median_price", 10.0, "median_price: 10 is below min_price 28"),
        ("avg_price", 500.0, "avg_price: 500 is above max_price 473"),
        ("max_price", -1, "max_price: must not be negative"),
        ("max_price", "inf", "max_price: must be a number, not text ('inf')"),
        ("max_price", float("inf"), "max_price: must be a finite number"),
        ("listing_count", -3, "listing_count: must be at least 0, got -3"),
        ("listing_count", 2.5, "listing_count: must be a whole number"),
        ("ticket_count", "many", "ticket_count: must be a number, not text ('many')"),
        ("ticket_count", "12", "ticket_count: must be a number, not text ('12')"),
        ("ticket_count", 2**63, "ticket_count: must be at most 2147483647"),
        ("observed_at", "2024-03-20T17:01:00", "observed_at: needs a UTC offset (Z or +hh:mm)"),
        ("observed_at", "2024-03-20", "observed_at: needs a UTC offset (Z or +hh:mm)"),
        ("observed_at", 1710954060, "observed_at: must be an ISO-8601 time (a string), not a"),
        ("observed_at", "0999-06-01T00:00:00Z", "observed_at: must be between 1970 and 2100"),
        ("observed_at", "0001-01-01T00:00:00+05:00", "observed_at: must be between 1970 and"),
        ("event.starts_at", "9999-12-31T23:59:59-05:00", "event.starts_at: must be between"),
        ("event.starts_at", "0999-06-01T00:00:00Z", "event.starts_at: must be between 1970"),
        ("event.name", "Rockies \x00 at D-backs", "event.name: must not hold NUL or unpaired"),
        ("event.name", "bad \ud800 name", "event.name: must not hold NUL or unpaired"),
        ("event.capacity", 1e20, "event.capacity: must be at most 2147483647"),
        ("listings.0.quantity", 2**63, "listings[0].quantity: must be at most 2147483647"),
        ("listings.0.listing_id", 1e30, "listings[0].listing_id: is too long a number"),
        ("listings", {"L1": 45}, "listings: must be a list"),
        ("listings.0.price", "-", "listings[0].price: is required"),
        ("listings.0.price", -45, "listings[0].price: must not be negative"),
        ("listings.0.quantity", 0, "listings[0].quantity: must be at least 1"),
        ("listings.0", "L1", "listings[0]: must be a JSON object"),
        ("listings.0.row", "r" * 33, "listings[0].row: must be at most 32 characters"),
    ],
)
def test_each_malformed_item_gets_a_one_line_reason(
    path: str, value: object, expected: str
) -> None:
    with pytest.raises(ValidationError) as info:
        validate(mutate(path, value))
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "Traceback" not in message


def test_errors_carry_an_example_and_count_further_problems() -> None:
    item = mutate("event.starts_at", "soon")
    item["observed_at"] = "later"
    with pytest.raises(ValidationError) as info:
        validate(item)
    message = str(info.value)
    assert '(e.g. "2024-03-31T20:10:00Z")' in message
    assert message.endswith("and 1 more problem")


@pytest.mark.parametrize("raw", [None, 42, "snapshot", ["list"]])
def test_an_item_that_is_not_an_object_is_rejected(raw: object) -> None:
    with pytest.raises(ValidationError, match=r"^snapshot: must be a JSON object"):
        validate(raw)


def test_observed_at_may_be_a_little_ahead_of_our_clock() -> None:
    item = mutate("observed_at", (NOW + timedelta(minutes=4)).isoformat())
    assert validate(item).observed_at == NOW + timedelta(minutes=4)


def test_domain_snapshots_are_held_to_the_same_rules() -> None:
    event = EventInfo("e1", "Game", datetime(2024, 4, 1, 1, 0), timezone="Nowhere/Land")
    with pytest.raises(ValidationError, match=r"event\.timezone"):
        check_snapshot(SnapshotIn("sim", event, NOW), NOW)
    ok_event = EventInfo("e1", "Game", datetime(2024, 4, 1, 1, 0))
    with pytest.raises(ValidationError, match="min_price: must be a finite number"):
        check_snapshot(SnapshotIn("sim", ok_event, NOW, min_price=float("nan")), NOW)
    with pytest.raises(ValidationError, match="source: must be letters"):
        check_snapshot(SnapshotIn("bad source!", ok_event, NOW), NOW)
    naive = check_snapshot(SnapshotIn("Sim", ok_event, datetime(2024, 3, 20, 17)), NOW)
    assert naive.observed_at == datetime(2024, 3, 20, 17, tzinfo=UTC)
    assert naive.source == "sim"


def clean_snapshot(**changes: Any) -> SnapshotIn:
    """A typed snapshot that needs no normalising, with `changes` applied."""
    event = EventInfo("e1", "Game", datetime(2024, 4, 1, 1, 0, tzinfo=UTC), "mlb", ("A",))
    fields: dict[str, Any] = {
        "source": "sim",
        "event": event,
        "observed_at": NOW - timedelta(minutes=1),
        "currency": "USD",
        "min_price": 20.0,
        "median_price": 30.0,
        "avg_price": 35.0,
        "max_price": 90.0,
        "listing_count": 4,
        "ticket_count": 9,
        "listings": (Listing("L1", 25.0, "112", "5", 2, "https://example.com/L1"),),
    }
    fields.update(changes)
    return SnapshotIn(**fields)


def test_a_snapshot_that_is_already_normal_comes_back_unchanged() -> None:
    item = clean_snapshot()
    assert check_snapshot(item, NOW) is item
    assert check_snapshot(clean_snapshot(listings=()), NOW).listings == ()


ONE_HOUR_EAST = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"min_price": 20}, "min_price", 20.0),
        ({"currency": " usd"}, "currency", "USD"),
        ({"currency": "USD\n"}, "currency", "USD"),
        ({"source": "Sim"}, "source", "sim"),
        ({"source": "sim\n"}, "source", "sim"),
        (
            {"observed_at": datetime(2024, 3, 20, 18, 30, tzinfo=ONE_HOUR_EAST)},
            "observed_at",
            datetime(2024, 3, 20, 17, 30, tzinfo=UTC),
        ),
        ({"observed_at": datetime(2024, 3, 20, 17)}, "observed_at", NOW - timedelta(hours=1)),
        ({"ticket_count": 9.0}, "ticket_count", 9),
        ({"listings": [Listing("L1", 25.0)]}, "listings", (Listing("L1", 25.0),)),
        ({"listings": (Listing(" L1 ", 25),)}, "listings", (Listing("L1", 25.0),)),
        (
            {"listings": (Listing("L1", 25.0, "", quantity=2.0),)},
            "listings",
            (Listing("L1", 25.0, None, quantity=2),),
        ),
        ({"event": EventInfo(" e1", "Game ", NOW)}, "event", EventInfo("e1", "Game", NOW)),
    ],
)
def test_typed_snapshots_that_need_normalising_are_normalised(
    changes: dict[str, Any], field: str, expected: object
) -> None:
    checked = check_snapshot(clean_snapshot(**changes), NOW)
    value = getattr(checked, field)
    assert value == expected
    assert repr(value) == repr(expected)  # types too: 20.0 not 20, a tuple not a list


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"min_price": float("inf")}, "min_price: must be a finite number"),
        ({"avg_price": -1.0}, "avg_price: must not be negative"),
        ({"min_price": 95.0}, "min_price: 95 is above max_price 90"),
        ({"median_price": 10.0}, "median_price: 10 is below min_price 20"),
        ({"avg_price": 99.0}, "avg_price: 99 is above max_price 90"),
        ({"listing_count": True}, "listing_count: must be a whole number"),
        ({"currency": "US"}, "currency: must be a three-letter ISO 4217 code"),
        ({"observed_at": NOW + timedelta(minutes=6)}, "observed_at: .* is in the future"),
        ({"listings": (Listing("L1", float("nan")),)}, r"listings\[0\]\.price: must be a finite"),
        (
            {"listings": (Listing("L1", 1.0, quantity=0),)},
            r"listings\[0\]\.quantity: must be at least 1",
        ),
        (
            {"listings": (Listing("L1", 1.0, row="x" * 33),)},
            r"listings\[0\]\.row: must be at most 32",
        ),
    ],
)
def test_typed_snapshots_that_break_a_rule_are_rejected_with_its_reason(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        check_snapshot(clean_snapshot(**changes), NOW)


def test_the_envelope_needs_a_source_and_a_bounded_list() -> None:
    payload = json.loads(PAYLOAD.read_text())
    source, items = parse_envelope(payload)
    assert source == "seatgeek" and len(items) == 3
    assert parse_envelope({"source": " SeatGeek ", "snapshots": []}) == ("seatgeek", [])
    cases: list[tuple[object, str]] = [
        ([], "body must be a JSON object"),
        ({"snapshots": []}, "source: is required"),
        ({"source": 3, "snapshots": []}, "source: is required and must be a string"),
        ({"source": "  ", "snapshots": []}, "source: must not be empty (e.g. "),  # a string
        ({"source": "x"}, "snapshots: is required and must be a list"),
        ({"source": "x", "snapshots": {"a": 1}}, "snapshots: is required and must be a list"),
        ({"source": "x", "snapshots": [{}] * (MAX_BATCH + 1)}, f"at most {MAX_BATCH} items"),
    ]
    for body, expected in cases:
        with pytest.raises(ValidationError) as info:
            parse_envelope(body)
        assert expected in str(info.value), body


def test_every_item_of_the_sample_payload_is_valid() -> None:
    source, items = parse_envelope(json.loads(PAYLOAD.read_text()))
    snapshots = [check_snapshot(parse_item(raw, source), NOW) for raw in items]
    assert [s.currency for s in snapshots] == ["USD", "USD", None]
    assert snapshots[2].event.starts_at == datetime(2024, 4, 2, 1, 40, tzinfo=UTC)


def test_tokens_are_prefixed_random_and_stored_as_sha256() -> None:
    first, second = generate(), generate()
    assert first.startswith(PREFIX) and second.startswith(PREFIX)
    assert first != second and len(first) >= 40
    assert hash_token(first) == hashlib.sha256(first.encode()).hexdigest()
    assert hash_token(first) != hash_token(second)


def test_scopes_parse_from_text_or_lists_and_admin_implies_all() -> None:
    assert parse_scopes("read, ingest") == (Scope.INGEST, Scope.READ)
    assert parse_scopes(["ADMIN"]) == (Scope.ADMIN,)
    with pytest.raises(ValidationError, match="unknown scope 'root'") as refused:
        parse_scopes("read,root")
    # The example is a command that works: read needs --user, ingest does not.
    assert str(refused.value).endswith("(e.g. --scopes ingest)")
    with pytest.raises(ValidationError, match="at least one scope"):
        parse_scopes(" , ")
    assert has_scope(["admin"], Scope.INGEST)
    assert has_scope(["ingest"], Scope.INGEST)
    assert not has_scope(["read", "write"], Scope.INGEST)


@pytest.mark.parametrize(
    ("field", "cell", "said"),
    [
        ("min_price", "1,234", "min_price: must be a number, not '1,234' (e.g. 28.0)"),
        ("min_price", "$28.50", "min_price: must be a number, not '$28.50' (e.g. 28.0)"),
        ("ticket_count", "12 left", "ticket_count: must be a whole number, not '12 left'"),
    ],
)
def test_a_cell_that_is_not_a_number_is_quoted_in_its_reason(
    field: str, cell: str, said: str
) -> None:
    """A CSV exporter's "1,234" or "$28.50": the reason shows the cell, so the person sees
    what to change in the file."""
    with pytest.raises(ValidationError) as caught:
        parse_item(good_item() | {field: cell}, "seatgeek", text_numbers=True)
    assert str(caught.value).startswith(said), str(caught.value)
