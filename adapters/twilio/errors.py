"""Twilio errors -> the core delivery errors (`raise ... from exc`).

429 / code 20429 -> RetryableDeliveryError with the Retry-After the API sent (at most
`core.backoff.MAX_RETRY_AFTER_S`, an hour); 5xx and timeouts -> RetryableDeliveryError;
21610 (the number replied STOP) -> OptedOut, a RecipientGone the SMS channel records;
21211/21612/21614 (invalid, unreachable or not a mobile number) -> RecipientGone; other
4xx -> PermanentDeliveryError.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException

from core.backoff import clamp_retry_after
from core.errors import PermanentDeliveryError, RecipientGone, RetryableDeliveryError

logger = logging.getLogger(__name__)

OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
_GONE = {21211, 21614, 21612}


class OptedOut(RecipientGone):
    """The number opted out of our texts (error 21610) until it replies START."""


class Throttled(Exception):
    """Raised by our HTTP client on a 429, carrying Retry-After (the SDK drops headers)."""

    def __init__(self, retry_after: float | None, body: str) -> None:
        super().__init__(body)
        self.retry_after = retry_after


@contextlib.contextmanager
def translated(what: str, notification_id: int) -> Iterator[None]:
    """Raise Twilio and network errors inside as core delivery errors."""
    try:
        yield
    except Throttled as exc:
        raise RetryableDeliveryError(
            "twilio 429 (20429): too many requests", clamp_retry_after(exc.retry_after)
        ) from exc
    except TwilioRestException as exc:
        code = int(exc.code or 0)
        if exc.status == 429 or code == 20429:
            raise RetryableDeliveryError(f"twilio {exc.status} ({code})") from exc
        if exc.status >= 500:
            raise RetryableDeliveryError(f"twilio {exc.status} ({code}): server error") from exc
        if code == OPTED_OUT:
            raise OptedOut(f"twilio {code}: {exc.msg}") from exc
        if code in _GONE:
            raise RecipientGone(f"twilio {code}: {exc.msg}") from exc
        logger.warning(
            "twilio %s refused notification_id=%s: %s %s", what, notification_id, code, exc.msg
        )
        raise PermanentDeliveryError(f"twilio {exc.status} ({code}): {exc.msg}") from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise RetryableDeliveryError(f"twilio network error: {type(exc).__name__}") from exc
    except TwilioException as exc:
        raise RetryableDeliveryError(f"twilio error: {exc}") from exc
