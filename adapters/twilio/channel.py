"""`TwilioChannel`: what the SMS and voice channels share around one Twilio request.

Both own an SDK client, resolve a contact point to a number at send time, and make at
most one request a step: a send whose outcome is unknown (a network error or timeout)
is remembered by idempotency key and looked up before it is retried, so a retry does
not text or call twice; a key already sent returns its first receipt (per process).
Twilio filters those lists by day only, so a lookup keeps what was created since the
send started (less `LOOKUP_SKEW` for clocks apart) and never takes a sid another key
already has: an earlier call or text to the same number is not this send.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from adapters.twilio.client import STATUS_PATH, TwilioConfig, make_client
from core.domain import ChannelKind, DeliveryReceipt, OutboundMessage
from core.errors import RetryableDeliveryError
from core.ports import Clock

Numbers = Callable[[str], Awaitable[tuple[str, str]]]
# Sids of sends to the number (newest first) created at or after the given time.
Lookup = Callable[[datetime], Awaitable[list[str]]]
REMEMBERED_KEYS = 20_000
LOOKUP_SKEW = timedelta(minutes=1)  # our clock and Twilio's may be this far apart


def created_since(found: Iterable[Any], since: datetime) -> list[str]:
    """The sids of SDK message or call instances created at or after `since` (less
    `LOOKUP_SKEW`), in the order listed; one without a creation time is left out."""
    after = since - LOOKUP_SKEW
    return [
        item.sid
        for item in found
        if isinstance(item.date_created, datetime) and item.date_created >= after
    ]


class TwilioChannel:
    """Base of `TwilioSmsChannel` and `TwilioVoiceChannel`; subclasses set `kind`."""

    kind: ChannelKind

    def __init__(self, config: TwilioConfig, numbers: Numbers, clock: Clock) -> None:
        self.config = config
        self._numbers = numbers
        self._clock = clock
        self.client, self._http = make_client(config)
        self._uncertain: dict[str, datetime] = {}
        self._receipts: OrderedDict[str, DeliveryReceipt] = OrderedDict()

    async def run(self) -> None:
        """Nothing to serve: Twilio posts inbound traffic to the web app's hooks."""
        return None

    async def close(self) -> None:
        await self._http.close()

    def _account(self) -> Any:
        """The SDK's account resource (untyped): `.messages` and `.calls` hang off it."""
        return self.client.api.v2010.accounts(self.config.account_sid)

    def _status_callback(self, message: OutboundMessage) -> str:
        return f"{self.config.hook(STATUS_PATH)}?n={message.notification_id}"

    async def _send_once(
        self,
        message: OutboundMessage,
        masked: str,
        lookup: Lookup,
        create: Callable[[], Awaitable[str]],
    ) -> DeliveryReceipt:
        """Find the sid of an earlier send of unknown outcome, or `create` one.

        Args:
            message: the outbox row being sent.
            masked: the masked number, the receipt's detail.
            lookup: the sids of sends to the number since an earlier send started.
            create: makes the request and returns its sid.
        """
        key = message.idempotency_key
        seen = self._receipts.get(key)
        if seen is not None:
            return seen
        if key in self._uncertain:
            claimed = {r.message_id for k, r in self._receipts.items() if k != key}
            found = next(
                (sid for sid in await lookup(self._uncertain[key]) if sid not in claimed), None
            )
            if found is not None:
                self._uncertain.pop(key, None)
                return self._remember(
                    key, DeliveryReceipt(self.kind, message.address, found, masked)
                )
        started = self._clock.now()
        try:
            sid = await create()
        except RetryableDeliveryError as exc:
            if "network" in str(exc):
                self._uncertain.setdefault(key, started)
            raise
        self._uncertain.pop(key, None)
        return self._remember(key, DeliveryReceipt(self.kind, message.address, sid, masked))

    def _remember(self, key: str, receipt: DeliveryReceipt) -> DeliveryReceipt:
        self._receipts[key] = receipt
        while len(self._receipts) > REMEMBERED_KEYS:
            self._receipts.popitem(last=False)
        return receipt
