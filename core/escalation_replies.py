"""SMS replies and voice keypresses -> one alert action (through `core.alerts.apply_action`).

SMS from a person's own verified phone: `1` or `ACK` acknowledge the latest alert that
texted or called them, `ACK 123` a given one, `2` or `SNOOZE 2h` (`SNOOZE 123 2h`)
snooze it, `3` or `MUTE` stop alerts for that event. A phone verified by several people
acts for whichever of them holds the alert.

STOP (and the carrier's other opt-out words, `OPT_OUT`) also stops alerts for that event,
but Twilio then refuses every text to the number (error 21610) until it sends START,
UNSTOP or YES, so the phone is marked `sms_opted_out_at` and escalation plans no SMS to
it (calls still ring); an opt-in word clears the mark. SMS from an emergency contact:
`YES` opts in, `STOP` removes them at once and does nothing else; anything else from a
contact who has not answered yet is answered with what to reply. Punctuation around a
reply is ignored ("Yes.", "Ack 12." mean YES and ACK 12). Keypad during a call:
1 acknowledge, 2 snooze 1 h, 3 stop alerts for this event. Every answer is one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.alerts import apply_action, snoozed_until
from core.command_values import parse_duration
from core.commands import CommandError
from core.contacts import PhoneKeys, remove_contact_points
from core.db.models import Alert, AuditEntry, ContactPoint, Event, Notification, User
from core.domain import ActionKind, ActivityKind, NotificationStatus
from core.errors import NotFoundError, ValidationError
from core.escalation_load import contact_point_id, phone_address
from core.presence import record_activity

# Twilio's default opt-out and opt-in keywords: a message of just one of these words
# changes whether the carrier delivers our texts to that number at all.
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = "Reply 1 or ACK to acknowledge, SNOOZE 2h to snooze, MUTE to stop alerts for this event."
TEXTS_OFF = "Texts to this phone are now off; reply START to turn them back on."
# Said after a key that means nothing; the call asks for a key again (the webhook knows it by this).
KEYS_AGAIN = "Press 1 to acknowledge, 2 to snooze for an hour, 3 to stop alerts for this event."
VOICE_SNOOZE = timedelta(hours=1)  # key 2 of a call ("2 to snooze for an hour")
MAX_ID_DIGITS = 18  # a 64-bit row id, as the webhook's `_row_id`
_CONSENT = OPT_IN | {"Y"}
_WORD = {"1": "ACK", "2": "SNOOZE", "3": "MUTE"}
_AROUND = re.compile(r"^[\W_]+|[\W_]+$")  # punctuation, symbols, emoji around the words
_VERB = re.compile(r"^(ACK|SNOOZE|STOP|MUTE|BOUGHT)(?:\s+#?(\d+))?(?:\s+(\S+))?$")
_SENT = (NotificationStatus.SENT.value, NotificationStatus.DELIVERED.value)
_DONE = {
    ActionKind.ACK: "Acknowledged alert {id}. No more calls or texts for it.",
    ActionKind.SNOOZE: "Snoozed alert {id}.",
    ActionKind.MUTE: "Stopped alerts for this event (alert {id}).",
    ActionKind.BOUGHT: "Marked alert {id} as bought. Enjoy!",
}


class Target(NamedTuple):
    """The alert a reply acts on and the person it belongs to."""

    alert_id: int
    user_id: int


async def _latest_alert(session: AsyncSession, addresses: Sequence[str]) -> Target | None:
    """The alert that last texted or called `addresses`, still open ones first.

    Only messages that went out count: a row withdrawn before sending never reached
    the phone, so a bare "1" cannot be about it.
    """
    row = (
        await session.execute(
            select(Alert.id, Alert.user_id)
            .join(Notification, Notification.alert_id == Alert.id)
            .where(
                Notification.address.in_(addresses),
                Notification.channel.in_(("sms", "voice")),
                Notification.status.in_(_SENT),
                Alert.status.in_(("open", "acknowledged", "snoozed")),
            )
            .order_by((Alert.status == "open").desc(), Notification.id.desc())
            .limit(1)
        )
    ).first()
    return Target(row[0], row[1]) if row is not None else None


async def _holder(session: AsyncSession, given: str, owners: Sequence[int]) -> Target | None:
    """Alert `given` (digits as typed) if one of `owners` holds it."""
    if not given.isascii() or len(given) > MAX_ID_DIGITS:
        return None  # no row can have that id (and the database would refuse it)
    user_id = await session.scalar(
        select(Alert.user_id).where(Alert.id == int(given), Alert.user_id.in_(owners))
    )
    return Target(int(given), user_id) if user_id is not None else None


def _no_such(given: str) -> str:
    """The answer for an id none of the phone's owners has (the words of `apply_action`)."""
    return f"Sorry: alert {given} not found; type alerts to see yours."


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
            alert = await apply_action(
                session, alert_id, action, user_id=user_id, via=via, now=now, snooze_until=until
            )
    except (ValidationError, NotFoundError) as exc:
        return f"Sorry: {exc}."
    if action is ActionKind.SNOOZE and via == "sms" and alert.snoozed_until is not None:
        return await _snoozed_text(session, alert)
    if action is ActionKind.SNOOZE and via == "voice" and snooze_for == VOICE_SNOOZE:
        return f"Snoozed alert {alert_id} for an hour."  # said: the key promised an hour
    return _DONE[action].format(id=alert_id)


async def _snoozed_text(session: AsyncSession, alert: Alert) -> str:
    """A texted snooze's answer, as the chat words it: until when, in the person's zone
    (GSM-7: a cut snooze is said with a comma, not the chat's dash)."""
    event = await session.get(Event, alert.event_id)
    user = await session.get(User, alert.user_id)
    name = event.name if event is not None else f"event #{alert.event_id}"
    said, cut = snoozed_until(alert, name, event, user.timezone if user is not None else None)
    return f"{said}, when it starts." if cut else f"{said}."


def _mark_opted_out(contacts: Sequence[ContactPoint], now: datetime, why: str) -> list[AuditEntry]:
    """Mark `contacts` (one number's rows) as refusing texts; the audit entries to add."""
    entries = []
    for c in contacts:
        if c.sms_opted_out_at is None:
            c.sms_opted_out_at = now
            entries.append(_audit(c, now, "sms_opted_out", f"texts off: {why}"))
    return entries


async def handle_sms(
    session: AsyncSession, number: str, text: str, now: datetime, keys: PhoneKeys
) -> str:
    """Handle one inbound SMS from `number`; returns the reply text ("" for none)."""
    words = _AROUND.sub("", " ".join(text.upper().split()))
    contacts = list(
        (
            await session.execute(
                select(ContactPoint).where(ContactPoint.address_hash == keys.hash(number))
            )
        ).scalars()
    )
    emergency = [c for c in contacts if c.is_emergency]
    own = [c for c in contacts if not c.is_emergency and c.verified_at is not None]
    if words in OPT_OUT:  # the carrier blocks the number now, whatever else it meant
        mine = [c for c in contacts if not c.is_emergency]
        session.add_all(_mark_opted_out(mine, now, f"the phone replied {words}"))
    elif words in OPT_IN:
        for c in contacts:
            if c.sms_opted_out_at is not None:
                c.sms_opted_out_at = None
                session.add(_audit(c, now, "sms_opted_in", f"texts on: the phone replied {words}"))
    if emergency and words in _CONSENT:
        names = []
        for c in emergency:
            if c.owner_consent_at is None:
                c.owner_consent_at = c.verified_at = now
                session.add(_audit(c, now, "contact_opted_in", f"{c.name} opted in"))
            owner = await session.get(User, c.user_id)
            names.append(owner.display_name if owner else "someone")
        return f"Thanks! You're an emergency contact for {', '.join(names)}. Reply STOP to stop."
    if emergency and words in OPT_OUT:
        for c in emergency:
            session.add(_audit(c, now, "contact_removed", f"{c.name} replied {words}: removed"))
        await remove_contact_points(
            session, [c.id for c in emergency], now, f"emergency contact replied {words}"
        )
        # A refusal answers the contact request only: the number's own alerts stay as they are.
        if own:
            return "You're removed as an emergency contact. " + TEXTS_OFF
        return "You're removed and won't hear from HDTickets again."
    if not own:
        if not emergency:
            return "This number isn't registered with HDTickets."
        pending = [c for c in emergency if c.owner_consent_at is None]
        return await _consent_hint(session, pending) if pending else ""
    return await _own_phone(session, own, words, now)


async def _consent_hint(session: AsyncSession, pending: Sequence[ContactPoint]) -> str:
    """What a contact who has not answered the consent request yet may reply."""
    names = []
    for c in pending:
        owner = await session.get(User, c.user_id)
        names.append(owner.display_name if owner else "someone")
    who = ", ".join(names)
    return f"To be an emergency contact for {who}, reply YES; to refuse, reply STOP."


async def _own_phone(
    session: AsyncSession, own: Sequence[ContactPoint], words: str, now: datetime
) -> str:
    """A reply from the phone of one or more people (`own`, their verified rows)."""
    owners = sorted({c.user_id for c in own})
    if words in OPT_IN:
        for uid in owners:
            await record_activity(session, uid, "sms", ActivityKind.MESSAGE, now)
        return "Texts to this phone are on: urgent alerts can text it again."
    match = _VERB.match(_WORD.get(words, "MUTE" if words in OPT_OUT else words))
    verb, given, extra = match.groups() if match else (None, None, None)
    spaced = f"{given}{extra}"  # "SNOOZE 2 h": two hours, not alert 2
    if verb == "SNOOZE" and given and extra and extra.isalpha() and _duration(spaced):
        given, extra = None, spaced
    if given is not None:
        target = await _holder(session, given, owners)
    elif match is not None:
        target = await _latest_alert(session, [phone_address(c.id) for c in own])
    else:
        target = None
    for uid in [target.user_id] if target else owners:
        await record_activity(session, uid, "sms", ActivityKind.MESSAGE, now)
    if match is None:
        return HELP
    if given is not None and target is None:
        return _no_such(given)
    user_id = target.user_id if target else owners[0]
    alert_id = target.alert_id if target else None
    if verb == "SNOOZE":
        try:
            span = parse_duration(extra.lower(), "SNOOZE 2h") if extra else timedelta(hours=1)
        except CommandError:
            return "Snooze for how long? e.g. SNOOZE 2h"
        return await act(session, user_id, alert_id, ActionKind.SNOOZE, "sms", now, span)
    action = {"ACK": ActionKind.ACK, "BOUGHT": ActionKind.BOUGHT}.get(verb or "", ActionKind.MUTE)
    answer = await act(session, user_id, alert_id, action, "sms", now)
    return f"{answer} {TEXTS_OFF}" if words in OPT_OUT else answer


def _duration(text: str) -> bool:
    """Whether `text` reads as a snooze duration ("2h", "2hours")."""
    try:
        parse_duration(text.lower(), "SNOOZE 2h")
    except CommandError:
        return False
    return True


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
        span = VOICE_SNOOZE
        return await act(session, alert.user_id, alert_id, ActionKind.SNOOZE, "voice", now, span)
    if key == "3":
        return await act(session, alert.user_id, alert_id, ActionKind.MUTE, "voice", now)
    return KEYS_AGAIN


async def record_carrier_opt_out(session: AsyncSession, address: str, now: datetime) -> bool:
    """Record that the carrier refused a text to outbox `address` (Twilio error 21610).

    The person opted out (STOP) without us seeing it; every row of that number is
    marked, as the carrier blocks the number. Returns whether a row was found.
    """
    contact_id = contact_point_id(address)
    contact = await session.get(ContactPoint, contact_id) if contact_id is not None else None
    if contact is None:
        return False
    same = [contact]
    if contact.address_hash is not None:
        same = list(
            (
                await session.execute(
                    select(ContactPoint).where(ContactPoint.address_hash == contact.address_hash)
                )
            ).scalars()
        )
    session.add_all(_mark_opted_out(same, now, "the carrier refused a text (Twilio 21610)"))
    return True


def _audit(contact: ContactPoint, now: datetime, kind: str, detail: str) -> AuditEntry:
    return AuditEntry(
        alert_id=None, user_id=contact.user_id, at=now, kind=kind,
        detail=f"{detail} ({contact.address_masked})", data={"contact_id": contact.id},
    )  # fmt: skip
