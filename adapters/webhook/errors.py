"""HTTP outcomes and aiohttp failures -> the engine's delivery errors.

2xx is success. 410 Gone -> RecipientGone (delivery disables the endpoint). 429 and 503
-> RetryableDeliveryError with `retry_after` from Retry-After (seconds or an HTTP-date),
at most `core.backoff.MAX_RETRY_AFTER_S` (an hour): a larger value is a receiver's bug,
such as a Unix timestamp sent as seconds.
Other 5xx, timeouts and connection failures -> RetryableDeliveryError. 3xx (redirects are
never followed) and other 4xx -> PermanentDeliveryError. A destination refused by the SSRF
guard -> PermanentDeliveryError with the guard's one-line reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

import aiohttp

from adapters.webhook.ssrf import BlockedAddressError
from core.backoff import clamp_retry_after
from core.clock import ensure_utc
from core.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RecipientGone,
    RetryableDeliveryError,
)

_REASON_CHARS = 120


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Read a Retry-After header: delay seconds, or an HTTP-date relative to `now`.

    Returns:
        Seconds to wait, from 0 to MAX_RETRY_AFTER_S, or None when absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = ensure_utc(parsedate_to_datetime(text))
        except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: year 10000
            return None
        seconds = (when - ensure_utc(now)).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return clamp_retry_after(seconds)


def _short(text: str) -> str:
    """`text` on one line of printable characters, at most _REASON_CHARS of them.

    A receiver's body may hold a NUL (which PostgreSQL refuses in text: the outcome
    naming it could not be written) or terminal escapes; each becomes U+FFFD.
    """
    flat = "".join(c if c.isprintable() else "\ufffd" for c in " ".join(text.split()))
    return flat if len(flat) <= _REASON_CHARS else flat[: _REASON_CHARS - 1] + "…"


def error_for_status(
    status: int, headers: Mapping[str, str], body: str, host: str, now: datetime
) -> DeliveryError | None:
    """Map one HTTP answer to the error `send` raises, or None for a 2xx success.

    Args:
        status: the HTTP status code.
        headers: response headers (case-insensitive mapping).
        body: the start of the response body, for a short reason.
        host: the endpoint's host, named in the message (never the full URL).
        now: the current time, for an HTTP-date Retry-After.
    """
    if 200 <= status < 300:
        return None
    said = f": {_short(body)}" if body.strip() else ""
    if status == 410:
        return RecipientGone(f"webhook {host} answered 410 Gone{said}")
    if status in (429, 503):
        retry_after = parse_retry_after(headers.get("Retry-After"), now)
        return RetryableDeliveryError(
            f"webhook {host} answered {status}{said}", retry_after=retry_after
        )
    if status >= 500:
        return RetryableDeliveryError(f"webhook {host} answered {status}{said}")
    if 300 <= status < 400:
        location = headers.get("Location", "?")
        return PermanentDeliveryError(
            f"webhook {host} answered {status} redirect to {_short(location)}; redirects "
            "are not followed, update the endpoint URL"
        )
    return PermanentDeliveryError(f"webhook {host} answered {status}{said}")


def error_for_exception(exc: Exception, host: str, timeout_s: float) -> DeliveryError:
    """Map a failure to reach the endpoint (timeout, refused, DNS, bad URL) to an error."""
    if isinstance(exc, TimeoutError):
        return RetryableDeliveryError(f"webhook {host} did not answer within {timeout_s:g} s")
    if isinstance(exc, BlockedAddressError):
        return PermanentDeliveryError(str(exc))
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, BlockedAddressError
    ):
        return PermanentDeliveryError(str(exc.os_error))
    if isinstance(exc, aiohttp.ClientResponseError):  # raised only while reading its head
        return RetryableDeliveryError(
            f"webhook {host} answered with a head that is not valid HTTP: {_short(exc.message)}"
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return PermanentDeliveryError(f"webhook URL is not valid: {_short(str(exc))}")
    return RetryableDeliveryError(
        f"webhook {host} unreachable: {type(exc).__name__}: {_short(str(exc))}"
    )
