"""Phone numbers: verification by SMS code, emergency contacts and their consent.

Numbers are encrypted at rest through a `Cipher` port (Fernet keyed from HDT_SECRET_KEY,
in `adapters.twilio.crypto`), found again by a keyed HMAC (`number_hash`), and shown
only masked (`+1•••••4567`) in logs, messages and API answers. The outbox never holds a
number either: SMS and voice rows are addressed `cp<contact id>` and the Twilio
channels resolve that through `ContactNumbers` at send time.

- `phone +15551234567` texts a 6-digit code; `phone 123456` confirms it (5 tries,
  10 minutes). Only then is the number used for escalation.
- `contact add Sam +15557654321` texts Sam asking for a YES; only contacts who replied
  YES get escalations; STOP deletes them at once.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models import ContactPoint, Notification, User
from core.domain import ChannelKind, Level, NotificationStatus
from core.errors import RecipientGone, ValidationError
from core.escalation_load import phone_address
from core.render import payload

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_CONTACTS = 3


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
    session: AsyncSession, contact: ContactPoint, kind: str, text: str, now: datetime
) -> None:
    await session.execute(
        insert(Notification).values(
            alert_id=None, user_id=contact.user_id, kind=kind, channel=ChannelKind.SMS.value,
            address=phone_address(contact.id), level=int(Level.CRITICAL), score=1.0,
            payload=payload(event_type="test", timestamp=now, title_text=text, body_text=""),
            idempotency_key=f"{kind}:cp{contact.id}:{int(now.timestamp() * 1000)}",
            status=NotificationStatus.PENDING.value, attempts=0, due_at=now, created_at=now,
        )
    )  # fmt: skip


async def start_phone(
    session: AsyncSession,
    user_id: int,
    number: str,
    now: datetime,
    rng: random.Random,
    keys: PhoneKeys,
) -> str:
    """Store `number` unverified and text it a 6-digit code; returns the reply line."""
    code = f"{rng.randrange(10**6):06d}"
    await session.execute(
        delete(ContactPoint).where(
            ContactPoint.user_id == user_id,
            ContactPoint.is_emergency.is_(False),
            ContactPoint.verified_at.is_(None),
        )
    )
    contact = ContactPoint(
        user_id=user_id, kind="sms", address_encrypted=keys.cipher.encrypt(number),
        address_masked=mask(number), address_hash=keys.hash(number), is_emergency=False,
        verify_attempts=0, verify_expires_at=now + CODE_TTL, created_at=now,
    )  # fmt: skip
    session.add(contact)
    await session.flush()
    contact.verify_code_hash = _code_hash(keys.hash_key, contact.id, code)
    text = f"Your HDTickets code is {code}. It expires in 10 minutes."
    await _queue_sms(session, contact, "verify", text, now)
    return f"I texted a 6-digit code to {mask(number)}. Send it here, e.g. phone 123456"


async def confirm_phone(
    session: AsyncSession, user_id: int, code: str, now: datetime, keys: PhoneKeys
) -> tuple[bool, str]:
    """Check a code; returns (confirmed, reply line). Wrong tries are counted, not raised."""
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
        contact.verify_code_hash, _code_hash(keys.hash_key, contact.id, code)
    ):
        contact.verify_attempts += 1
        left = MAX_ATTEMPTS - contact.verify_attempts
        return False, f"wrong code; {left} tr{'y' if left == 1 else 'ies'} left, e.g. phone 123456"
    contact.verified_at = now
    contact.verify_code_hash = None
    await session.execute(
        delete(ContactPoint).where(
            ContactPoint.user_id == user_id,
            ContactPoint.is_emergency.is_(False),
            ContactPoint.id != contact.id,
        )
    )
    return True, f"Phone {contact.address_masked} verified: urgent alerts can now text and call it."


async def add_contact(
    session: AsyncSession, user_id: int, name: str, number: str, now: datetime, keys: PhoneKeys
) -> str:
    """Add an emergency contact and text them for consent; returns the reply line."""
    count = await session.scalar(
        select(func.count()).where(
            ContactPoint.user_id == user_id, ContactPoint.is_emergency.is_(True)
        )
    )
    if int(count or 0) >= MAX_CONTACTS:
        raise ValidationError(f"you already have {MAX_CONTACTS} emergency contacts")
    owner = await session.get(User, user_id)
    if owner is None:
        raise ValidationError("I don't know you yet — send any message to start")
    contact = ContactPoint(
        user_id=user_id, kind="sms", name=name, address_encrypted=keys.cipher.encrypt(number),
        address_masked=mask(number), address_hash=keys.hash(number), is_emergency=True,
        verify_attempts=0, created_at=now,
    )  # fmt: skip
    session.add(contact)
    await session.flush()
    text = (
        f"Hi {name}, {owner.display_name} would like you as an emergency contact for urgent "
        "ticket alerts from HDTickets. Reply YES to agree or STOP to refuse."
    )
    await _queue_sms(session, contact, "consent", text, now)
    return f"I texted {name} at {mask(number)}; they'll get escalations once they reply YES."


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
        if not address.startswith("cp") or not address[2:].isdigit():
            raise RecipientGone(f"not a contact point address: {address[:12]}")
        async with self._sessions() as session:
            contact = await session.get(ContactPoint, int(address[2:]))
        if contact is None:
            raise RecipientGone(f"contact point {address} no longer exists")
        try:
            return self._cipher.decrypt(contact.address_encrypted), contact.address_masked
        except ValueError as exc:
            raise RecipientGone(f"contact point {address} cannot be decrypted") from exc
