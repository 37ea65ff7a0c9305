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


async def secret_key_problem(
    session: AsyncSession, settings: Settings, *, make_key: bool = True
) -> str | None:
    """One line naming HDT_SECRET_KEY when a stored secret cannot be decrypted, else None.

    Only the newest endpoint secret and the newest phone number are tried: a key opens
    all of them or none. Without `make_key` (commands that only read) no development key
    is made: with none, anything stored is unreadable.
    """
    key = settings.secret_key_bytes() if make_key else settings.existing_secret_key()
    unreadable = []
    stmt = select(WebhookEndpoint.secrets).order_by(WebhookEndpoint.id.desc()).limit(_SAMPLE)
    for stored in (await session.execute(stmt)).scalars():
        entry = stored[0] if isinstance(stored, list) and stored else None
        if isinstance(entry, dict) and isinstance(entry.get("secret"), str):
            if not _opens(key, entry["secret"], webhook=True):
                unreadable.append("webhook secrets")
            break
    phone = await session.scalar(
        select(ContactPoint.address_encrypted).order_by(ContactPoint.id.desc()).limit(1)
    )
    if phone is not None and not _opens(key, phone, webhook=False):
        unreadable.append("phone numbers")
    if not unreadable:
        return None
    fix = (
        "set HDT_SECRET_KEY to the key that made them, e.g. the secret_key file in the "
        ".hdtickets/ of the directory the bot first ran from"
    )
    what = " and ".join(unreadable)
    if key is None:
        where = settings.development_key_path().resolve()
        return (
            f"HDT_SECRET_KEY: the stored {what} need a key, and HDT_SECRET_KEY is unset "
            f"with no development key in {where}; {fix}"
        )
    if settings.secret_key is not None:
        used = "HDT_SECRET_KEY"
    else:
        used = f"the development key in {settings.development_key_path().resolve()}"
    return f"HDT_SECRET_KEY: the stored {what} were encrypted with another key than {used}; {fix}"


def _opens(key: bytes | None, stored: str, *, webhook: bool) -> bool:
    """Does `key` decrypt `stored` (a webhook secret, or a phone number)?"""
    if key is None:
        return False
    try:
        if webhook:
            SecretBox(key).decrypt(stored)
        else:
            PhoneBox(key).decrypt(stored)
    except (SecretUnreadable, ValueError):
        return False
    return True
