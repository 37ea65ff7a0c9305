"""python-telegram-bot errors -> the core delivery errors (`raise ... from exc`).

RetryAfter -> RetryableDeliveryError with `retry_after` exactly (up to
`core.backoff.MAX_RETRY_AFTER_S`, an hour); ChatMigrated (a group
upgraded to a supergroup) -> ChatMoved with the new chat id; "bot was blocked",
"user is deactivated", "chat not found", and a group the bot was removed from ("bot was
kicked", "bot is not a member", "group chat was deactivated") -> RecipientGone (a group's
watches then pause: core.group_gone); other 403s and 400s ->
PermanentDeliveryError (logged with the reason); timeouts, network errors and 5xx ->
RetryableDeliveryError.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from datetime import timedelta

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from core.backoff import clamp_retry_after
from core.errors import (
    ChatMoved,
    DeliveryError,
    PermanentDeliveryError,
    RecipientGone,
    RetryableDeliveryError,
)

logger = logging.getLogger(__name__)

# A person who blocked us or is gone; a group (supergroup, channel) the bot was removed
# from or that no longer exists: "bot was kicked from the supergroup chat", "bot is not a
# member of the channel chat", "group chat was deactivated", "the group chat was deleted".
_GONE = (
    "bot was blocked",
    "user is deactivated",
    "bot was kicked",
    "bot is not a member",
    "group chat was deactivated",
    "group chat was deleted",
    "chat not found",
)


def retry_after_seconds(exc: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds (PTB 22 may give an int or a timedelta),
    at most `core.backoff.MAX_RETRY_AFTER_S`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB's int -> timedelta migration notice
        value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return clamp_retry_after(seconds) or 0.0


def photo_refused(exc: BadRequest) -> bool:
    """Whether a sendPhoto 400 is about the photo, which its text can go without: a group
    that lets no member send photos ("not enough rights to send photos to the chat"), an
    image Telegram would not take."""
    text = exc.message.lower()
    return "photo" in text or "image" in text


def delivery_error(exc: TelegramError) -> DeliveryError:
    """The core delivery error for one PTB error."""
    text = exc.message
    if isinstance(exc, RetryAfter):
        seconds = retry_after_seconds(exc)
        return RetryableDeliveryError(f"telegram 429: retry after {seconds:g} s", seconds)
    if isinstance(exc, ChatMigrated):
        new = str(exc.new_chat_id)
        return ChatMoved(f"telegram: the group was upgraded to supergroup {new}", new)
    if isinstance(exc, Forbidden) or (
        isinstance(exc, BadRequest) and any(word in text.lower() for word in _GONE)
    ):
        if any(word in text.lower() for word in _GONE):
            return RecipientGone(f"telegram: {text}")
        return PermanentDeliveryError(f"telegram 403: {text}")
    if isinstance(exc, InvalidToken | Conflict | BadRequest):
        return PermanentDeliveryError(f"telegram 400: {text}")
    if isinstance(exc, TimedOut | NetworkError):
        return RetryableDeliveryError(f"telegram network error: {text}")
    return RetryableDeliveryError(f"telegram error: {text}")


@contextlib.contextmanager
def translated(what: str, notification_id: int) -> Iterator[None]:
    """Raise PTB errors inside as core delivery errors; log the permanent ones."""
    try:
        yield
    except TelegramError as exc:
        error = delivery_error(exc)
        if isinstance(error, PermanentDeliveryError) and not isinstance(error, RecipientGone):
            logger.warning(
                "telegram %s refused notification_id=%s: %s", what, notification_id, error
            )
        raise error from exc
