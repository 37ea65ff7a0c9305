"""`idempotency_key`: a key that fits its column is kept as is; a longer one is cut to a
readable start plus the SHA-256 of the whole, the same for the same parts."""

from __future__ import annotations

import hashlib

from core.alert_payload import notification_key
from core.db.models import IDEMPOTENCY_KEY_LENGTH, Notification
from core.outbox import idempotency_key

URL = "https://hooks.example/in?token=" + "t" * 2000


def test_the_limit_is_the_columns() -> None:
    assert Notification.__table__.c.idempotency_key.type.length == IDEMPOTENCY_KEY_LENGTH == 200


def test_a_key_that_fits_is_the_parts_joined() -> None:
    assert idempotency_key("digest", 7, "telegram", "-100123", 42) == "digest:7:telegram:-100123:42"
    exact = "x" * IDEMPOTENCY_KEY_LENGTH
    assert idempotency_key(exact) == exact
    assert idempotency_key("a1:fo:slack") == "a1:fo:slack"


def test_a_long_key_fits_keeps_its_start_and_ends_in_the_whole_keys_digest() -> None:
    key = idempotency_key("moved", "webhook", URL, "e1", "1>2")
    assert len(key) == IDEMPOTENCY_KEY_LENGTH
    assert key.startswith("moved:webhook:https://hooks.example/in?token=ttt")
    whole = f"moved:webhook:{URL}:e1:1>2"
    assert key.endswith("#" + hashlib.sha256(whole.encode()).hexdigest())
    assert idempotency_key("moved", "webhook", URL, "e1", "1>2") == key  # a retry dedupes


def test_long_keys_differing_only_past_the_cut_stay_distinct() -> None:
    one = idempotency_key("digest", 7, "slack", URL, 1)
    two = idempotency_key("digest", 7, "slack", URL, 2)
    other = idempotency_key("digest", 7, "slack", URL + "u", 1)
    assert len({one, two, other}) == 3
    just_over = "y" * (IDEMPOTENCY_KEY_LENGTH + 1)
    assert idempotency_key(just_over) != idempotency_key(just_over[:-1])


def test_a_long_key_failed_over_is_shortened_again() -> None:
    first = idempotency_key("a1", "alert.triggered", "telegram", URL, 1)
    over = idempotency_key(first, "fo", "slack")
    assert len(over) == IDEMPOTENCY_KEY_LENGTH
    assert over != first and over == idempotency_key(first, "fo", "slack")


def test_a_notification_key_keeps_the_form_rows_already_carry() -> None:
    assert notification_key(9, "alert.triggered", "telegram", "tg-1", 3) == (
        "a9:alert.triggered:telegram:tg-1:3"
    )
    short = hashlib.sha256(URL.encode()).hexdigest()[:16]
    assert notification_key(9, "alert.escalated", "webhook", URL, 4) == (
        f"a9:alert.escalated:webhook:{short}:4"
    )
