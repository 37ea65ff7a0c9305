"""What a changed watch does to its open alerts: the ones its new terms would not open
close; the others stay (snoozes and acknowledgements kept) and are scored again under
the new terms, so their factors, score, level and reason quote the new max at once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.alerts import active_of_watch, resolve_many
from core.db.models import Alert, AuditEntry, Watch
from core.domain import TRIGGER_KINDS, Level, Match, StoredSnapshot, TriggerKind, WatchSpec
from core.factors import DRAIN_GAP, MarketContext
from core.formatting import money
from core.history import MarketHistory, latest_snapshots
from core.render import factor_dicts, factors_from_dicts, forecast_from_dicts
from core.rules import check, tickets_left
from core.scoring import (
    DEFAULT_WEIGHTS,
    FACTOR_NAMES,
    keep_critical,
    rescored,
    score,
    sticky_level,
)

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
    session: AsyncSession,
    watch: WatchSpec,
    before: WatchTerms,
    after: WatchTerms,
    now: datetime,
    *,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
) -> int:
    """Resolve the active alerts of changed `watch` (its new terms `after`) that no longer
    hold; returns how many.

    The ones that still hold stay (snoozes and acknowledgements kept): closing them lost
    a snooze, and the next snapshot opened them again as new alerts. They are scored
    again under the new terms (`_rescore`); `weights` are the configured ones (a score
    made with a person's learned weights stays critical where these make it critical).
    """
    alerts = (await session.execute(active_of_watch(watch.id))).scalars()
    ended, kept = [], []
    for alert in alerts:
        if after.still_holds(alert, before):
            kept.append(alert)
        else:
            ended.append((alert, "watch changed"))
    if kept:
        await _rescore(session, watch, kept, before.max_price, now, weights)
    if ended:
        await resolve_many(session, ended, now)
    return len(ended)


async def _rescore(
    session: AsyncSession,
    watch: WatchSpec,
    kept: Sequence[Alert],
    old_max: float | None,
    now: datetime,
    weights: Sequence[float],
) -> None:
    """Score the kept alerts again under the watch's new terms from their event's newest
    stored snapshot, as the engine does (`core.engine_decide.Decider.update`), with the
    explanation.

    The engine explains an alert again only when the market moves its score: until then
    `alerts show`, the chat and the escalation texts quoted a price factor against the
    max the person had just changed. No predictor runs here: the score uses the forecast
    and the weights the alert was last explained with (the event's and the person's, not
    the watch's). The level keeps its hysteresis (`sticky_level`). Nobody is told now: a
    fall is silent, as in the engine (escalation skips the phone steps of a lower level);
    a rise is told by the engine's next re-score, which compares with the level last
    told. An alert whose event has no snapshot left keeps its score; its reason quotes
    the new max (`requoted`).
    """
    latest = {s.event.id: s for s in await latest_snapshots(session, [a.event_id for a in kept])}
    history = MarketHistory()
    await history.ensure(session, latest.keys(), exclude_snapshot_ids=(), now=now)
    for alert in kept:
        stored, kind = latest.get(alert.event_id), TRIGGER_KINDS.get(alert.kind)
        if alert.reason and old_max is not None and watch.max_price is not None:
            currency = stored.point.currency if stored is not None else None
            alert.reason = requoted(alert.reason, old_max, watch.max_price, currency)
        if stored is not None and kind is not None:
            _rescore_one(session, alert, watch, kind, stored, history, now, weights)


def _rescore_one(
    session: AsyncSession,
    alert: Alert,
    watch: WatchSpec,
    kind: TriggerKind,
    stored: StoredSnapshot,
    history: MarketHistory,
    now: datetime,
    weights: Sequence[float],
) -> None:
    """Score one kept alert on its event's newest snapshot; the explanation is kept."""
    point = stored.point
    high = history.high(point.event_id, point.observed_at)
    fired = check(watch, kind, stored.event, point, high, listings=stored.listings)
    if fired is not None:
        alert.reason = fired.reason  # it quotes the price and the new max
    # Not on the newest snapshot (the engine's resolve hold runs): the alert's own price.
    match = fired or Match(watch, stored.event, kind, alert.reason or "", alert.price)
    reference = history.reference(point, stored.previous, DRAIN_GAP)
    left = tickets_left(watch, point, stored.listings)
    ctx = MarketContext(point, reference, high, left, stored.listings)
    # The forecast it was last explained with (None, neutral values, when it has none).
    forecast = forecast_from_dicts(alert.prediction, alert.recommendation)
    result = score(match, ctx, forecast, now, _stored_weights(alert))
    result = keep_critical(result, weights)  # as the engine's re-score of learned weights
    level = sticky_level(result.value, Level(alert.level))
    if level != alert.level:  # on the alert's timeline, as the engine's re-scores
        detail = f"{rescored(Level(alert.level), level, result.value)}, watch changed"
        session.add(
            AuditEntry(
                alert_id=alert.id, user_id=alert.user_id, at=now, kind="rescored", detail=detail
            )
        )
    alert.score, alert.level, alert.price = result.value, int(level), match.price
    alert.factors = factor_dicts(result.factors)
    alert.updated_at = now


def _stored_weights(alert: Alert) -> tuple[float, ...]:
    """The weights the alert was last scored with: its factors' shares (the person's
    blend, normalised), the defaults when it has no full set."""
    shares = {factor.name: factor.weight for factor in factors_from_dicts(alert.factors)}
    if shares.keys() != set(FACTOR_NAMES):
        return DEFAULT_WEIGHTS
    return tuple(shares[name] for name in FACTOR_NAMES)


def requoted(reason: str, before: float, after: float, currency: str | None) -> str:
    """`reason` with its "your max {before}" (as `money` writes it in `currency`) saying
    `after`; unchanged when it quotes no such max ("your max $5" is not in "your max
    $50")."""
    old = re.escape(f"your max {money(before, currency)}") + r"(?![.,]?\d)"
    return re.sub(old, lambda _: f"your max {money(after, currency)}", reason, count=1)
