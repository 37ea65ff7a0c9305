"""Activity and presence: when a person last did something, and where.

Every command, message and button press is recorded; escalation asks `active_platforms`
whether a chat nudge can come before an SMS or a call (DESIGN.md §6).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Activity, Presence
from core.domain import ActivityKind

ACTIVE = "active"
PRESENT_WITHIN = timedelta(minutes=5)


async def record_activity(
    session: AsyncSession,
    user_id: int,
    platform: str,
    kind: ActivityKind | str,
    now: datetime,
) -> None:
    """Append an activity row and mark the person present on `platform` as of `now`.

    Runs inside the caller's transaction. The presence row is upserted, so concurrent
    presses from two processes never conflict; an older `now` never moves it back.

    Args:
        session: the open session (the caller commits).
        user_id: the person.
        platform: where they acted ("telegram", "console", ...).
        kind: an `ActivityKind` (command, button, message, presence, delivery_seen).
        now: when it happened, from the injected clock.
    """
    await session.execute(
        insert(Activity).values(user_id=user_id, platform=platform, kind=str(kind), at=now)
    )
    values = {"user_id": user_id, "platform": platform, "status": ACTIVE, "last_seen_at": now}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(Presence).values(**values)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[Presence.user_id, Presence.platform],
            set_={"status": ACTIVE, "last_seen_at": now},
            where=Presence.last_seen_at.is_(None) | (Presence.last_seen_at < now),
        )
    )


async def active_platforms(
    session: AsyncSession,
    user_id: int,
    *,
    now: datetime,
    within: timedelta = PRESENT_WITHIN,
) -> list[str]:
    """Return the platforms the person was seen on within `within` of `now`, latest first."""
    rows = await session.execute(
        select(Presence.platform)
        .where(Presence.user_id == user_id, Presence.last_seen_at >= now - within)
        .order_by(Presence.last_seen_at.desc())
    )
    return [platform for (platform,) in rows]
