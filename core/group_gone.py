"""A group chat the bot can no longer post in: its watches pause and their owners hear why.

A group watch (`Watch.destination_*`: `/watch` run in a group) alerts into its group.
Once the bot was removed from it (kicked, left, the group deactivated), every send there
is refused for good, so the group's active watches are paused as `pause` would: their
open alerts are resolved ("bot removed from the group"), and their `updated_at` is bumped
so every process's watch index picks the change up (`core.watch_sync`). The group's
pending chat messages are cancelled, and each affected owner is told once on their
preferred chat, through the outbox (`GONE_KIND` rows).

Two paths lead here: a send to the group that ends "recipient gone"
(`core.delivery_lifecycle.after_failure`) and Telegram's `my_chat_member` update saying
the bot left or was kicked (`adapters.telegram.inbound`). Whichever comes first pauses;
the other finds no active watch of the group and does nothing, so the owner is told once
per removal (their idempotency key also names the watches' state before the pause).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.alerts import resolve_for_watch
from core.clock import ensure_utc
from core.db.models import Identity, Notification, User, Watch
from core.db.statements import insert_skipping, rowcount
from core.db.tables import NOTIFICATIONS
from core.domain import Level, NotificationStatus, plural
from core.outbox import idempotency_key, notice_row
from core.routing import PLATFORM_CHANNEL, destinations, group_watches

GONE_KIND = "group_gone"
REASON = "bot removed from the group"
EVENT_TYPE = "group.removed"
LEVEL = Level.NORMAL
_SYNC = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class GroupGone:
    """What one removal changed (all zero when the group had no active watch left)."""

    watches: int = 0
    alerts: int = 0
    cancelled: int = 0
    told: int = 0


async def has_active_watches(session: AsyncSession, channel: str, address: str) -> bool:
    """Whether `address` on `channel` is a group some active watch posts to."""
    found = await session.scalar(
        select(Watch.id).where(*group_watches(channel, address), Watch.active.is_(True)).limit(1)
    )
    return found is not None


async def group_gone(
    session: AsyncSession,
    channel: str,
    address: str,
    now: datetime,
    *,
    title: str | None = None,
    keep_alert: int | None = None,
) -> GroupGone:
    """Pause the group's active watches, cancel its pending messages, tell the owners.

    Args:
        session: a session inside a transaction; the caller commits.
        channel: the group's `core.domain.ChannelKind` value.
        address: the group's chat address.
        now: from the injected clock.
        title: the group's name when known (else its stored identity's, else "your
            Telegram group").
        keep_alert: an alert left open: the one whose failed message fails over to its
            owner, who should still hear of it.
    """
    watches = list(
        (
            await session.execute(
                select(Watch)
                .where(*group_watches(channel, address), Watch.active.is_(True))
                .order_by(Watch.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalars()
    )
    if not watches:
        return GroupGone()
    # The watches' state before this removal: a later removal (re-added, resumed) differs.
    before = max((ensure_utc(w.updated_at) for w in watches if w.updated_at), default=now)
    alerts = 0
    for watch in watches:
        watch.active = False
        watch.updated_at = now  # other processes' watch indexes re-read it (core.watch_sync)
        alerts += await resolve_for_watch(session, watch.id, REASON, now, keep=keep_alert)
    await session.flush()
    # After the resolves, whose edits of the group's messages would be refused too.
    cancelled = await session.execute(
        update(Notification)
        .where(
            Notification.channel == channel,
            Notification.address == address,
            Notification.status == NotificationStatus.PENDING.value,
        )
        .values(status=NotificationStatus.CANCELLED.value, last_error=REASON)
        .execution_options(**_SYNC)
    )
    name = title or await _stored_title(session, channel, address) or "your Telegram group"
    by_owner: dict[int, list[Watch]] = defaultdict(list)
    for watch in watches:
        by_owner[watch.user_id].append(watch)
    told = 0
    for owner, theirs in by_owner.items():
        told += await _tell(session, owner, theirs, channel, address, name, before, now)
    return GroupGone(len(watches), alerts, rowcount(cancelled), told)


def text(title: str, count: int) -> tuple[str, str]:
    """The owner's message: its title and body."""
    paused = f"its {plural(count, 'watch', 'watches')} {'is' if count == 1 else 'are'} paused"
    return (
        f"I was removed from {title}",
        f"I can no longer post in {title}, so {paused}. "
        "Add me back to the group and say resume all there.",
    )


async def _tell(
    session: AsyncSession,
    owner: int,
    watches: list[Watch],
    channel: str,
    address: str,
    title: str,
    before: datetime,
    now: datetime,
) -> int:
    """Queue the owner's message on their preferred chat; 1 when queued, else 0."""
    reachable = await destinations(session, owner)
    if not reachable:
        return 0
    target = reachable[0]
    title_text, body_text = text(title, len(watches))
    key = idempotency_key(GONE_KIND, channel, address, f"u{owner}", f"{before.timestamp():.0f}")
    data = {"group": {"channel": channel, "address": address}, "watch_ids": [w.id for w in watches]}
    row = notice_row(
        kind=GONE_KIND,
        event_type=EVENT_TYPE,
        user_id=owner,
        channel=target.channel.value,
        address=target.address,
        level=int(LEVEL),
        title_text=title_text,
        body_text=body_text,
        data=data,
        key=key,
        now=now,
    )
    result = await session.execute(
        insert_skipping(session, NOTIFICATIONS, ["idempotency_key"]).values(row)
    )
    return rowcount(result)


async def _stored_title(session: AsyncSession, channel: str, address: str) -> str | None:
    """The group's name from its own identity (made when an anonymous admin acted as it)."""
    platforms = [p for p, kind in PLATFORM_CHANNEL.items() if kind.value == channel]
    return await session.scalar(
        select(User.display_name)
        .join(Identity, Identity.user_id == User.id)
        .where(
            Identity.platform.in_(platforms),
            Identity.workspace_id == "",
            Identity.external_id == address,
        )
        .limit(1)
    )
