"""`TwilioVoiceChannel`: one call per outbox row, TwiML <Say> inside a one-digit <Gather>.

Keypresses post to `/hooks/twilio/voice?alert=<id>` (signed by Twilio, so the id is
trusted): 1 acknowledge, 2 snooze 1 h, 3 stop alerts for this event. Call progress
posts to `/hooks/twilio/status?n=<notification id>` with every StatusCallbackEvent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from adapters.twilio.channel_sms import Numbers
from adapters.twilio.client import STATUS_PATH, VOICE_PATH, TwilioConfig, make_client
from adapters.twilio.errors import translated
from adapters.twilio.render import alert_id, call_twiml
from core.domain import Capability, ChannelKind, DeliveryReceipt, OutboundMessage
from core.errors import PermanentDeliveryError, RetryableDeliveryError
from core.ports import Clock

logger = logging.getLogger(__name__)
EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioVoiceChannel:
    name = ChannelKind.VOICE.value
    capabilities = Capability.DTMF

    def __init__(self, config: TwilioConfig, numbers: Numbers, clock: Clock) -> None:
        self.config = config
        self._numbers = numbers
        self._clock = clock
        self.client, self._http = make_client(config)
        self._uncertain: dict[str, datetime] = {}

    async def run(self) -> None:
        return None

    async def close(self) -> None:
        await self._http.close()

    def _calls(self):  # type: ignore[no-untyped-def]
        return self.client.api.v2010.accounts(self.config.account_sid).calls

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        ident = alert_id(message)
        if ident is None:
            raise PermanentDeliveryError("a call needs an alert to talk about")
        number, masked = await self._numbers(message.address)
        key = message.idempotency_key
        if key in self._uncertain:
            with translated("call lookup", message.notification_id):
                found = await self._calls().list_async(
                    to=number, from_=self.config.from_number,
                    start_time_after=self._uncertain[key] - timedelta(minutes=1), limit=5,
                )  # fmt: skip
            if found:
                self._uncertain.pop(key, None)
                return DeliveryReceipt(ChannelKind.VOICE, message.address, found[0].sid, masked)
        twiml = call_twiml(message, f"{self.config.hook(VOICE_PATH)}?alert={ident}")
        callback = f"{self.config.hook(STATUS_PATH)}?n={message.notification_id}"
        started = self._clock.now()
        try:
            with translated("call", message.notification_id):
                call = await self._calls().create_async(
                    to=number, from_=self.config.from_number, twiml=twiml,
                    status_callback=callback, status_callback_event=EVENTS,
                    status_callback_method="POST",
                )  # fmt: skip
        except RetryableDeliveryError as exc:
            if "network" in str(exc):
                self._uncertain.setdefault(key, started)
            raise
        self._uncertain.pop(key, None)
        logger.info(
            "call placed notification_id=%s to=%s sid=%s", message.notification_id, masked, call.sid
        )
        return DeliveryReceipt(ChannelKind.VOICE, message.address, call.sid, masked)
