"""Each adapter caps the Retry-After its platform sends at `core.backoff.MAX_RETRY_AFTER_S`.

The cap is applied where the header (or the SDK's field) is parsed, so a receiver's
`Retry-After: 1e12` or an epoch timestamp neither overflows delivery's date arithmetic nor
blocks the destination for decades.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from telegram.error import RetryAfter

from adapters.telegram.errors import delivery_error
from adapters.twilio.errors import Throttled, translated
from adapters.webhook.errors import error_for_status, parse_retry_after
from core.backoff import MAX_RETRY_AFTER_S
from core.errors import RetryableDeliveryError

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "header",
    [
        "1e12",
        "1710936000",  # a Unix timestamp sent as seconds
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ],
)
def test_a_webhook_receivers_huge_retry_after_is_capped(header: str) -> None:
    assert parse_retry_after(header, NOW) == MAX_RETRY_AFTER_S
    error = error_for_status(429, {"Retry-After": header}, "later", "hooks.example", NOW)
    assert isinstance(error, RetryableDeliveryError)
    assert error.retry_after == MAX_RETRY_AFTER_S


def test_an_http_date_past_year_9999_in_utc_is_unreadable_not_a_crash() -> None:
    # 9999-12-31 23:59:59 at UTC-14 is in the year 10000 in UTC: OverflowError before.
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 -1400", NOW) is None


def test_a_retry_after_within_the_cap_is_honoured_exactly() -> None:
    assert parse_retry_after("3599.5", NOW) == 3599.5


def test_telegrams_huge_retry_after_is_capped() -> None:
    error = delivery_error(RetryAfter(10**9))

    assert isinstance(error, RetryableDeliveryError)
    assert error.retry_after == MAX_RETRY_AFTER_S


@pytest.mark.parametrize("asked", [1e12, 1_710_936_000.0, float("inf")])
def test_twilios_huge_retry_after_is_capped(asked: float) -> None:
    with pytest.raises(RetryableDeliveryError) as info, translated("sms", 1):
        raise Throttled(asked, "too many requests")

    assert info.value.retry_after == MAX_RETRY_AFTER_S
