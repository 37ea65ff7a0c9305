"""The alert engine: stored snapshots in, alerts and outbox rows out, in one transaction.

For a batch of snapshots that ingest has just stored (same session, not committed):

1. match each live snapshot against the in-memory `WatchIndex` (`core.rules`), with the
   24 h high from the in-memory `MarketHistory`;
2. load, with a few queries, the active alerts of the batch's events, the rows of
   watches about to open an alert (the index is a fast filter, the row is the truth),
   recent resolves (hysteresis) and the people involved (cached);
3. forecast every event with a match or an active alert in ONE predictor call;
4. re-score every active alert of each event (`core.scoring`), resolve those whose
   condition stopped holding, open new ones and decide who hears about what
   (`core.planning`);
5. write alerts, notifications and audit entries in bulk; resolves go through
   `core.alerts.resolve_many` so earlier messages are edited in place.

The caller commits. Nothing here reads the wall clock: `now` comes in.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.actions import ActionSigner
from core.alerts import resolve_many
from core.announce import cancel_pending
from core.db.models import Alert, AuditEntry, Notification
from core.domain import Level, Match, StoredSnapshot, TriggerKind, WatchSpec
from core.engine_batch import (
    FULL,
    LIGHT,
    ActiveAlert,
    Batch,
    Round,
    Snap,
    load_active,
    load_recent,
    load_watches,
    write_alerts,
)
from core.engine_rows import RowContext, audit_rows, plan_round, round_rows
from core.engine_support import (
    WatchInfo,
    fallback_forecast,
    hard_reason,
    load_watch_index,
    soft_reason,
)
from core.history import MarketHistory
from core.metrics import Metrics
from core.planning import (
    AlertState,
    EngineConfig,
    RecentResolve,
    Recipient,
    dedup_key,
    plan_clear,
    plan_open,
    plan_update,
)
from core.policy import freeze
from core.ports import ForecastRequest, Predictor
from core.recipients import RecipientCache
from core.render import factor_dicts, prediction_dict, recommendation_dict
from core.rules import (
    WatchIndex,
    check,
    evaluate,
    event_words,
    skip_reason,
    spec_from_row,
    targets,
    tickets_left,
)
from core.scoring import MarketContext, blend_weights, score

__all__ = ["AlertEngine", "EngineConfig", "PipelineResult", "load_watch_index"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """What one batch did."""

    snapshots: int = 0
    matches: int = 0
    alerts_opened: int = 0
    alerts_updated: int = 0
    alerts_resolved: int = 0
    notifications: int = 0


class AlertEngine:
    """Turns stored snapshots into alerts and notifications (see the module docstring).

    Holds in-memory state shared across batches (the watch index, market history
    rings, cached people); one instance per process, used from one event loop.
    """

    def __init__(
        self,
        index: WatchIndex,
        predictor: Predictor,
        signer: ActionSigner,
        rng: random.Random,
        metrics: Metrics,
        config: EngineConfig,
    ) -> None:
        self.index = index
        self._predictor = predictor
        self._signer = signer
        self._rng = rng
        self._metrics = metrics
        self._config = config
        self.recipients = RecipientCache(config.person_cache_s)
        self.history = MarketHistory(max_points=config.history_points)
        self._weights: dict[int, tuple[Recipient, tuple[float, ...]]] = {}

    def watch_changed(self, watch: WatchSpec | int, change: str) -> None:
        """Keep the index current after a committed watch change (a `WatchIndexHook`)."""
        self.index.on_change(watch, change)

    def person_changed(self, user_id: int | None = None) -> None:
        """Forget cached destinations/settings of one person (everyone when None)."""
        self.recipients.invalidate(user_id)

    def webhooks_changed(self) -> None:
        """Forget the cached webhook endpoints (after one was added, changed or disabled)."""
        self.recipients.invalidate_webhooks()

    async def process(
        self, session: AsyncSession, stored: Sequence[StoredSnapshot], now: datetime
    ) -> PipelineResult:
        """Match, score and plan a batch of just-stored snapshots; write alerts and outbox rows.

        Args:
            session: ingest's session, inside the transaction that stored the snapshots.
            stored: the snapshots, as ingest stored them.
            now: the current time.

        Returns:
            Counts of matches, alerts opened/updated/resolved and notifications queued.
        """
        if not stored:
            return PipelineResult()
        batch = Batch(now=now, snaps=await self._match(session, stored, now))
        if not batch.snaps:
            return PipelineResult(snapshots=len(stored))
        await load_active(session, batch, {s.stored.event.id for s in batch.snaps})
        await self._verify_watches(session, batch)
        await self._load_recent(session, batch)
        user_ids = {m.watch.user_id for s in batch.snaps for m in s.matches}
        user_ids.update(a.user_id for alerts in batch.by_event.values() for a in alerts)
        if user_ids:
            batch.people = await self.recipients.get_many(session, user_ids, now)
            batch.endpoints = await self.recipients.webhooks(session, now)
        await self._forecast(batch)
        for snap in batch.snaps:
            self._rescore(batch, snap)
            self._open(batch, snap)
        notifications = await self._write(session, batch)
        notifications += await self._resolve(session, batch)
        matches = sum(len(s.matches) for s in batch.snaps)
        self._metrics.count("alerts_resolved", len(batch.resolves))
        return PipelineResult(
            snapshots=len(stored),
            matches=matches,
            alerts_opened=len(batch.new_alerts),
            alerts_updated=batch.updated,
            alerts_resolved=len(batch.resolves),
            notifications=notifications,
        )

    # --- reading -----------------------------------------------------------------------

    async def _match(
        self, session: AsyncSession, stored: Sequence[StoredSnapshot], now: datetime
    ) -> list[Snap]:
        """Feed history; match live snapshots (stale or out-of-order ones only feed history)."""
        ordered = sorted(stored, key=lambda s: s.point.observed_at)
        await self.history.ensure(
            session,
            {s.event.id for s in ordered},
            exclude_snapshot_ids={s.snapshot_id for s in ordered},
            now=now,
        )
        max_age = timedelta(seconds=self._config.max_snapshot_age_s)
        out: list[Snap] = []
        for snap in ordered:
            point, event = snap.point, snap.event
            latest = self.history.latest(event.id)
            high = self.history.high(event.id, point.observed_at)
            self.history.append(point)
            if now - point.observed_at > max_age or (
                latest is not None and latest.observed_at >= point.observed_at
            ):
                continue
            matches: list[Match] = []
            for watch in self.index.candidates(event):
                matches += evaluate(
                    watch,
                    event,
                    point,
                    snap.previous,
                    high,
                    snap.new_listing_ids,
                    now,
                    listings=snap.listings,
                )
            out.append(Snap(snap, high, matches))
        return out

    async def _verify_watches(self, session: AsyncSession, batch: Batch) -> None:
        """Reload watches about to open alerts (and unknown watches of active alerts).

        The index may be stale (a change in another process, or not hooked); a watch
        whose row differs is put in the index and its matches are evaluated again.
        """
        wanted = {
            m.watch.id
            for s in batch.snaps
            for m in s.matches
            if dedup_key(m.watch.id, m.event.id, m.kind) not in batch.by_key
        }
        for alerts in batch.by_event.values():
            wanted.update(a.watch_id for a in alerts if a.watch_id not in self.index)
        for row in await load_watches(session, wanted):
            batch.specs[row.id] = spec_from_row(row)
            batch.info[row.id] = WatchInfo.from_row(row)
        changed = set()
        for watch_id in wanted:
            fresh = batch.specs.get(watch_id)
            if fresh is None:
                self.index.remove(watch_id)
                changed.add(watch_id)
            elif fresh != self.index.get(watch_id):
                self.index.replace(fresh)
                changed.add(watch_id)
        for snap in batch.snaps if changed else ():
            stale = {m.watch.id for m in snap.matches if m.watch.id in changed}
            if not stale:
                continue
            s = snap.stored
            snap.matches = [m for m in snap.matches if m.watch.id not in stale]
            haystack = event_words(s.event)
            for spec in (batch.specs.get(i) for i in stale):
                if spec is not None and targets(spec, s.event, haystack):
                    snap.matches += evaluate(
                        spec,
                        s.event,
                        s.point,
                        s.previous,
                        snap.high,
                        s.new_listing_ids,
                        batch.now,
                        listings=s.listings,
                    )

    async def _load_recent(self, session: AsyncSession, batch: Batch) -> None:
        opening: dict[str, int] = {}
        longest = 0
        for snap in batch.snaps:
            for m in snap.matches:
                key = dedup_key(m.watch.id, m.event.id, m.kind)
                if key not in batch.by_key:
                    opening[key] = m.event.id
                    longest = max(longest, m.watch.cooldown_s)
        if opening and longest > 0:
            await load_recent(session, batch, opening, longest)

    async def _forecast(self, batch: Batch) -> None:
        """One predictor call for every event with a match or an active alert."""
        wanted = {
            s.stored.event.id: s.stored.event
            for s in batch.snaps
            if s.matches or batch.by_event.get(s.stored.event.id)
        }
        if not wanted:
            return
        requests = [
            ForecastRequest(event, self.history.points(event_id), batch.now)
            for event_id, event in wanted.items()
        ]
        try:
            answers = await self._predictor.forecast(requests)
        except Exception:  # a failing model must not stop ingest
            logger.exception(
                "predictor %s failed for %d events", self._predictor.name, len(requests)
            )
            answers = [fallback_forecast() for _ in requests]
        for event_id, forecast in zip(wanted, answers, strict=False):
            batch.forecasts[event_id] = forecast
            batch.forecast_dicts[event_id] = (
                prediction_dict(forecast.prediction),
                recommendation_dict(forecast.recommendation),
            )

    # --- deciding ----------------------------------------------------------------------

    def _score(self, batch: Batch, snap: Snap, match: Match) -> Any:
        s = snap.stored
        person = batch.people.get(match.watch.user_id)
        weights = self._config.weights
        if person is not None and person.learned_weights:
            cached = self._weights.get(person.user_id)
            if cached is None or cached[0] is not person:
                learned = person.learned_weights
                cached = (person, blend_weights(weights, learned, person.feedback_count))
                self._weights[person.user_id] = cached
            weights = cached[1]
        ctx = MarketContext(
            s.point, s.previous, snap.high, tickets_left(match.watch, s.point, s.listings)
        )
        return score(match, ctx, batch.forecasts.get(s.event.id), batch.now, weights)

    def _rescore(self, batch: Batch, snap: Snap) -> None:
        """Re-score every active alert of the snapshot's event; resolve or wake as due."""
        s, now = snap.stored, batch.now
        alerts = batch.by_event.get(s.event.id)
        if not alerts:
            return
        fired = {dedup_key(m.watch.id, m.event.id, m.kind): m for m in snap.matches}
        for alert in list(alerts):
            spec = batch.specs.get(alert.watch_id) or self.index.get(alert.watch_id)
            kind = (
                TriggerKind(alert.kind) if alert.kind in TriggerKind.__members__.values() else None
            )
            hard = hard_reason(spec, s.event, s.point, now) if kind else "unknown trigger"
            match = fired.get(alert.dedup_key)
            if match is None and hard is None and spec is not None and kind is not None:
                match = check(spec, kind, s.event, s.point, snap.high, listings=s.listings)
            clear = plan_clear(
                alert.clear_since,
                match is not None,
                hard_reason=hard,
                soft_reason=soft_reason(kind, spec),
                config=self._config,
                now=now,
            )
            if alert.clear_since != clear.clear_since:
                alert.clear_since = clear.clear_since
                alert.mark(LIGHT)
            if clear.resolve:
                batch.drop_active(alert)
                alert.status, alert.resolved_at, alert.updated_at = "resolved", now, now
                alert.mark(LIGHT)  # written before any re-open of the same key
                batch.resolves.append((alert, clear.reason or "condition no longer holds"))
                batch.recent[alert.dedup_key] = RecentResolve(now, alert.last_notified_price)
            elif match is not None and spec is not None:
                self._update(batch, snap, alert, spec, match)

    def _update(
        self, batch: Batch, snap: Snap, alert: ActiveAlert, spec: WatchSpec, match: Match
    ) -> None:
        now = batch.now
        result = self._score(batch, snap, match)
        frozen = (alert.escalation or {}).get("level")
        state = AlertState(
            status=alert.status,
            notified_level=Level(frozen if isinstance(frozen, int) else alert.level),
            last_notified_at=alert.last_notified_at,
            last_notified_price=alert.last_notified_price,
            snoozed_until=alert.snoozed_until,
            snooze_below=alert.snooze_below,
        )
        snoozed = skip_reason(spec, snap.stored.event, snap.stored.point, now) is not None
        decision = plan_update(
            state, spec, result.level, match.price, self._config, now, watch_snoozed=snoozed
        )
        old_level = alert.level
        if abs(alert.score - result.value) >= 0.005 or old_level != result.level or decision.notify:
            alert.factors = factor_dicts(result.factors)
            alert.prediction, alert.recommendation = batch.forecast_dicts.get(
                snap.stored.event.id, (None, None)
            )
            alert.mark(FULL)
        if (alert.score, alert.level, alert.price) != (result.value, result.level, match.price):
            alert.score, alert.level, alert.price = result.value, int(result.level), match.price
            alert.updated_at = now
            alert.mark(LIGHT)
        batch.updated += 1
        if old_level != result.level:
            change = f"{Level(old_level).label} -> {result.level.label} ({result.value:.2f})"
            batch.audits.append((alert, "rescored", f"rescored: {change}"))
        if decision.wake:
            alert.status, alert.snoozed_until, alert.snooze_below = "open", None, None
            alert.mark(FULL)
            batch.audits.append((alert, "woke", decision.reason))
        person = batch.people.get(alert.user_id)
        if decision.notify and person is not None:
            alert.fence += 1
            if alert.id is not None:
                batch.renotified.append(alert.id)
            round_ = Round(
                alert, "alert.updated", snap, result, person, [("notified", decision.reason)]
            )
            self._start_round(batch, round_)

    def _open(self, batch: Batch, snap: Snap) -> None:
        """Open an alert for each match whose key has none, unless planning says no."""
        s, now = snap.stored, batch.now
        for match in snap.matches:
            key = dedup_key(match.watch.id, match.event.id, match.kind)
            person = batch.people.get(match.watch.user_id)
            if key in batch.by_key or person is None:
                continue
            result = self._score(batch, snap, match)
            recent = batch.recent.get(key)
            why_not = plan_open(
                match.watch, match.kind, match.price, result.level, recent, self._config, now
            )
            if why_not is not None:
                logger.debug("not opening %s: %s", key, why_not)
                continue
            prediction, recommendation = batch.forecast_dicts.get(s.event.id, (None, None))
            alert = ActiveAlert(
                id=None,
                dedup_key=key,
                watch_id=match.watch.id,
                user_id=match.watch.user_id,
                event_id=s.event.id,
                kind=match.kind.value,
                score=result.value,
                level=int(result.level),
                price=match.price,
                status="open",
                reason=match.reason,
                opened_at=now,
                updated_at=now,
                factors=factor_dicts(result.factors),
                prediction=prediction,
                recommendation=recommendation,
            )
            batch.new_alerts.append(alert)
            batch.add_active(alert)
            self._metrics.count("alerts_opened", labels={"level": str(int(result.level))})
            detail = f"opened: {match.reason}; {result.level.label} ({result.value:.2f})"
            self._start_round(
                batch, Round(alert, "alert.triggered", snap, result, person, [("opened", detail)])
            )

    def _start_round(self, batch: Batch, round_: Round) -> None:
        """Freeze the escalation policy now; destinations are chosen when rows are written.

        Quiet hours, not the destination, decide when step 0 goes out, so the policy
        can be frozen at once and later snapshots in this batch see the cooldown.
        """
        alert = round_.alert
        step0 = plan_round(batch, round_, self._config.digest).step0_at
        frozen = freeze(round_.score.level, step0, round_.person.escalation_overrides)
        alert.escalation, alert.step, alert.next_step_at = frozen.snapshot, 0, frozen.next_step_at
        alert.last_notified_at, alert.last_notified_price = batch.now, alert.price
        alert.mark(FULL)
        round_.fence = alert.fence
        batch.rounds.append(round_)

    # --- writing -----------------------------------------------------------------------

    async def _write(self, session: AsyncSession, batch: Batch) -> int:
        """Write alert changes and new alerts, then their notifications and audit entries."""
        await cancel_pending(session, batch.renotified)
        await write_alerts(session, batch)
        missing = {r.alert.watch_id for r in batch.rounds} - batch.info.keys()
        for row in await load_watches(session, missing):
            batch.info[row.id] = WatchInfo.from_row(row)
        last = {id(r.alert): i for i, r in enumerate(batch.rounds)}
        ctx = RowContext(self._signer, self._rng, self._metrics, self._config.digest, {})
        notes: list[dict[str, Any]] = []
        for i, round_ in enumerate(batch.rounds):
            spec = batch.specs.get(round_.alert.watch_id) or self.index.get(round_.alert.watch_id)
            links = self._links(round_.alert.id)
            notes += round_rows(
                batch,
                round_,
                spec,
                RowContext(ctx.signer, ctx.rng, ctx.metrics, ctx.default_digest, links),
                chats=last[id(round_.alert)] == i,
            )
        audits = audit_rows(batch)
        if notes:
            await session.execute(insert(Notification), notes)
        if audits:
            await session.execute(insert(AuditEntry), audits)
        return len(notes)

    async def _resolve(self, session: AsyncSession, batch: Batch) -> int:
        """Resolve through `core.alerts` so earlier messages are edited and webhooks told."""
        if not batch.resolves:
            return 0
        reasons = {a.id: reason for a, reason in batch.resolves if a.id is not None}
        rows = await session.execute(select(Alert).where(Alert.id.in_(sorted(reasons))))
        items = [(alert, reasons[alert.id]) for alert in rows.scalars()]
        links = {alert.id: self._links(alert.id) for alert, _ in items}
        return await resolve_many(session, items, batch.now, endpoints=batch.endpoints, links=links)

    def _links(self, alert_id: int | None) -> dict[str, str]:
        base = (self._config.public_url or "").rstrip("/")
        if not base or alert_id is None:
            return {}
        return {
            "alert": f"{base}/api/v1/alerts/{alert_id}",
            "timeline": f"{base}/api/v1/alerts/{alert_id}/timeline",
        }
