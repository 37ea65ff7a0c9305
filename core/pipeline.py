"""The alert engine: stored snapshots in, alerts and outbox rows out, in one transaction.

For a batch of snapshots that ingest has just stored (same session, not committed):

1. match each live snapshot against the in-memory `WatchIndex` (`core.rules`), with the
   24 h high from the in-memory `MarketHistory`;
2. load, with a few queries, the active alerts of the batch's events, the rows of
   watches about to open an alert (the index is a fast filter, the row is the truth),
   recent resolves (hysteresis) and the people involved (cached);
3. forecast every event with a match or an active alert in ONE predictor call;
4. re-score every active alert of each event (`core.scoring`), resolve those whose
   condition stopped holding (`core.planning.plan_clear`), open new ones
   (`plan_open`) and decide who hears about what (`plan_update`, `plan_delivery`);
5. write alerts, then notifications and audit entries in bulk.

The caller commits. Nothing here reads the wall clock: `now` comes in.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.actions import ActionSigner
from core.alerts import resolve_many
from core.announce import alert_dict, cancel_pending, notification_key
from core.db.models import ACTIVE_ALERT_STATUSES, Alert, AuditEntry, Notification, Watch
from core.domain import (
    ChannelKind,
    Level,
    Match,
    NotificationStatus,
    Score,
    StoredSnapshot,
    TriggerKind,
    WatchSpec,
)
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
    WebhookTarget,
    dedup_key,
    plan_clear,
    plan_delivery,
    plan_open,
    plan_update,
)
from core.policy import freeze
from core.ports import Forecast, ForecastRequest, Predictor
from core.recipients import RecipientCache
from core.render import (
    ALERT_BUTTONS,
    AlertView,
    body,
    button_dicts,
    event_dict,
    factor_dicts,
    market_dict,
    payload,
    prediction_dict,
    recommendation_dict,
    title,
)
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
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """What one batch did."""

    snapshots: int = 0
    matches: int = 0
    alerts_opened: int = 0
    alerts_updated: int = 0
    alerts_resolved: int = 0
    notifications: int = 0


@dataclass(slots=True)
class _Snap:
    stored: StoredSnapshot
    high: float | None
    matches: list[Match]


@dataclass(slots=True)
class _Round:
    """One notification round of one alert, planned before the flush, written after."""

    alert: Alert
    event_type: str
    snap: _Snap
    score: Score
    person: Recipient
    audit: list[tuple[str, str]] = field(default_factory=list)
    fence: int = 0


@dataclass(slots=True)
class _Batch:
    """Working state of one `process` call."""

    now: datetime
    snaps: list[_Snap]
    by_key: dict[str, Alert] = field(default_factory=dict)
    by_event: dict[int, list[Alert]] = field(default_factory=dict)
    specs: dict[int, WatchSpec] = field(default_factory=dict)
    info: dict[int, WatchInfo] = field(default_factory=dict)
    recent: dict[str, RecentResolve] = field(default_factory=dict)
    people: dict[int, Recipient] = field(default_factory=dict)
    forecasts: dict[int, Forecast] = field(default_factory=dict)
    rounds: list[_Round] = field(default_factory=list)
    new_alerts: list[Alert] = field(default_factory=list)
    resolves: list[tuple[Alert, str]] = field(default_factory=list)
    renotified: list[Alert] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    opened: int = 0
    updated: int = 0


class AlertEngine:
    """Turns stored snapshots into alerts and notifications (see the module docstring)."""

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

    # --- hooks -------------------------------------------------------------------------

    def watch_changed(self, watch: WatchSpec | int, change: str) -> None:
        """Keep the index current after a committed watch change (a `WatchIndexHook`)."""
        self.index.on_change(watch, change)

    def person_changed(self, user_id: int | None = None) -> None:
        """Forget cached destinations/settings of one person (everyone when None)."""
        self.recipients.invalidate(user_id)

    def webhooks_changed(self) -> None:
        self.recipients.invalidate_webhooks()

    # --- the batch ---------------------------------------------------------------------

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
        batch = _Batch(now=now, snaps=await self._match(session, stored, now))
        event_ids = {s.stored.event.id for s in batch.snaps}
        if not event_ids:
            return PipelineResult(snapshots=len(stored))
        await self._load_active(session, batch, event_ids)
        await self._verify_watches(session, batch)
        await self._load_recent(session, batch)
        user_ids = {m.watch.user_id for s in batch.snaps for m in s.matches}
        user_ids.update(a.user_id for alerts in batch.by_event.values() for a in alerts)
        batch.people = await self.recipients.get_many(session, user_ids, now)
        await self._forecast(batch)
        for snap in batch.snaps:
            self._rescore(batch, snap)
            self._open(batch, snap)
        notifications = await self._write(session, batch)
        resolved = len(batch.resolves)
        if batch.resolves:
            endpoints = await self.recipients.webhooks(session, now)
            links = {a.id: self._links(a.id) for a, _ in batch.resolves}
            notifications += await resolve_many(
                session, batch.resolves, now, endpoints=endpoints, links=links
            )
            self._metrics.count("alerts_resolved", resolved)
        return PipelineResult(
            snapshots=len(stored),
            matches=sum(len(s.matches) for s in batch.snaps),
            alerts_opened=batch.opened,
            alerts_updated=batch.updated,
            alerts_resolved=resolved,
            notifications=notifications,
        )

    async def _match(
        self, session: AsyncSession, stored: Sequence[StoredSnapshot], now: datetime
    ) -> list[_Snap]:
        """Feed history and match live snapshots; stale or out-of-order ones only feed history."""
        ordered = sorted(stored, key=lambda s: s.point.observed_at)
        await self.history.ensure(
            session,
            {s.event.id for s in ordered},
            exclude_snapshot_ids={s.snapshot_id for s in ordered},
            now=now,
        )
        max_age = timedelta(seconds=self._config.max_snapshot_age_s)
        out: list[_Snap] = []
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
            out.append(_Snap(snap, high, matches))
        return out

    async def _load_active(self, session: AsyncSession, batch: _Batch, event_ids: set[int]) -> None:
        ids = sorted(event_ids)
        for start in range(0, len(ids), _CHUNK):
            rows = await session.execute(
                select(Alert).where(
                    Alert.event_id.in_(ids[start : start + _CHUNK]),
                    Alert.status.in_(ACTIVE_ALERT_STATUSES),
                )
            )
            for alert in rows.scalars():
                batch.by_key[alert.dedup_key] = alert
                batch.by_event.setdefault(alert.event_id, []).append(alert)

    async def _verify_watches(self, session: AsyncSession, batch: _Batch) -> None:
        """Reload watches about to open alerts (and unknown watches of active alerts).

        The index may be stale (a change in another process, or not yet hooked); a
        watch whose row differs is replaced in the index and its matches re-evaluated.
        """
        wanted = {
            m.watch.id
            for s in batch.snaps
            for m in s.matches
            if dedup_key(m.watch.id, m.event.id, m.kind) not in batch.by_key
        }
        for alerts in batch.by_event.values():
            wanted.update(a.watch_id for a in alerts if a.watch_id not in self.index)
        ids = sorted(wanted)
        for start in range(0, len(ids), _CHUNK):
            rows = await session.execute(
                select(Watch).where(Watch.id.in_(ids[start : start + _CHUNK]))
            )
            for row in rows.scalars():
                batch.specs[row.id] = spec_from_row(row)
                batch.info[row.id] = WatchInfo.from_row(row)
        changed = set()
        for watch_id in ids:
            fresh = batch.specs.get(watch_id)
            if fresh is None:
                self.index.remove(watch_id)
                changed.add(watch_id)
            elif fresh != self.index.get(watch_id):
                self.index.replace(fresh)
                changed.add(watch_id)
        if changed:
            self._rematch(batch, changed)

    def _rematch(self, batch: _Batch, changed: set[int]) -> None:
        for snap in batch.snaps:
            if not any(m.watch.id in changed for m in snap.matches):
                continue
            kept = [m for m in snap.matches if m.watch.id not in changed]
            s, seen = snap.stored, {m.watch.id for m in snap.matches if m.watch.id in changed}
            haystack = event_words(s.event)
            for watch_id in seen:
                spec = batch.specs.get(watch_id)
                if spec is not None and targets(spec, s.event, haystack):
                    kept += evaluate(
                        spec,
                        s.event,
                        s.point,
                        s.previous,
                        snap.high,
                        s.new_listing_ids,
                        batch.now,
                        listings=s.listings,
                    )
            snap.matches = kept

    async def _load_recent(self, session: AsyncSession, batch: _Batch) -> None:
        """The latest resolve of each key about to open, within its watch's cooldown."""
        keys = {
            dedup_key(m.watch.id, m.event.id, m.kind): m for s in batch.snaps for m in s.matches
        }
        opening = {k: m for k, m in keys.items() if k not in batch.by_key}
        longest = max((m.watch.cooldown_s for m in opening.values()), default=0)
        if not opening or longest <= 0:
            return
        events = sorted({m.event.id for m in opening.values()})
        names = sorted(opening)
        for start in range(0, len(names), _CHUNK):
            rows = await session.execute(
                select(Alert.dedup_key, Alert.resolved_at, Alert.last_notified_price).where(
                    Alert.event_id.in_(events),
                    Alert.dedup_key.in_(names[start : start + _CHUNK]),
                    Alert.status.in_(("resolved", "expired")),
                    Alert.resolved_at >= batch.now - timedelta(seconds=longest),
                )
            )
            for key, resolved_at, price in rows:
                known = batch.recent.get(key)
                if resolved_at is not None and (known is None or known.resolved_at < resolved_at):
                    batch.recent[key] = RecentResolve(resolved_at, price)

    async def _forecast(self, batch: _Batch) -> None:
        """One predictor call for every event with a match or an active alert."""
        wanted = {}
        for snap in batch.snaps:
            event = snap.stored.event
            if snap.matches or batch.by_event.get(event.id):
                wanted[event.id] = event
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
        batch.forecasts = dict(zip(wanted, answers, strict=False))

    # --- decisions (no I/O) ------------------------------------------------------------

    def _weights_for(self, person: Recipient | None) -> tuple[float, ...]:
        if person is None or not person.learned_weights:
            return self._config.weights
        cached = self._weights.get(person.user_id)
        if cached is None or cached[0] is not person:
            blended = blend_weights(
                self._config.weights, person.learned_weights, person.feedback_count
            )
            cached = (person, blended)
            self._weights[person.user_id] = cached
        return cached[1]

    def _score(self, batch: _Batch, snap: _Snap, match: Match) -> Score:
        s = snap.stored
        ctx = MarketContext(
            point=s.point,
            previous=s.previous,
            high_24h=snap.high,
            tickets_left=tickets_left(match.watch, s.point, s.listings),
        )
        weights = self._weights_for(batch.people.get(match.watch.user_id))
        return score(match, ctx, batch.forecasts.get(s.event.id), batch.now, weights)

    def _spec_of(self, batch: _Batch, watch_id: int) -> WatchSpec | None:
        return batch.specs.get(watch_id) or self.index.get(watch_id)

    def _rescore(self, batch: _Batch, snap: _Snap) -> None:
        """Re-score every active alert of the snapshot's event; resolve or wake as due."""
        s, now = snap.stored, batch.now
        alerts = batch.by_event.get(s.event.id)
        if not alerts:
            return
        fired = {dedup_key(m.watch.id, m.event.id, m.kind): m for m in snap.matches}
        for alert in list(alerts):
            spec = self._spec_of(batch, alert.watch_id)
            try:
                kind = TriggerKind(alert.kind)
            except ValueError:
                kind = None
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
            if clear.resolve:
                self._drop(batch, alert)
                alert.status = "resolved"  # written before any re-open of the same key
                alert.resolved_at = now
                batch.resolves.append((alert, clear.reason or "condition no longer holds"))
                batch.recent[alert.dedup_key] = RecentResolve(now, alert.last_notified_price)
                continue
            if match is None or spec is None:
                continue
            self._update(batch, snap, alert, spec, match)

    def _update(
        self, batch: _Batch, snap: _Snap, alert: Alert, spec: WatchSpec, match: Match
    ) -> None:
        now = batch.now
        result = self._score(batch, snap, match)
        person = batch.people.get(alert.user_id)
        old_level = alert.level
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
        changed = abs(alert.score - result.value) >= 0.005 or alert.level != result.level
        if changed or decision.notify or decision.wake:
            alert.factors = factor_dicts(result.factors)
            forecast = batch.forecasts.get(snap.stored.event.id)
            if forecast is not None:
                alert.prediction = prediction_dict(forecast.prediction)
                alert.recommendation = recommendation_dict(forecast.recommendation)
        if alert.score != result.value:
            alert.score = result.value
        if alert.level != result.level:
            alert.level = int(result.level)
        if alert.price != match.price:
            alert.price = match.price
        alert.updated_at = now
        batch.updated += 1
        if old_level != result.level:
            detail = (
                f"rescored: {Level(old_level).label} -> {result.level.label} ({result.value:.2f})"
            )
            self._audit(batch, alert, "rescored", detail)
        if decision.wake:
            alert.status, alert.snoozed_until, alert.snooze_below = "open", None, None
            self._audit(batch, alert, "woke", decision.reason)
        if decision.notify and person is not None:
            alert.fence += 1
            batch.renotified.append(alert)
            self._plan_round(
                batch,
                _Round(
                    alert,
                    "alert.updated",
                    snap,
                    result,
                    person,
                    audit=[("notified", decision.reason)],
                ),
            )

    def _open(self, batch: _Batch, snap: _Snap) -> None:
        """Open an alert for each match whose key has none, unless planning says no."""
        s, now = snap.stored, batch.now
        for match in snap.matches:
            key = dedup_key(match.watch.id, match.event.id, match.kind)
            if key in batch.by_key:
                continue
            person = batch.people.get(match.watch.user_id)
            if person is None:
                continue
            result = self._score(batch, snap, match)
            why_not = plan_open(
                match.watch,
                match.kind,
                match.price,
                result.level,
                batch.recent.get(key),
                self._config,
                now,
            )
            if why_not is not None:
                logger.debug("not opening %s: %s", key, why_not)
                continue
            forecast = batch.forecasts.get(s.event.id)
            alert = Alert(
                dedup_key=key,
                watch_id=match.watch.id,
                user_id=match.watch.user_id,
                event_id=s.event.id,
                kind=match.kind.value,
                score=result.value,
                level=int(result.level),
                factors=factor_dicts(result.factors),
                prediction=prediction_dict(forecast.prediction) if forecast else None,
                recommendation=recommendation_dict(forecast.recommendation) if forecast else None,
                price=match.price,
                status="open",
                reason=match.reason,
                opened_at=now,
                updated_at=now,
                step=0,
                fence=0,
            )
            batch.new_alerts.append(alert)
            batch.by_key[key] = alert
            batch.by_event.setdefault(s.event.id, []).append(alert)
            batch.opened += 1
            self._metrics.count("alerts_opened", labels={"level": str(int(result.level))})
            detail = f"opened: {match.reason}; {result.level.label} ({result.value:.2f})"
            self._plan_round(
                batch,
                _Round(alert, "alert.triggered", snap, result, person, audit=[("opened", detail)]),
            )

    def _plan_round(self, batch: _Batch, round_: _Round) -> None:
        """Freeze the escalation policy and note the round; destinations are chosen at write.

        Quiet hours decide when step 0 goes out, whatever the destination, so the policy
        can be frozen now and the cooldown of later snapshots in this batch sees it.
        """
        alert, person = round_.alert, round_.person
        step0 = plan_delivery(
            round_.score.level,
            person,
            round_.event_type,
            batch.now,
            default_digest=self._config.digest,
        ).step0_at
        frozen = freeze(round_.score.level, step0, person.escalation_overrides)
        alert.escalation = frozen.snapshot
        alert.step = 0
        alert.next_step_at = frozen.next_step_at
        alert.last_notified_at = batch.now
        alert.last_notified_price = alert.price
        round_.fence = alert.fence
        batch.rounds.append(round_)

    def _drop(self, batch: _Batch, alert: Alert) -> None:
        batch.by_key.pop(alert.dedup_key, None)
        alerts = batch.by_event.get(alert.event_id, [])
        if alert in alerts:
            alerts.remove(alert)

    def _audit(self, batch: _Batch, alert: Alert, kind: str, detail: str) -> None:
        batch.audits.append({"alert": alert, "kind": kind, "detail": detail})

    def _links(self, alert_id: int) -> dict[str, str]:
        base = (self._config.public_url or "").rstrip("/")
        if not base:
            return {}
        return {
            "alert": f"{base}/api/v1/alerts/{alert_id}",
            "timeline": f"{base}/api/v1/alerts/{alert_id}/timeline",
        }

    # --- writing -----------------------------------------------------------------------

    async def _write(self, session: AsyncSession, batch: _Batch) -> int:
        """Insert new alerts, then their notifications and audit entries, in bulk."""
        now = batch.now
        await cancel_pending(session, [a.id for a in batch.renotified if a.id is not None])
        session.add_all(batch.new_alerts)
        await session.flush()
        missing = sorted({r.alert.watch_id for r in batch.rounds} - batch.info.keys())
        for start in range(0, len(missing), _CHUNK):
            rows = await session.execute(
                select(Watch).where(Watch.id.in_(missing[start : start + _CHUNK]))
            )
            batch.info.update((row.id, WatchInfo.from_row(row)) for row in rows.scalars())
        endpoints = await self.recipients.webhooks(session, now) if batch.rounds else ()
        last_round = {id(r.alert): i for i, r in enumerate(batch.rounds)}
        notes: list[dict[str, Any]] = []
        for i, round_ in enumerate(batch.rounds):
            notes += self._round_rows(
                batch, round_, endpoints, chats=last_round[id(round_.alert)] == i
            )
        audits = [
            {
                "alert_id": a["alert"].id,
                "user_id": a["alert"].user_id,
                "at": now,
                "kind": a["kind"],
                "detail": a["detail"],
                "data": None,
            }
            for a in batch.audits
        ]
        for round_ in batch.rounds:
            audits += [
                {
                    "alert_id": round_.alert.id,
                    "user_id": round_.alert.user_id,
                    "at": now,
                    "kind": kind,
                    "detail": detail,
                    "data": {"fence": round_.fence},
                }
                for kind, detail in round_.audit
            ]
        if notes:
            await session.execute(insert(Notification), notes)
        if audits:
            await session.execute(insert(AuditEntry), audits)
        return len(notes)

    def _round_rows(
        self, batch: _Batch, round_: _Round, endpoints: Sequence[WebhookTarget], *, chats: bool
    ) -> list[dict[str, Any]]:
        """The outbox rows of one round (chat rows only for an alert's last round)."""
        now, alert, snap = batch.now, round_.alert, round_.snap
        info = batch.info.get(alert.watch_id)
        person = round_.person
        plan = plan_delivery(
            round_.score.level,
            person,
            round_.event_type,
            now,
            endpoints=endpoints,
            watch_destination=info.destination if info else None,
            default_digest=self._config.digest,
        )
        round_.audit += list(plan.notes)
        targets = [t for t in plan.targets if chats or t.channel is ChannelKind.WEBHOOK]
        if not targets:
            return []
        s = snap.stored
        forecast = batch.forecasts.get(s.event.id)
        spec = self._spec_of(batch, alert.watch_id)
        view = AlertView(
            alert_id=alert.id,
            kind=alert.kind,
            status=alert.status,
            level=round_.score.level,
            score=round_.score.value,
            event=s.event,
            price=alert.price,
            max_price=info.max_price if info else None,
            tickets_left=tickets_left(spec, s.point, s.listings) if spec else s.point.ticket_count,
            headline=alert.reason,
            factors=round_.score.factors,
            sentence=forecast.recommendation.sentence if forecast else None,
            timezone=person.timezone,
        )
        buttons = button_dicts(
            [
                (
                    label,
                    action,
                    self._signer.sign(action, alert.id, now=now, nonce=self._rng.randbytes(4)),
                )
                for label, action in ALERT_BUTTONS
            ]
        )
        data = {
            "alert": alert_dict(alert),
            "event": event_dict(s.event),
            "market": market_dict(s.point),
            "prediction": prediction_dict(forecast.prediction) if forecast else None,
            "recommendation": recommendation_dict(forecast.recommendation) if forecast else None,
            "watch": info.as_dict() if info else {"id": alert.watch_id},
            "links": self._links(alert.id),
        }
        title_text, body_text = title(view), body(view)
        rows = []
        for target in targets:
            key_address = (
                f"w{target.webhook_endpoint_id}"
                if target.webhook_endpoint_id is not None
                else target.address
            )
            rows.append(
                {
                    "alert_id": alert.id,
                    "user_id": alert.user_id,
                    "webhook_endpoint_id": target.webhook_endpoint_id,
                    "kind": target.kind,
                    "channel": target.channel.value,
                    "address": target.address,
                    "level": int(round_.score.level),
                    "score": round_.score.value,
                    "payload": payload(
                        event_type=target.event_type,
                        timestamp=now,
                        title_text=title_text,
                        body_text=body_text,
                        buttons=buttons,
                        factors=round_.score.factors,
                        data=data,
                    ),
                    "idempotency_key": notification_key(
                        alert.id, target.event_type, target.channel.value, key_address, round_.fence
                    ),
                    "status": NotificationStatus.PENDING.value,
                    "attempts": 0,
                    "due_at": target.due_at,
                    "created_at": now,
                }
            )
            self._metrics.count(
                "notifications", labels={"channel": target.channel.value, "status": "pending"}
            )
        return rows
