"""Twilio callbacks -> core: carrier status, SMS replies, keypresses (one transaction each).

Also the opt-outs the SMS channel learns of at send time (error 21610).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.contacts import PhoneKeys
from core.escalation_replies import handle_digits, handle_sms, record_carrier_opt_out
from core.escalation_status import record_status
from core.ports import Clock

logger = logging.getLogger(__name__)


class TwilioInbound:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, keys: PhoneKeys
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._keys = keys

    async def status(self, notification_id: int, sid: str, state: str, error: str | None) -> None:
        async with self._sessions() as session, session.begin():
            moved = await record_status(
                session, notification_id, sid, state, self._clock.now(), error
            )
        logger.debug("twilio status notification_id=%s %s -> %s", notification_id, state, moved)

    async def sms(self, number: str, text: str) -> str:
        async with self._sessions() as session, session.begin():
            return await handle_sms(session, number, text, self._clock.now(), self._keys)

    async def opted_out(self, address: str) -> None:
        """Twilio refused a text to `address` (error 21610): mark that phone as opted out."""
        async with self._sessions() as session, session.begin():
            await record_carrier_opt_out(session, address, self._clock.now())

    async def digits(self, alert_id: int, digits: str) -> str:
        async with self._sessions() as session, session.begin():
            return await handle_digits(session, alert_id, digits, self._clock.now())
