"""Phone numbers: verification by SMS code, emergency contacts and their consent.

Numbers are encrypted at rest through a `Cipher` port (Fernet keyed from HDT_SECRET_KEY,
in `adapters.twilio.crypto`), found again by a keyed HMAC (`number_hash`), and shown
only masked (`+1•••••4567`) in logs, messages and API answers. The outbox never holds a
number either: SMS and voice rows are addressed `cp<contact id>` and the Twilio
channels resolve that through `ContactNumbers` at send time.

- `phone +15551234567` texts a 6-digit code; `phone 123456` confirms it (5 tries,
  10 minutes). Only then is the number used for escalation.
- `contact add Sam +15557654321` texts Sam asking for a YES; only contacts who replied
  YES get escalations; STOP deletes them at once. Adding Sam again keeps one row.
- Codes and consent requests (texts nobody agreed to yet) are limited per number and per
  person, counted from their audit entries so the limits hold across restarts.
- Contact point ids are never reused (SQLite AUTOINCREMENT, migration 0005); deleting one
  withdraws what is still queued for it (`remove_contact_points`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.command_help import example
from core.command_values import ascii_digits
from core.db.locks import lock_name
from core.db.models import AuditEntry, ContactPoint, Notification, User
from core.domain import PHONE_CHANNELS, ChannelKind, Level, NotificationStatus
from core.errors import RecipientGone, ValidationError
from core.escalation_load import contact_point_id, phone_address
from core.formatting import humanize_delta
from core.outbox import idempotency_key
from core.render import payload

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_CONTACTS = 3
# Unasked-for texts (codes, consent requests), per number and per person.
TEXTS_PER_MINUTE = 1
TEXTS_PER_DAY = 5
_LIMITS = ((timedelta(minutes=1), TEXTS_PER_MINUTE), (timedelta(days=1), TEXTS_PER_DAY))
# Audit kinds of those texts: the limits count them.
CODE_SENT = "phone_code_sent"
CONSENT_ASKED = "contact_consent_requested"


class Cipher(Protocol):
    """Hides how phone numbers are encrypted at rest. Reference: adapters.twilio.crypto.PhoneBox."""

    def encrypt(self, plaintext: str) -> str:
        """Return an ASCII token for `plaintext`."""
        ...

    def decrypt(self, token: str) -> str:
        """Return the plaintext of a token made by `encrypt` (ValueError when unreadable)."""
        ...


@dataclass(frozen=True, slots=True)
class PhoneKeys:
    """The cipher and the HMAC key used for phone numbers."""

    cipher: Cipher
    hash_key: bytes

    def hash(self, number: str) -> str:
        return number_hash(self.hash_key, number)


def number_hash(key: bytes, number: str) -> str:
    """A keyed HMAC-SHA256 of an E.164 number (hex): lookups without decryption."""
    return hmac.new(key, b"phone:" + number.encode(), hashlib.sha256).hexdigest()


def mask(number: str) -> str:
    """Mask a number for display: "+15551234567" -> "+1•••••4567"."""
    return f"{number[:2]}•••••{number[-4:]}" if len(number) > 6 else "•••••"


def _code_hash(key: bytes, contact_id: int, code: str) -> str:
    return hmac.new(key, f"code:{contact_id}:{code}".encode(), hashlib.sha256).hexdigest()


async def _queue_sms(
    session: AsyncSession, contact: ContactPoint, audit_kind: str, text: str, now: datetime
) -> None:
    """Queue a code or consent request, with the audit entry the limits count."""
    kind = "verify" if audit_kind == CODE_SENT else "consent"
    await session.execute(
        insert(Notification).values(
            alert_id=None, user_id=contact.user_id, kind=kind, channel=ChannelKind.SMS.value,
            address=phone_address(contact.id), level=int(Level.CRITICAL), score=1.0,
            payload=payload(event_type="test", timestamp=now, title_text=text, body_text=""),
            idempotency_key=idempotency_key(kind, f"cp{contact.id}", int(now.timestamp() * 1000)),
            status=NotificationStatus.PENDING.value, attempts=0, due_at=now, created_at=now,
        )
    )  # fmt: skip
    session.add(AuditEntry(
        alert_id=None, user_id=contact.user_id, at=now, kind=audit_kind,
        detail=f"{kind} text queued ({contact.address_masked})",
        data={"contact_id": contact.id, "number_hash": contact.address_hash},
    ))  # fmt: skip


async def _sent_times(
    session: AsyncSession, now: datetime, *where: ColumnElement[bool]
) -> list[datetime]:
    since = now - max(window for window, _ in _LIMITS)
    query = select(AuditEntry.at).where(AuditEntry.alert_id.is_(None), AuditEntry.at > since)
    return list(await session.scalars(query.where(*where).order_by(AuditEntry.at)))


def _wait(times: Sequence[datetime], now: datetime) -> timedelta:
    """How long until one more text fits every limit, given earlier ones (oldest first)."""
    wait = timedelta(0)
    for window, most in _LIMITS:
        recent = [t for t in times if t > now - window]
        if len(recent) >= most:
            wait = max(wait, recent[len(recent) - most] + window - now)
    return wait


async def _texts_wait(
    session: AsyncSession, user_id: int, number_hash: str, kind: str, now: datetime
) -> tuple[timedelta, str]:
    """How long until `user_id` may have one more text of `kind` sent to `number_hash`,
    and why (zero when now). A number counts codes and consent requests together; a
    person each kind alone (adding a phone, then a contact, is no wait).

    The number's texts are counted under a lock named after it, so two people asking for
    one number at the same moment are counted one after the other."""
    await lock_name(session, f"texts:{number_hash}")
    to_number = await _sent_times(
        session, now,
        AuditEntry.kind.in_((CODE_SENT, CONSENT_ASKED)),
        AuditEntry.data["number_hash"].as_string() == number_hash,
    )  # fmt: skip
    by_person = await _sent_times(
        session, now, AuditEntry.kind == kind, AuditEntry.user_id == user_id
    )
    number_wait, person_wait = _wait(to_number, now), _wait(by_person, now)
    if number_wait >= person_wait:
        return number_wait, "that number has had too many texts from us lately"
    asked = "codes" if kind == CODE_SENT else "contact requests"
    return person_wait, f"you asked for too many {asked} lately"


def _try_again(why: str, wait: timedelta, command: str) -> str:
    seconds = math.ceil(wait.total_seconds())
    if seconds > 60:  # said in whole minutes: round up, never invite a too-early try
        seconds = math.ceil(seconds / 60) * 60
    return (
        f"{why} (at most {TEXTS_PER_MINUTE} a minute and {TEXTS_PER_DAY} a day); "
        f"try again in {humanize_delta(seconds)}, e.g. {example(command)}"
    )


async def withdraw_sends(
    session: AsyncSession, contact_ids: Sequence[int], now: datetime, reason: str
) -> int:
    """Cancel the texts and calls still queued for contact points that are going away.

    Pending rows (new, due for a retry, or parked) addressed `cp<id>` become `cancelled`
    with `last_error` "contact removed: <reason>" and a `delivery_cancelled` audit entry
    (on the alert's timeline). A row being sent right now is left to its worker: a retry
    finds the contact gone (ids are never reused) and fails as recipient gone.

    Args:
        session: inside the transaction that deletes the contact points.
        contact_ids: the contact points going away.
        now: from the injected clock.
        reason: why, in a few words ("emergency contact replied STOP").

    Returns:
        How many sends were withdrawn.
    """
    by_address = {phone_address(cid): cid for cid in contact_ids}
    if not by_address:
        return 0
    error = f"contact removed: {reason}"
    rows = (
        await session.execute(
            update(Notification)
            .where(
                Notification.address.in_(sorted(by_address)),
                Notification.channel.in_(PHONE_CHANNELS),
                Notification.status == NotificationStatus.PENDING.value,
            )
            .values(status=NotificationStatus.CANCELLED.value, last_error=error)
            .returning(
                Notification.id, Notification.alert_id, Notification.user_id,
                Notification.channel, Notification.address, Notification.attempts,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()  # fmt: skip
    for nid, alert_id, user_id, channel, address, attempts in rows:
        session.add(AuditEntry(
            alert_id=alert_id, user_id=user_id, at=now, kind="delivery_cancelled",
            detail=f"{channel} message withdrawn: {error}",
            data={"notification_id": nid, "channel": channel, "attempt": attempts,
                  "contact_id": by_address[address]},
        ))  # fmt: skip
    return len(rows)


async def remove_contact_points(
    session: AsyncSession, contact_ids: Sequence[int], now: datetime, reason: str
) -> int:
    """Delete contact points and withdraw what is still queued for them (`withdraw_sends`);
    returns how many sends were withdrawn. Whatever deletes a contact point calls this."""
    ids = sorted(set(contact_ids))
    if not ids:
        return 0
    withdrawn = await withdraw_sends(session, ids, now, reason)
    await session.execute(delete(ContactPoint).where(ContactPoint.id.in_(ids)))
    return withdrawn


async def _points(
    session: AsyncSession, user_id: int, emergency: bool, *where: ColumnElement[bool]
) -> list[ContactPoint]:
    """The person's own phones or emergency contacts (a few rows at most)."""
    rows = await session.scalars(
        select(ContactPoint).where(
            ContactPoint.user_id == user_id, ContactPoint.is_emergency.is_(emergency), *where
        )
    )
    return list(rows)


async def start_phone(
    session: AsyncSession,
    user_id: int,
    number: str,
    now: datetime,
    rng: random.Random,
    keys: PhoneKeys,
) -> str:
    """Store `number` unverified and text it a 6-digit code; returns the reply line.

    Raises:
        ValidationError: a limit on codes (`TEXTS_PER_MINUTE`, `TEXTS_PER_DAY`) would be
            passed; the message says when to try again. Nothing is changed then.
    """
    # Locked: one person's concurrent requests are counted one after the other.
    await session.get(User, user_id, with_for_update=True)
    number_hash = keys.hash(number)
    wait, why = await _texts_wait(session, user_id, number_hash, CODE_SENT, now)
    if wait > timedelta(0):
        raise ValidationError(_try_again(f"No code sent: {why}", wait, "phone"))
    code = f"{rng.randrange(10**6):06d}"
    pending = await _points(session, user_id, False, ContactPoint.verified_at.is_(None))
    await remove_contact_points(session, [c.id for c in pending], now, "a new code was asked for")
    contact = ContactPoint(
        user_id=user_id, kind="sms", address_encrypted=keys.cipher.encrypt(number),
        address_masked=mask(number), address_hash=number_hash, is_emergency=False,
        verify_attempts=0, verify_expires_at=now + CODE_TTL, created_at=now,
    )  # fmt: skip
    session.add(contact)
    await session.flush()
    contact.verify_code_hash = _code_hash(keys.hash_key, contact.id, code)
    text = f"Your HDTickets code is {code}. It expires in 10 minutes."
    await _queue_sms(session, contact, CODE_SENT, text, now)
    return f"I texted a 6-digit code to {mask(number)}. Send it here, e.g. phone 123456"


async def confirm_phone(
    session: AsyncSession, user_id: int, code: str, now: datetime, keys: PhoneKeys
) -> tuple[bool, str]:
    """Check a code (digits of any script); returns (confirmed, reply line). Wrong tries are
    counted, not raised."""
    contact = await session.scalar(
        select(ContactPoint)
        .where(
            ContactPoint.user_id == user_id,
            ContactPoint.is_emergency.is_(False),
            ContactPoint.verified_at.is_(None),
        )
        .order_by(ContactPoint.id.desc())
        .limit(1)
    )
    if contact is None or contact.verify_code_hash is None:
        return False, "no code is waiting; start with phone +14155550123"
    expires = contact.verify_expires_at
    if expires is None or expires <= now:
        return False, "that code has expired; send phone <your number> again for a new one"
    if contact.verify_attempts >= MAX_ATTEMPTS:
        return False, "too many wrong codes; send phone <your number> again for a new one"
    if not hmac.compare_digest(
        contact.verify_code_hash, _code_hash(keys.hash_key, contact.id, ascii_digits(code))
    ):
        contact.verify_attempts += 1
        left = MAX_ATTEMPTS - contact.verify_attempts
        return False, f"wrong code; {left} tr{'y' if left == 1 else 'ies'} left, e.g. phone 123456"
    contact.verified_at = now
    contact.verify_code_hash = None
    replaced = await _points(session, user_id, False, ContactPoint.id != contact.id)
    why = "phone replaced by a newly verified one"
    await remove_contact_points(session, [c.id for c in replaced], now, why)
    return True, f"Phone {contact.address_masked} verified: urgent alerts can now text and call it."


async def add_contact(
    session: AsyncSession, user_id: int, name: str, number: str, now: datetime, keys: PhoneKeys
) -> str:
    """Add an emergency contact and text them for consent; returns the reply line.

    Adding a number the person already has as a contact keeps one row: the name is
    updated, and the consent request is sent again only while it is unanswered (a
    contact who agreed stays agreed and gets no new text).

    Raises:
        ValidationError: too many contacts, or a limit on consent requests
            (`TEXTS_PER_MINUTE`, `TEXTS_PER_DAY`) would be passed by a new contact.
    """
    owner = await session.get(User, user_id, with_for_update=True)  # as in start_phone
    if owner is None:
        raise ValidationError("I don't know you yet — send any message to start")
    number_hash = keys.hash(number)
    listed = await _points(session, user_id, True)
    # Rows added twice before adds were merged: keep one, the agreed one first.
    same = sorted(
        (c for c in listed if c.address_hash == number_hash),
        key=lambda c: (c.owner_consent_at is None, c.id),
    )
    if same:
        twice = [c.id for c in same[1:]]
        await remove_contact_points(session, twice, now, "the same contact was added twice")
        return await _add_again(session, owner, same[0], name, now)
    if len(listed) >= MAX_CONTACTS:
        raise ValidationError(f"you already have {MAX_CONTACTS} emergency contacts")
    wait, why = await _texts_wait(session, user_id, number_hash, CONSENT_ASKED, now)
    if wait > timedelta(0):
        raise ValidationError(_try_again(f"{name} not added: {why}", wait, "contact"))
    contact = ContactPoint(
        user_id=user_id, kind="sms", name=name, address_encrypted=keys.cipher.encrypt(number),
        address_masked=mask(number), address_hash=number_hash, is_emergency=True,
        verify_attempts=0, created_at=now,
    )  # fmt: skip
    session.add(contact)
    await session.flush()
    await _ask_consent(session, owner, contact, now)
    return f"I texted {name} at {mask(number)}; they'll get escalations once they reply YES."


async def _add_again(
    session: AsyncSession, owner: User, contact: ContactPoint, name: str, now: datetime
) -> str:
    """`contact add` of a number already on the list: rename, and ask again if unanswered."""
    renamed = f" (renamed from {contact.name})" if contact.name not in (None, name) else ""
    contact.name = name
    who = f"{name} at {contact.address_masked}{renamed}"
    if contact.owner_consent_at is not None:
        return f"{who} is already your emergency contact and has agreed; no new text sent."
    wait, why = await _texts_wait(session, owner.id, contact.address_hash or "", CONSENT_ASKED, now)
    if wait > timedelta(0):
        why = f"{who} hasn't replied YES yet; not texted again: {why}"
        return _try_again(why, wait, "contact")
    await _ask_consent(session, owner, contact, now)
    return f"{who} hasn't replied YES yet, so I texted them again; escalations start once they do."


async def _ask_consent(
    session: AsyncSession, owner: User, contact: ContactPoint, now: datetime
) -> None:
    text = (
        f"Hi {contact.name}, {owner.display_name} would like you as an emergency contact for "
        "urgent ticket alerts from HDTickets. Reply YES to agree or STOP to refuse."
    )
    await _queue_sms(session, contact, CONSENT_ASKED, text, now)


class ContactNumbers:
    """Resolves an outbox address `cp<id>` to the E.164 number, at send time only."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: Cipher) -> None:
        self._sessions = sessions
        self._cipher = cipher

    async def __call__(self, address: str) -> tuple[str, str]:
        """Return (number, masked number).

        Raises:
            RecipientGone: the contact was removed (STOP) or the address is not ours.
        """
        contact_id = contact_point_id(address)
        if contact_id is None:
            raise RecipientGone(f"not a contact point address: {address[:12]}")
        async with self._sessions() as session:
            contact = await session.get(ContactPoint, contact_id)
        if contact is None:
            raise RecipientGone(f"contact point {address} no longer exists")
        try:
            return self._cipher.decrypt(contact.address_encrypted), contact.address_masked
        except ValueError as exc:
            raise RecipientGone(f"contact point {address} cannot be decrypted") from exc
