"""`TwilioSmsChannel`: one SMS per outbox row through the Messages API.

Addresses are contact points (`cp<id>`); the number is decrypted only here, at send
time, and never logged. Each message asks for status callbacks at
`/hooks/twilio/status?n=<notification id>`. A send whose outcome is unknown (a timeout)
is looked up before it is retried, so a step's SMS is not sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from adapters.twilio.client import STATUS_PATH, TwilioConfig, make_client
from adapters.twilio.errors import translated
from adapters.twilio.render import sms_text
from core.domain import Capability, ChannelKind, DeliveryReceipt, OutboundMessage
from core.errors import RetryableDeliveryError
from core.ports import Clock

logger = logging.getLogger(__name__)
Numbers = Callable[[str], Awaitable[tuple[str, str]]]


class TwilioSmsChannel:
    name = ChannelKind.SMS.value
    capabilities = Capability.REPLY_CODES

    def __init__(self, config: TwilioConfig, numbers: Numbers, clock: Clock) -> None:
        self.config = config
        self._numbers = numbers
        self._clock = clock
        self.client, self._http = make_client(config)
        self._uncertain: dict[str, datetime] = {}

    async def run(self) -> None:
        """Nothing to serve: inbound SMS arrive through the web app's /hooks/twilio/sms."""
        return None

    async def close(self) -> None:
        await self._http.close()

    def _messages(self):  # type: ignore[no-untyped-def]
        return self.client.api.v2010.accounts(self.config.account_sid).messages

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        number, masked = await self._numbers(message.address)
        text = sms_text(message)
        key = message.idempotency_key
        if key in self._uncertain:
            found = await self._lookup(number, text, self._uncertain[key])
            if found is not None:
                self._uncertain.pop(key, None)
                return DeliveryReceipt(ChannelKind.SMS, message.address, found, masked)
        callback = f"{self.config.hook(STATUS_PATH)}?n={message.notification_id}"
        started = self._clock.now()
        try:
            with translated("sms", message.notification_id):
                created = await self._messages().create_async(
                    to=number, from_=self.config.from_number, body=text, status_callback=callback
                )
        except RetryableDeliveryError as exc:
            if "network" in str(exc):
                self._uncertain.setdefault(key, started)
            raise
        self._uncertain.pop(key, None)
        logger.info(
            "sms sent notification_id=%s to=%s sid=%s", message.notification_id, masked, created.sid
        )
        return DeliveryReceipt(ChannelKind.SMS, message.address, created.sid, masked)

    async def _lookup(self, number: str, text: str, since: datetime) -> str | None:
        with translated("sms lookup", 0):
            found = await self._messages().list_async(
                to=number, from_=self.config.from_number,
                date_sent_after=since - timedelta(minutes=1), limit=20,
            )  # fmt: skip
        return next((m.sid for m in found if m.body == text), None)
