"""A chat that changed its address: point everything stored for the old one at the new one.

Telegram gives a group a new chat id when it is upgraded to a supergroup; the old id is
refused from then on. What names a chat by its address moves with it: group watches
(their destination), identities (a DM address, or the group's own identity whose
external id is the chat id) and messages not sent yet (pending, including parked ones,
and those being sent, should their send be retried). Sent messages keep the address
they went to: their receipts name the message where it is.

Moving is idempotent: the second of the two service messages Telegram sends about one
upgrade finds nothing left to move. A watch's destination is not part of the `WatchSpec`
the matcher indexes, so no index hook is needed; `updated_at` is bumped all the same so
other processes re-read the rows (`core.watch_sync`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Identity, Notification, Watch
from core.db.statements import rowcount
from core.domain import NotificationStatus
from core.routing import PLATFORM_CHANNEL

logger = logging.getLogger(__name__)

_UNSENT = (NotificationStatus.PENDING.value, NotificationStatus.SENDING.value)
_SYNC = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class MovedChat:
    """How many rows one move changed (all zero when there was nothing left to move)."""

    watches: int = 0
    identities: int = 0
    notifications: int = 0

    @property
    def total(self) -> int:
        return self.watches + self.identities + self.notifications


async def move_chat(
    session: AsyncSession, channel: str, old: str, new: str, now: datetime
) -> MovedChat:
    """Point every stored reference to chat `old` on `channel` at chat `new`.

    Args:
        session: a session inside a transaction; the caller commits.
        channel: a `core.domain.ChannelKind` value (identities of the platforms that
            deliver through it are moved).
        old: the chat's former address.
        new: its address from now on.
        now: from the injected clock; the moved watches' `updated_at`.

    Returns:
        How many watches, identities and unsent notifications were moved.
    """
    if old == new:
        return MovedChat()
    watches = await session.execute(
        update(Watch)
        .where(Watch.destination_channel == channel, Watch.destination_address == old)
        .values(destination_address=new, updated_at=now)
        .execution_options(**_SYNC)
    )
    notifications = await session.execute(
        update(Notification)
        .where(
            Notification.channel == channel,
            Notification.address == old,
            Notification.status.in_(_UNSENT),
        )
        .values(address=new)
        .execution_options(**_SYNC)
    )
    platforms = [p for p, kind in PLATFORM_CHANNEL.items() if kind.value == channel]
    identities = await session.execute(
        update(Identity)
        .where(Identity.platform.in_(platforms), Identity.dm_address == old)
        .values(dm_address=new)
        .execution_options(**_SYNC)
    )
    itself = await _move_group_identity(session, platforms, old, new)
    return MovedChat(
        watches=rowcount(watches),
        identities=rowcount(identities) + itself,
        notifications=rowcount(notifications),
    )


async def _move_group_identity(
    session: AsyncSession, platforms: list[str], old: str, new: str
) -> int:
    """The group's own identity (an anonymous admin acts as it) keeps its person.

    When the new chat already has an identity of its own (someone acted as the group
    there before the move was seen), both stay: ids are unique per platform.
    """
    moved = 0
    for platform in platforms:
        taken = await session.scalar(
            select(Identity.id).where(
                Identity.platform == platform,
                Identity.workspace_id == "",
                Identity.external_id == new,
            )
        )
        if taken is not None:
            logger.warning(
                "%s chat %s moved to %s, which already has an identity; kept both",
                platform,
                old,
                new,
            )
            continue
        result = await session.execute(
            update(Identity)
            .where(
                Identity.platform == platform,
                Identity.workspace_id == "",
                Identity.external_id == old,
            )
            .values(external_id=new)
            .execution_options(**_SYNC)
        )
        moved += rowcount(result)
    return moved
