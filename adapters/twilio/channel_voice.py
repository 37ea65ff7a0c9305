"""`TwilioVoiceChannel`: one call per outbox row, TwiML <Say> inside a one-digit <Gather>.

Keypresses post to `/hooks/twilio/voice?alert=<id>` (signed by Twilio, so the id is
trusted): 1 acknowledge, 2 snooze 1 h, 3 stop alerts for this event; the keys are said
twice before the call gives up, and another key hears them again. Call progress
posts to `/hooks/twilio/status?n=<notification id>` with every StatusCallbackEvent.
"""

from __future__ import annotations

import logging
from datetime import datetime

from adapters.twilio.channel import LOOKUP_SKEW, TwilioChannel, created_since
from adapters.twilio.client import VOICE_PATH
from adapters.twilio.errors import translated
from adapters.twilio.render import alert_id, call_twiml
from core.domain import Capability, ChannelKind, DeliveryReceipt, OutboundMessage
from core.errors import PermanentDeliveryError

logger = logging.getLogger(__name__)
EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioVoiceChannel(TwilioChannel):
    name = ChannelKind.VOICE.value
    kind = ChannelKind.VOICE
    capabilities = Capability.DTMF

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        ident = alert_id(message)
        if ident is None:
            raise PermanentDeliveryError("a call needs an alert to talk about")
        number, masked = await self._numbers(message.address)

        async def lookup(since: datetime) -> list[str]:
            with translated("call lookup", message.notification_id):
                found = await self._account().calls.list_async(
                    to=number, from_=self.config.from_number,
                    start_time_after=since - LOOKUP_SKEW, limit=20,
                )  # fmt: skip
            return created_since(found, since)

        async def create() -> str:
            twiml = call_twiml(message, f"{self.config.hook(VOICE_PATH)}?alert={ident}")
            with translated("call", message.notification_id):
                call = await self._account().calls.create_async(
                    to=number, from_=self.config.from_number, twiml=twiml,
                    status_callback=self._status_callback(message),
                    status_callback_event=EVENTS, status_callback_method="POST",
                )  # fmt: skip
            logger.info(
                "call placed notification_id=%s to=%s sid=%s",
                message.notification_id, masked, call.sid,
            )  # fmt: skip
            sid: str = call.sid
            return sid

        return await self._send_once(message, masked, lookup, create)
