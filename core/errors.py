"""The error family of the engine.

Delivery errors separate what the outbox should do next: try again later, give up on this
destination, or give up on this recipient on this channel altogether.
"""

from __future__ import annotations


class HDTicketsError(Exception):
    """Base of every error the engine raises on purpose."""


class ValidationError(HDTicketsError):
    """Input that cannot be accepted; the message is one line a person can act on."""


class AlreadyDone(ValidationError):
    """The change asked for was made before (acknowledging twice, buying twice)."""


class NotFoundError(HDTicketsError):
    """A referenced row (alert, watch, user) does not exist or is not yours."""


class DeliveryError(HDTicketsError):
    """Base of what `Channel.send` may raise."""


class RetryableDeliveryError(DeliveryError):
    """Try again; after `retry_after` seconds exactly when the platform said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """This message can never be delivered to this destination as it is (e.g. HTTP 400)."""


class RecipientGone(PermanentDeliveryError):
    """The destination no longer exists or refuses us (blocked bot, 410 Gone)."""


class ChatMoved(PermanentDeliveryError):
    """The chat has a new address (a Telegram group upgraded to a supergroup).

    Permanent for the old address; `new_address` is where the same chat is reached now.
    """

    def __init__(self, message: str, new_address: str) -> None:
        super().__init__(message)
        self.new_address = new_address
