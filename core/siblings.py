"""A person's open alerts about one event, grouped by where their messages go.

One chat message may tell of several of a person's alerts about an event
(`core.engine_decide.merge_rounds`), and answering one answers them all. So whatever
speaks for one alert later must name the others still open: the edit of a message whose
alert ended (`core.announce`), and an escalation's SMS, call or nudge
(`core.escalation`). Both read them here, when they speak, so an alert acknowledged,
snoozed or resolved since is not named again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Alert, Watch
from core.domain import AlertStatus

# (user id, event id, the watch's destination: None for the person's own chats, or a group)
Place = tuple[int, int, str | None]


@dataclass(frozen=True, slots=True)
class OpenSibling:
    """An open alert, as the lines about it name it."""

    alert_id: int
    watch_id: int
    label: str | None  # the watch's
    kind: str
    price: float | None
    reason: str | None


async def open_alerts_by_place(
    session: AsyncSession, users: Collection[int], events: Collection[int]
) -> dict[Place, list[OpenSibling]]:
    """The open alerts of `users` about `events`, by `Place`: the highest level, then
    score, first (as chat messages name them)."""
    stmt = (
        select(
            Alert.id, Alert.user_id, Alert.event_id, Alert.watch_id, Alert.kind, Alert.price,
            Alert.reason, Watch.label, Watch.destination_address,
        )
        .join(Watch, Watch.id == Alert.watch_id)
        .where(
            Alert.user_id.in_(set(users)),
            Alert.event_id.in_(set(events)),
            Alert.status == AlertStatus.OPEN.value,
        )
        .order_by(Alert.level.desc(), Alert.score.desc(), Alert.id)
    )  # fmt: skip
    found: dict[Place, list[OpenSibling]] = defaultdict(list)
    for row in await session.execute(stmt):
        sibling = OpenSibling(row.id, row.watch_id, row.label, row.kind, row.price, row.reason)
        found[(row.user_id, row.event_id, row.destination_address)].append(sibling)
    return found
