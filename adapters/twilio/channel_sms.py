"""`TwilioSmsChannel`: one SMS per outbox row through the Messages API.

Addresses are contact points (`cp<id>`); the number is decrypted only here, at send
time, and never logged. Each message asks for status callbacks at
`/hooks/twilio/status?n=<notification id>`. A send whose outcome is unknown (a timeout)
is looked up before it is retried, so a step's SMS is not sent twice. A number that
opted out (error 21610) is reported to `opted_out` before the failure is raised, so
escalation stops planning texts to it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from adapters.twilio.channel import LOOKUP_SKEW, Numbers, TwilioChannel, created_since
from adapters.twilio.client import TwilioConfig
from adapters.twilio.errors import OptedOut, translated
from adapters.twilio.render import sms_text
from core.domain import Capability, ChannelKind, DeliveryReceipt, OutboundMessage
from core.ports import Clock

logger = logging.getLogger(__name__)
__all__ = ["Numbers", "OptedOutHook", "TwilioSmsChannel"]
OptedOutHook = Callable[[str], Awaitable[None]]  # records that an address refuses texts


class TwilioSmsChannel(TwilioChannel):
    name = ChannelKind.SMS.value
    kind = ChannelKind.SMS
    capabilities = Capability.REPLY_CODES

    def __init__(
        self, config: TwilioConfig, numbers: Numbers, clock: Clock, opted_out: OptedOutHook
    ) -> None:
        super().__init__(config, numbers, clock)
        self._opted_out = opted_out

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        number, masked = await self._numbers(message.address)
        text = sms_text(message)

        async def lookup(since: datetime) -> list[str]:
            return await self._lookup(number, text, since)

        async def create() -> str:
            try:
                with translated("sms", message.notification_id):
                    created = await self._account().messages.create_async(
                        to=number, from_=self.config.from_number, body=text,
                        status_callback=self._status_callback(message),
                    )  # fmt: skip
            except OptedOut:
                logger.warning(
                    "sms refused notification_id=%s to=%s: the number opted out (21610)",
                    message.notification_id, masked,
                )  # fmt: skip
                await self._opted_out(message.address)
                raise
            logger.info(
                "sms sent notification_id=%s to=%s sid=%s",
                message.notification_id, masked, created.sid,
            )  # fmt: skip
            sid: str = created.sid
            return sid

        return await self._send_once(message, masked, lookup, create)

    async def _lookup(self, number: str, text: str, since: datetime) -> list[str]:
        with translated("sms lookup", 0):
            found = await self._account().messages.list_async(
                to=number, from_=self.config.from_number,
                date_sent_after=since - LOOKUP_SKEW, limit=20,
            )  # fmt: skip
        return created_since((m for m in found if m.body == text), since)
