"""The alert engine's decisions for one batch: re-score, resolve, wake, open, notify,
and one message per person, event and destination (`merge_rounds`).

No I/O: everything needed was loaded into the `Batch`; the decisions change the
`ActiveAlert`s in it (marking what must be written) and add notification rounds.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from core.alerts import mark_resolved
from core.delivery_plan import Recipient, first_delivery_at
from core.domain import TRIGGER_KINDS, EventRef, Level, Match, Score, WatchSpec
from core.engine_batch import EXPLAIN, SCORE, STATE, ActiveAlert, Batch, Round, Snap
from core.engine_support import hard_reason, soft_reason
from core.factors import MarketContext, Part, preference_factor
from core.metrics import Metrics
from core.planning import (
    HOLDS,
    AlertState,
    EngineConfig,
    RecentResolve,
    dedup_key,
    plan_clear,
    plan_open,
    plan_update,
)
from core.policy import freeze, steps_for, stopped
from core.ports import Forecast
from core.render import factor_dicts
from core.routing import Destination
from core.rules import WatchIndex, check, effective_price, skip_reason, tickets_left
from core.scoring import (
    EventFactors,
    blend_weights,
    event_factors,
    keep_critical,
    rescored,
    score,
    score_value,
    sticky_level,
)

logger = logging.getLogger(__name__)
# A re-score rewrites the stored explanation when the score moved at least this much.
EXPLAIN_DELTA = 0.05
# A steady market skips re-scoring its alerts, but urgency grows as the event nears: each
# alert is re-scored at least this often all the same.
RESCORE_EVERY = timedelta(minutes=15)
# Preference factors kept per (watch, event) before the cache starts over.
PREFERENCES_KEPT = 100_000


class Decider:
    """Decides what each snapshot does to alerts; holds per-person blended weights."""

    def __init__(self, index: WatchIndex, metrics: Metrics, config: EngineConfig) -> None:
        self.index = index
        self._metrics = metrics
        self._config = config
        self._weights: dict[int, tuple[Recipient, tuple[float, ...]]] = {}
        self._preferences: dict[tuple[int, int], tuple[WatchSpec, EventRef, Part]] = {}

    def _inputs(
        self, batch: Batch, snap: Snap, match: Match
    ) -> tuple[tuple[float, ...], MarketContext, Forecast | None, EventFactors]:
        """The person's (blended) weights, the market context, the forecast and the
        snapshot-level factors of a match (context and factors once per snapshot, tickets left
        and 24 h high)."""
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
        left = tickets_left(match.watch, s.point, s.listings)
        forecast = batch.forecasts.get(s.event.id)
        key = (s.snapshot_id, left, snap.high)
        common = batch.shared.get(key)
        if common is None:
            ctx = MarketContext(s.point, snap.reference, snap.high, left, s.listings)
            common = batch.shared[key] = (ctx, event_factors(ctx, s.event, forecast, batch.now))
        return weights, common[0], forecast, common[1]

    def _preference(self, match: Match) -> Part:
        """The match's preference factor: it depends only on the watch and the event."""
        watch, event = match.watch, match.event
        key = (watch.id, event.id)
        cached = self._preferences.get(key)
        if cached is None or cached[0] is not watch or cached[1] is not event:
            if len(self._preferences) >= PREFERENCES_KEPT:
                self._preferences.clear()
            cached = self._preferences[key] = (watch, event, preference_factor(watch, event))
        return cached[2]

    def score(self, batch: Batch, snap: Snap, match: Match) -> Score:
        """Score a match with the person's (blended) weights (see `scoring.score`)."""
        weights, ctx, forecast, shared = self._inputs(batch, snap, match)
        mine = self._preference(match)
        result = score(match, ctx, forecast, batch.now, weights, shared=shared, preference=mine)
        if weights is not self._config.weights:
            result = keep_critical(result, self._config.weights)
        return result

    def score_value(self, batch: Batch, snap: Snap, match: Match) -> float:
        """The value `score` gives the match, without its factors and reasons."""
        weights, ctx, _, shared = self._inputs(batch, snap, match)
        keep = None if weights is self._config.weights else self._config.weights
        mine = self._preference(match)
        return score_value(match, ctx, weights, shared=shared, preference=mine, keep=keep)[0]

    def _same_market(self, snap: Snap) -> bool:
        """Whether the snapshot shows the market of the one before it (same price, tickets,
        listings count and 24 h high, no listing detail): its alerts would score the same.

        Compared with the stored previous snapshot rather than with memory, so a batch
        whose transaction failed and is retried is judged the same way.
        """
        s, prev = snap.stored, snap.stored.previous
        if prev is None or s.listings or s.new_listing_ids:
            return False
        point = s.point
        same = (point.min_price, point.ticket_count, point.listing_count) == (
            prev.min_price,
            prev.ticket_count,
            prev.listing_count,
        )
        return same and snap.high == snap.previous_high

    def rescore(self, batch: Batch, snap: Snap) -> None:
        """Re-score every active alert of the snapshot's event; resolve or wake as due."""
        s, now = snap.stored, batch.now
        alerts = batch.by_event.get(s.event.id)
        if not alerts:
            return
        fired = {dedup_key(m.watch.id, m.event.id, m.kind): m for m in snap.matches}
        unchanged = self._same_market(snap)
        for alert in list(alerts):
            spec = batch.specs.get(alert.watch_id) or self.index.get(alert.watch_id)
            kind = TRIGGER_KINDS.get(alert.kind)
            hard = hard_reason(spec, s.event, s.point, now) if kind else "unknown trigger"
            match = fired.get(alert.dedup_key)
            if match is None and hard is None and spec is not None and kind is not None:
                match = check(spec, kind, s.event, s.point, snap.high, listings=s.listings)
            if hard is None and match is not None:
                clear = HOLDS  # what plan_clear says, without formatting an unused soft reason
            else:
                clear = plan_clear(
                    alert.clear_since,
                    match is not None,
                    hard_reason=hard,
                    soft_reason=soft_reason(
                        kind,
                        spec,
                        effective_price(spec, s.point, s.listings) if spec else None,
                        s.point.currency,
                    ),
                    config=self._config,
                    now=now,
                )
            if alert.clear_since != clear.clear_since:
                alert.clear_since = clear.clear_since
                alert.mark(STATE)
            if clear.resolve:
                batch.drop_active(alert)
                reason = clear.reason or "condition no longer holds"
                mark_resolved(alert, reason, now)
                alert.mark(STATE)  # written before any re-open of the same key
                batch.resolves.append((alert, reason))
                batch.recent[alert.dedup_key] = RecentResolve(
                    now, alert.last_notified_price, alert.told_level
                )
            elif match is not None and spec is not None:
                if (
                    unchanged
                    and clear.clear_since is None
                    and alert.status != "snoozed"
                    and id(alert) not in batch.pending  # its message shows the newest data
                    # nothing owed: a move held back by the cooldown is told once it ends
                    and alert.price == alert.last_notified_price
                    # and time itself moves the score (urgency): re-score now and then
                    and now - alert.updated_at < RESCORE_EVERY
                ):
                    continue  # same market as last time: the same score, nothing to decide
                self.update(batch, snap, alert, spec, match)

    def update(
        self, batch: Batch, snap: Snap, alert: ActiveAlert, spec: WatchSpec, match: Match
    ) -> None:
        """Re-score one active alert whose condition holds; notify, wake or stay silent."""
        now = batch.now
        value = self.score_value(batch, snap, match)
        level = sticky_level(value, Level(alert.level))
        state = AlertState(
            status=alert.status,
            notified_level=Level(alert.told_level),
            last_notified_at=alert.last_notified_at,
            last_notified_price=alert.last_notified_price,
            snoozed_until=alert.snoozed_until,
            snooze_below=alert.snooze_below,
        )
        snoozed = skip_reason(spec, snap.stored.event, snap.stored.point, now) is not None
        decision = plan_update(
            state, spec, level, match.price, self._config, now,
            watch_snoozed=snoozed, currency=snap.stored.point.currency,
        )  # fmt: skip
        old_level = alert.level
        moved = abs(alert.score - value)
        # A round of this batch not written yet shows this newer snapshot instead.
        pending = None if decision.notify else batch.pending.get(id(alert))
        explained = None
        if (
            moved >= EXPLAIN_DELTA
            or old_level != level
            or decision.notify
            or decision.wake
            or pending is not None
        ):
            explained = self.score(batch, snap, match)  # the same value, now with its reasons
            if explained.level != level:
                explained = replace(explained, level=level)
            alert.factors = factor_dicts(explained.factors)
            alert.prediction, alert.recommendation = batch.forecast_dicts.get(
                snap.stored.event.id, (None, None)
            )
            alert.mark(EXPLAIN)
        if moved >= 0.005 or old_level != level or alert.price != match.price:
            if alert.price != match.price:
                alert.reason = match.reason  # it quotes the price
            alert.score, alert.level, alert.price = value, int(level), match.price
            alert.updated_at = now
            alert.mark(SCORE)
        elif now - alert.updated_at >= RESCORE_EVERY:
            alert.updated_at = now  # re-scored, unchanged: skip it again for a while
            alert.mark(SCORE)
        batch.updated += 1
        if old_level != level:
            batch.audits.append((alert, "rescored", rescored(Level(old_level), level, value)))
            self._stop_escalation_below(batch, alert, level)
        if decision.wake:
            alert.status, alert.snoozed_until, alert.snooze_below = "open", None, None
            alert.mark(STATE)
            batch.audits.append((alert, "woke", decision.reason))
            frozen = alert.frozen_level
            if not decision.notify and isinstance(frozen, int):
                # Told to nobody (below the watch's minimum level): the round the snooze
                # answered must not resume either (the auditor would take it for stuck).
                alert.freeze_policy(stopped(frozen, level, now))
                why = f"woke at {level.label}, below the watch's minimum: no escalation"
                batch.audits.append((alert, "escalation_stopped", why))
        person = batch.people.get(alert.user_id)
        if decision.notify and person is not None and explained is not None:  # notify explains
            alert.fence += 1
            if alert.id is not None:
                batch.renotified.append(alert.id)
            round_ = Round(
                alert,
                "alert.updated",
                snap,
                explained,
                person,
                match.price,
                match.reason,
                [("notified", decision.reason)],
            )
            self.start_round(batch, round_)
        elif pending is not None and explained is not None:
            pending.snap, pending.score = snap, explained
            pending.price, pending.headline = match.price, match.reason
            self._freeze(batch, pending)

    def _stop_escalation_below(self, batch: Batch, alert: ActiveAlert, level: Level) -> None:
        """An alert that fell to a level whose policy sends nothing after step 0 (medium and
        below, by default) stops escalating: no SMS, call or emergency contact for it."""
        frozen = alert.frozen_level
        if alert.next_step_at is None or not isinstance(frozen, int) or level >= frozen:
            return
        person = batch.people.get(alert.user_id)
        steps, _ = steps_for(level, person.escalation_overrides if person else None)
        if any(step.after_s > 0 for step in steps):
            return  # the lower level escalates too: the frozen round carries on
        alert.next_step_at = None
        # Marked stopped (the round's level kept), so the auditor does not take it for a
        # stuck chain and restart it; `freeze_policy` marks the alert for writing.
        alert.freeze_policy(stopped(frozen, level, batch.now))
        batch.audits.append((alert, "escalation_stopped", f"no escalation at {level.label}"))

    def open(self, batch: Batch, snap: Snap) -> None:
        """Open an alert for each match whose key has none, unless planning says no."""
        s, now = snap.stored, batch.now
        for match in snap.matches:
            key = dedup_key(match.watch.id, match.event.id, match.kind)
            person = batch.people.get(match.watch.user_id)
            if key in batch.by_key or person is None:
                continue
            result = self.score(batch, snap, match)
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
            round_ = Round(
                alert,
                "alert.triggered",
                snap,
                result,
                person,
                match.price,
                alert.reason or "",
                [("opened", detail)],
            )
            self.start_round(batch, round_)

    def start_round(self, batch: Batch, round_: Round) -> None:
        """Freeze the escalation policy now; destinations are chosen when rows are written.

        Quiet hours, not the destination, decide when step 0 goes out, so the policy
        can be frozen at once and later snapshots in this batch see the cooldown.
        """
        self._freeze(batch, round_)
        round_.fence = round_.alert.fence
        batch.rounds.append(round_)
        batch.pending[id(round_.alert)] = round_

    def _freeze(self, batch: Batch, round_: Round) -> None:
        """Freeze the alert's escalation policy for the round's level; note what it told."""
        alert, level = round_.alert, round_.score.level
        if alert.status == "acknowledged":
            # Acknowledged means "stop escalating": its rise to critical is told by this
            # message alone. A stopped round keeps the level told, so the next re-score is
            # silent, and neither the ticker nor the auditor takes it up.
            alert.freeze_policy(stopped(int(level), level, batch.now))
            alert.step, alert.next_step_at = 0, None
        else:
            step0 = first_delivery_at(level, round_.person, batch.now, self._config.digest)
            frozen = freeze(level, step0, round_.person.escalation_overrides)
            alert.freeze_policy(frozen.snapshot)
            alert.step, alert.next_step_at = 0, frozen.next_step_at
        alert.last_notified_at, alert.last_notified_price = batch.now, round_.price
        alert.mark(STATE)


def merge_rounds(batch: Batch) -> None:
    """Tell a person about one event once per destination in the batch.

    Two watches of one person that match one snapshot (or one watch's two triggers) each
    have an alert and a round. The latest round of every alert still open is grouped by
    person, event and destination (the watch's group chat; None: the person's own
    chats; a group's round and a personal one are never merged); of each group with
    more than one, the round of the highest level, then score, then lowest watch id
    tells it (its `also`), and the others are covered (`covered_by` its alert): they
    write webhook rows only, and their alert does not escalate on its own (stopped like
    a level drop, so the auditor leaves it alone); the kept round escalates for the
    event. A covered alert that is re-notified later by itself is told as usual. Needs
    `batch.info` for every round's watch (see `AlertEngine._write`).
    """
    if len(batch.pending) < 2:
        return
    groups: dict[tuple[int, int, Destination | None], list[Round]] = {}
    shared = False
    for round_ in batch.pending.values():
        alert = round_.alert
        if alert.status != "open":
            continue  # resolved later in the batch: its message and edit go out as before
        info = batch.info.get(alert.watch_id)
        key = (alert.user_id, alert.event_id, info.destination if info else None)
        group = groups.get(key)
        if group is None:
            groups[key] = [round_]
        else:
            group.append(round_)
            shared = True
    if not shared:
        return
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(key=_telling_first)
        kept, *covered = group
        kept.also = tuple(covered)
        for round_ in covered:
            round_.covered_by = kept.alert
            level = round_.score.level
            round_.alert.next_step_at = None
            round_.alert.freeze_policy(stopped(int(level), level, batch.now))


def _telling_first(round_: Round) -> tuple[int, float, int, str]:
    """Sort key: the highest level, then score, then the lowest watch id (then kind)."""
    alert = round_.alert
    return (-round_.score.level, -round_.score.value, alert.watch_id, alert.kind)
