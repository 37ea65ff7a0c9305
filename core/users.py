"""People and their platform identities: find the person behind a chat account, or create one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Identity, User


async def find_identity(
    session: AsyncSession, platform: str, external_id: str, *, workspace_id: str = ""
) -> Identity | None:
    """Return the identity of `external_id` on `platform` (and workspace), if known."""
    return (
        await session.execute(
            select(Identity).where(
                Identity.platform == platform,
                Identity.workspace_id == workspace_id,
                Identity.external_id == external_id,
            )
        )
    ).scalar_one_or_none()


async def ensure_user(
    session: AsyncSession,
    platform: str,
    external_id: str,
    *,
    workspace_id: str = "",
    display_name: str,
    dm_address: str | None,
    now: datetime,
) -> User:
    """Return the person behind a platform account, creating them on first contact.

    A known identity gets its display name and DM address refreshed (and is marked
    reachable again, since they just wrote to us). Two first messages racing from two
    processes create one person: the loser of the unique index re-reads the winner.

    Args:
        session: the open session; the caller commits.
        platform: a `core.domain.Platform` value.
        external_id: the account id on that platform.
        workspace_id: Slack team or Discord guild; "" where the platform has none.
        display_name: how to address the person.
        dm_address: where direct messages reach them (chat id), if known.
        now: from the injected clock.
    """
    identity = await find_identity(session, platform, external_id, workspace_id=workspace_id)
    if identity is None:
        try:
            async with session.begin_nested():
                user = User(display_name=display_name[:200] or "friend", created_at=now)
                session.add(user)
                await session.flush()
                identity = Identity(
                    user_id=user.id,
                    platform=platform,
                    workspace_id=workspace_id,
                    external_id=external_id,
                    dm_address=dm_address,
                    display_name=display_name[:200],
                    created_at=now,
                )
                session.add(identity)
                await session.flush()
            return user
        except IntegrityError:
            identity = await find_identity(
                session, platform, external_id, workspace_id=workspace_id
            )
            if identity is None:
                raise
    if dm_address and identity.dm_address != dm_address:
        identity.dm_address = dm_address
    if display_name and identity.display_name != display_name[:200]:
        identity.display_name = display_name[:200]
    identity.unreachable_at = None
    known = await session.get(User, identity.user_id)
    if known is None:  # the identity's person was deleted under us
        raise LookupError(f"identity {identity.id} has no user")
    return known
