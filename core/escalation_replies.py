"""SMS replies and voice keypresses -> one alert action (through `core.alerts.apply_action`).

SMS from a person's own verified phone: `1` or `ACK` acknowledge the latest alert that
texted or called them, `ACK 123` a given one, `2` or `SNOOZE 2h` (`SNOOZE 123 2h`)
snooze it, `3` or `STOP` stop alerts for that event. SMS from an emergency contact:
`YES` opts in, `STOP` removes them at once. Keypad during a call: 1 acknowledge,
2 snooze 1 h, 3 stop alerts for this event. Every answer is one line for the reply.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.alerts import apply_action
from core.command_values import parse_duration
from core.commands import CommandError
from core.contacts import PhoneKeys
from core.db.models import Alert, AuditEntry, ContactPoint, Notification, User
from core.domain import ActionKind, ActivityKind
from core.errors import NotFoundError, ValidationError
from core.escalation_load import phone_address
from core.presence import record_activity

HELP = "Reply 1 or ACK to acknowledge, SNOOZE 2h to snooze, STOP to stop alerts for this event."
_WORD = {"1": "ACK", "2": "SNOOZE", "3": "STOP"}
_VERB = re.compile(r"^(ACK|SNOOZE|STOP|MUTE|BOUGHT)(?:\s+#?(\d+))?(?:\s+(\S+))?$")
_DONE = {
    ActionKind.ACK: "Acknowledged alert {id}. No more calls or texts for it.",
    ActionKind.SNOOZE: "Snoozed alert {id}.",
    ActionKind.MUTE: "Stopped alerts for this event (alert {id}).",
    ActionKind.BOUGHT: "Marked alert {id} as bought. Enjoy!",
}


async def _latest_alert(session: AsyncSession, address: str) -> int | None:
    """The newest active alert that texted or called `address`."""
    return await session.scalar(
        select(Notification.alert_id)
        .join(Alert, Alert.id == Notification.alert_id)
        .where(
            Notification.address == address,
            Notification.channel.in_(("sms", "voice")),
            Alert.status.in_(("open", "acknowledged", "snoozed")),
        )
        .order_by(Notification.id.desc())
        .limit(1)
    )


async def act(
    session: AsyncSession,
    user_id: int,
    alert_id: int | None,
    action: ActionKind,
    via: str,
    now: datetime,
    snooze_for: timedelta | None = None,
) -> str:
    """Apply one action from a phone; returns the one-line answer (never raises)."""
    if alert_id is None:
        return "There is no alert waiting for you. " + HELP
    until = now + snooze_for if snooze_for is not None else None
    try:
        async with session.begin_nested():
            await apply_action(
                session, alert_id, action, user_id=user_id, via=via, now=now, snooze_until=until
            )
    except (ValidationError, NotFoundError) as exc:
        return f"Sorry: {exc}."
    return _DONE[action].format(id=alert_id)


async def handle_sms(
    session: AsyncSession, number: str, text: str, now: datetime, keys: PhoneKeys
) -> str:
    """Handle one inbound SMS from `number`; returns the reply text ("" for none)."""
    words = " ".join(text.strip().upper().split())
    contacts = list(
        (
            await session.execute(
                select(ContactPoint).where(ContactPoint.address_hash == keys.hash(number))
            )
        ).scalars()
    )
    emergency = [c for c in contacts if c.is_emergency]
    own = [c for c in contacts if not c.is_emergency and c.verified_at is not None]
    if emergency and words in ("YES", "Y", "START"):
        names = []
        for c in emergency:
            if c.owner_consent_at is None:
                c.owner_consent_at = c.verified_at = now
                session.add(_audit(c, now, "contact_opted_in", f"{c.name} opted in"))
            owner = await session.get(User, c.user_id)
            names.append(owner.display_name if owner else "someone")
        return f"Thanks! You're an emergency contact for {', '.join(names)}. Reply STOP to stop."
    if emergency and words in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"):
        for c in emergency:
            session.add(_audit(c, now, "contact_removed", f"{c.name} replied STOP: removed"))
        await session.execute(
            delete(ContactPoint).where(ContactPoint.id.in_([c.id for c in emergency]))
        )
        if not own:
            return "You're removed and won't hear from HDTickets again."
    if not own:
        return "" if emergency else "This number isn't registered with HDTickets."
    contact = own[-1]
    await record_activity(session, contact.user_id, "sms", ActivityKind.MESSAGE, now)
    match = _VERB.match(_WORD.get(words, words))
    if match is None:
        return HELP
    verb, given_id, extra = match.groups()
    alert_id = (
        int(given_id) if given_id else await _latest_alert(session, phone_address(contact.id))
    )
    if verb == "SNOOZE":
        try:
            span = parse_duration(extra.lower(), "SNOOZE 2h") if extra else timedelta(hours=1)
        except CommandError:
            return "Snooze for how long? e.g. SNOOZE 2h"
        return await act(session, contact.user_id, alert_id, ActionKind.SNOOZE, "sms", now, span)
    action = {"ACK": ActionKind.ACK, "BOUGHT": ActionKind.BOUGHT}.get(verb, ActionKind.MUTE)
    return await act(session, contact.user_id, alert_id, action, "sms", now)


async def handle_digits(session: AsyncSession, alert_id: int, digits: str, now: datetime) -> str:
    """A keypress during the call about `alert_id`; returns what to say back."""
    alert = await session.get(Alert, alert_id)
    if alert is None:
        return "This alert no longer exists. Goodbye."
    await record_activity(session, alert.user_id, "voice", ActivityKind.BUTTON, now)
    key = digits.strip()[:1]
    if key == "1":
        return await act(session, alert.user_id, alert_id, ActionKind.ACK, "voice", now)
    if key == "2":
        span = timedelta(hours=1)
        return await act(session, alert.user_id, alert_id, ActionKind.SNOOZE, "voice", now, span)
    if key == "3":
        return await act(session, alert.user_id, alert_id, ActionKind.MUTE, "voice", now)
    return "Press 1 to acknowledge, 2 to snooze for an hour, 3 to stop alerts for this event."


def _audit(contact: ContactPoint, now: datetime, kind: str, detail: str) -> AuditEntry:
    return AuditEntry(
        alert_id=None, user_id=contact.user_id, at=now, kind=kind,
        detail=f"{detail} ({contact.address_masked})", data={"contact_id": contact.id},
    )  # fmt: skip
