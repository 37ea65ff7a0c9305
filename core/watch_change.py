"""What a changed watch does to its open alerts: the ones its new terms would not open
close; the others stay as they are (snoozes and acknowledgements kept), their reasons
quoting the new max."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.alerts import active_of_watch, resolve_many
from core.db.models import Alert, Watch
from core.domain import TriggerKind
from core.formatting import money
from core.history import event_currencies

__all__ = ["WatchTerms", "requoted", "resolve_changed_watch"]


@dataclass(frozen=True, slots=True)
class WatchTerms:
    """The conditions a watch's alerts were opened under (before or after a change)."""

    max_price: float | None
    quantity: int | None
    zones: tuple[str, ...]
    drop_pct: float | None
    triggers: frozenset[str]
    currency: str | None = None  # of the max (None: each event's own)

    @classmethod
    def of(cls, row: Watch) -> WatchTerms:
        return cls(
            row.max_price, row.quantity, tuple(row.zones or ()), row.drop_pct,
            frozenset(row.triggers or ()), row.currency,
        )  # fmt: skip

    def still_holds(self, alert: Alert, before: WatchTerms) -> bool:
        """Does `alert`, opened under `before`, still hold under these terms?

        Other seats (quantity or zones) are another question: the alert's price was for
        the old ones. A lower max keeps a price alert whose price is still under it; a
        smaller drop keeps a drop alert (its drop passed the larger one). A max in another
        currency is another max: the alert's price, in the old one, says nothing of it.
        """
        if alert.kind not in self.triggers:
            return False
        if (self.quantity, self.zones) != (before.quantity, before.zones):
            return False
        if alert.kind == TriggerKind.PRICE_BELOW:
            return self.max_price is not None and self._under_max(alert, before)
        if alert.kind == TriggerKind.DROP_PCT:
            return (
                before.drop_pct is not None
                and self.drop_pct is not None
                and (self.drop_pct <= before.drop_pct)
                and self._under_max(alert, before)
            )
        if alert.kind == TriggerKind.NEW_LISTING:
            return self._under_max(alert, before)
        return True

    def _under_max(self, alert: Alert, before: WatchTerms) -> bool:
        """Is the alert's price still under the max (as price_below, drop_pct and
        new_listing need: `core.triggers.fire`)? No max holds any price."""
        if self.max_price is None:
            return True
        # A max in another currency is another max: the alert's price says nothing of it.
        return (
            alert.price is not None
            and alert.price <= self.max_price
            and self.currency == before.currency
        )


async def resolve_changed_watch(
    session: AsyncSession, watch_id: int, before: WatchTerms, after: WatchTerms, now: datetime
) -> int:
    """Resolve the active alerts of a changed watch that no longer hold; returns how many.

    The ones that still hold stay as they are (snoozes and acknowledgements kept): closing
    them lost a snooze, and the next snapshot opened them again as new alerts.
    """
    alerts = (await session.execute(active_of_watch(watch_id))).scalars()
    ended, kept = [], []
    for alert in alerts:
        if after.still_holds(alert, before):
            kept.append(alert)
        else:
            ended.append((alert, "watch changed"))
    if kept:
        await _requote_max(session, kept, before.max_price, after.max_price)
    if ended:
        await resolve_many(session, ended, now)
    return len(ended)


async def _requote_max(
    session: AsyncSession, kept: Sequence[Alert], before: float | None, after: float | None
) -> None:
    """Make the kept alerts' reasons quote the watch's new max.

    A price_below reason quotes the max ("cheapest $45 is at or under your max $50"), and
    the engine rewrites a reason only when the price moves: until then `alerts`, `alerts
    show` and the escalation texts quoted a max the person had just changed.
    """
    if before is None or after is None or before == after:
        return
    currencies = await event_currencies(session, {alert.event_id for alert in kept})
    for alert in kept:
        if alert.reason:
            alert.reason = requoted(alert.reason, before, after, currencies.get(alert.event_id))


def requoted(reason: str, before: float, after: float, currency: str | None) -> str:
    """`reason` with its "your max {before}" (as `money` writes it in `currency`) saying
    `after`; unchanged when it quotes no such max ("your max $5" is not in "your max
    $50")."""
    old = re.escape(f"your max {money(before, currency)}") + r"(?![.,]?\d)"
    return re.sub(old, lambda _: f"your max {money(after, currency)}", reason, count=1)
