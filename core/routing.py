"""Where a person can be reached: their chat identities in preference order."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Identity, Preference, Watch
from core.domain import ChannelKind

# Chat platforms a person's identity maps to, and the order used when they set none.
PLATFORM_CHANNEL: dict[str, ChannelKind] = {
    "telegram": ChannelKind.TELEGRAM,
    "slack": ChannelKind.SLACK,
    "discord": ChannelKind.DISCORD,
    "console": ChannelKind.CONSOLE,
}
DEFAULT_ORDER: tuple[ChannelKind, ...] = (
    ChannelKind.TELEGRAM,
    ChannelKind.SLACK,
    ChannelKind.DISCORD,
    ChannelKind.CONSOLE,
)


@dataclass(frozen=True, slots=True)
class Destination:
    channel: ChannelKind
    address: str


_CHANNELS = frozenset(kind.value for kind in ChannelKind)


def watch_destination(channel: str | None, address: str | None) -> Destination | None:
    """The group chat a watch posts to (`Watch.destination_*`: `/watch` run in a group);
    None for a watch that posts to its person's own chats, or an unknown channel."""
    if channel in _CHANNELS and address:
        return Destination(ChannelKind(channel), address)
    return None


def group_watches(channel: str, address: str) -> tuple[ColumnElement[bool], ...]:
    """SQL conditions selecting the watches, not removed, that post to group chat
    `address` on `channel`."""
    return (
        Watch.destination_channel == channel,
        Watch.destination_address == address,
        Watch.removed_at.is_(None),
    )


async def destinations(session: AsyncSession, user_id: int) -> list[Destination]:
    """Return the person's reachable chat destinations, preferred first.

    The order is their `preferences.channel_order` (unknown names ignored), then any
    other linked platform in the default order. Identities marked unreachable and
    identities without a DM address are left out.
    """
    rows = (
        await session.execute(
            select(Identity).where(Identity.user_id == user_id, Identity.unreachable_at.is_(None))
        )
    ).scalars()
    by_channel: dict[ChannelKind, str] = {}
    for identity in rows:
        channel = PLATFORM_CHANNEL.get(identity.platform)
        if channel is not None and identity.dm_address and channel not in by_channel:
            by_channel[channel] = identity.dm_address
    preference = await session.get(Preference, user_id)
    known = {kind.value for kind in ChannelKind}
    chosen = preference.channel_order if preference else []
    order = [ChannelKind(name) for name in chosen if name in known]
    order += [c for c in DEFAULT_ORDER if c not in order]
    return [Destination(c, by_channel[c]) for c in order if c in by_channel]
