"""Does this process's HDT_SECRET_KEY open what is stored with it?

Webhook signing secrets and phone numbers are encrypted at rest with a key derived from
HDT_SECRET_KEY, or, when it is unset, from a development key kept in HDT_STATE_DIR
(`.hdtickets/secret_key`, relative to the working directory). Started with another key
(another working directory, a rotated variable) the process could read none of them:
every webhook and SMS would fail one by one. Start-up asks first and refuses with one
line instead.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.twilio.crypto import PhoneBox
from adapters.webhook.secrets import SecretBox, SecretUnreadable
from bot.settings import Settings
from core.db.models import ContactPoint, WebhookEndpoint

_SAMPLE = 20  # endpoints looked at for one with a stored secret


async def secret_key_problem(session: AsyncSession, settings: Settings) -> str | None:
    """One line naming HDT_SECRET_KEY when a stored secret cannot be decrypted, else None.

    Only the newest endpoint secret and the newest phone number are tried: a key opens
    all of them or none.
    """
    key = settings.secret_key_bytes()
    unreadable = []
    stmt = select(WebhookEndpoint.secrets).order_by(WebhookEndpoint.id.desc()).limit(_SAMPLE)
    for stored in (await session.execute(stmt)).scalars():
        entry = stored[0] if isinstance(stored, list) and stored else None
        if isinstance(entry, dict) and isinstance(entry.get("secret"), str):
            try:
                SecretBox(key).decrypt(entry["secret"])
            except SecretUnreadable:
                unreadable.append("webhook secrets")
            break
    phone = await session.scalar(
        select(ContactPoint.address_encrypted).order_by(ContactPoint.id.desc()).limit(1)
    )
    if phone is not None:
        try:
            PhoneBox(key).decrypt(phone)
        except ValueError:
            unreadable.append("phone numbers")
    if not unreadable:
        return None
    if settings.secret_key is not None:
        used = "HDT_SECRET_KEY"
    else:
        used = f"the development key in {(settings.state_dir / 'secret_key').resolve()}"
    return (
        f"HDT_SECRET_KEY: the stored {' and '.join(unreadable)} were encrypted with another "
        f"key than {used}; set HDT_SECRET_KEY to the key that made them, e.g. the "
        "secret_key file in the .hdtickets/ of the directory the bot first ran from"
    )
