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
   (`core.planning`): one message per person, event and destination
   (`core.engine_decide.merge_rounds`);
5. write alerts, notifications and audit entries in bulk; resolves go through
   `core.announce` so earlier messages are edited in place.

The caller commits. Nothing here reads the wall clock: `now` comes in.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.actions import ActionSigner
from core.alert_payload import Known, alert_links
from core.alerts import resolved_change
from core.announce import announce, cancel_pending
from core.db.statements import bulk_insert, settle
from core.db.tables import AUDIT_LOG, NOTIFICATIONS
from core.domain import Match, StoredSnapshot, WatchSpec
from core.engine_batch import (
    Batch,
    Snap,
    load_active,
    load_explanations,
    load_recent,
    load_stamps,
    load_watches,
    write_alerts,
)
from core.engine_decide import Decider, merge_rounds
from core.engine_rows import RowContext, audit_rows, round_rows
from core.engine_support import (
    WatchInfo,
    fallback_forecast,
    load_watch_index,
)
from core.factors import DRAIN_GAP
from core.history import MarketHistory
from core.metrics import Metrics
from core.planning import EngineConfig, cooldown_of, dedup_key
from core.ports import Clock, ForecastRequest, Predictor
from core.recipients import RecipientCache
from core.render import prediction_dict, recommendation_dict
from core.rules import (
    WatchIndex,
    evaluate,
    event_words,
    spec_from_row,
    targets,
)

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
        *,
        cache_clock: Clock | None = None,
    ) -> None:
        """`cache_clock` ages the cached people and webhook endpoints: how stale a change
        made by another process may be is a matter of wall time, so production passes the
        system clock. Without one, the batch's `now` is used (as tests that fake time want).
        A replay of past snapshots then keeps its caches however far `now` jumps.
        """
        self.index = index
        self._cache_clock = cache_clock
        self._predictor = predictor
        self._signer = signer
        self._rng = rng
        self._metrics = metrics
        self._config = config
        self.recipients = RecipientCache(config.person_cache_s)
        self.history = MarketHistory(max_points=config.history_points)
        self._decider = Decider(index, metrics, config)

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
        self,
        session: AsyncSession,
        stored: Sequence[StoredSnapshot],
        now: datetime,
        *,
        alert: bool = True,
    ) -> PipelineResult:
        """Match, score and plan a batch of just-stored snapshots; write alerts and outbox rows.

        Args:
            session: ingest's session, inside the transaction that stored the snapshots.
            stored: the snapshots, as ingest stored them.
            now: the current time.
            alert: False only remembers them in the market history (a backlog that newer
                snapshots of the same events supersede; see `bot.jobs.feed_job`).

        Returns:
            Counts of matches, alerts opened/updated/resolved and notifications queued.
        """
        if not alert:
            await self._match(session, stored, now, alert=False)  # feeds history only
            return PipelineResult(snapshots=len(stored))
        try:
            return await self._process(session, stored, now)
        finally:
            await settle(session)  # the writes sent without waiting (see `_write`)

    async def _process(
        self, session: AsyncSession, stored: Sequence[StoredSnapshot], now: datetime
    ) -> PipelineResult:
        if not stored:
            return PipelineResult()
        batch = Batch(now=now, snaps=await self._match(session, stored, now))
        if not batch.snaps:
            return PipelineResult(snapshots=len(stored))
        return await self._decide(session, batch, len(stored))

    async def revisit(
        self, session: AsyncSession, stored: Sequence[StoredSnapshot], now: datetime
    ) -> PipelineResult:
        """Decide again about the active alerts of events, from each one's newest stored
        snapshot, when no new snapshot came: a time snooze that ran out wakes (and tells
        the person again) even while the feed is quiet. Opens no alert and adds nothing
        to the market history; the caller commits.
        """
        if not stored:
            return PipelineResult()
        await self.history.ensure(
            session, {s.event.id for s in stored}, exclude_snapshot_ids=(), now=now
        )
        snaps = []
        for s in stored:
            before = s.previous
            high = self.history.high(s.event.id, s.point.observed_at)
            previous_high = self.history.high(s.event.id, before.observed_at) if before else None
            reference = self.history.reference(s.point, before, DRAIN_GAP)
            snaps.append(Snap(s, high, [], previous_high, reference))  # no matches: opens nothing;
            # each active alert is checked against the snapshot (`Decider.rescore`)
        try:
            return await self._decide(session, Batch(now=now, snaps=snaps), 0)
        finally:
            await settle(session)

    async def _decide(self, session: AsyncSession, batch: Batch, snapshots: int) -> PipelineResult:
        """Load what the batch's decisions need, decide, and write the outcome."""
        now = batch.now
        await load_active(session, batch, {s.stored.event.id for s in batch.snaps})
        await self._verify_watches(session, batch)
        await self._load_recent(session, batch)
        user_ids = {m.watch.user_id for s in batch.snaps for m in s.matches}
        user_ids.update(a.user_id for alerts in batch.by_event.values() for a in alerts)
        if user_ids:
            aged = self._cache_clock.now() if self._cache_clock is not None else now
            batch.people = await self.recipients.get_many(session, user_ids, aged)
            batch.endpoints = await self.recipients.webhooks(session, aged)
        await self._forecast(batch)
        for snap in batch.snaps:
            self._decider.rescore(batch, snap)
            self._decider.open(batch, snap)
        notifications = await self._write(session, batch)
        notifications += await self._resolve(session, batch)
        matches = sum(len(s.matches) for s in batch.snaps)
        self._metrics.count("alerts_resolved", len(batch.resolves))
        return PipelineResult(
            snapshots=snapshots,
            matches=matches,
            alerts_opened=len(batch.new_alerts),
            alerts_updated=batch.updated,
            alerts_resolved=len(batch.resolves),
            notifications=notifications,
        )

    # --- reading -----------------------------------------------------------------------

    async def _match(
        self,
        session: AsyncSession,
        stored: Sequence[StoredSnapshot],
        now: datetime,
        *,
        alert: bool = True,
    ) -> list[Snap]:
        """Feed history; match live snapshots (stale or out-of-order ones, and all of them
        when not `alert`, only feed history)."""
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
            # Older than the event's newest known point: out of order, history only. The
            # same instant is matched: it is a retry of a batch whose transaction failed
            # after this history had taken it (the store lets no observation in twice).
            if (
                not alert
                or now - point.observed_at > max_age
                or (latest is not None and latest.observed_at > point.observed_at)
            ):
                continue
            matches: list[Match] = self.index.plan(event).matches(
                event, point, high, snap.new_listing_ids, now, listings=snap.listings
            )
            before = snap.previous
            previous_high = self.history.high(event.id, before.observed_at) if before else None
            reference = self.history.reference(point, before, DRAIN_GAP)
            out.append(Snap(snap, high, matches, previous_high, reference))
        return out

    async def _verify_watches(self, session: AsyncSession, batch: Batch) -> None:
        """Check watches about to open alerts (and unknown watches of active alerts).

        The index may be stale (a change in another process, or not hooked): each row's
        `updated_at` is compared with the one the index read it at, and only the rows
        that differ (or were never read) are loaded; a watch that changed is put in the
        index and its matches are evaluated again.
        """
        wanted = {
            m.watch.id
            for s in batch.snaps
            for m in s.matches
            if dedup_key(m.watch.id, m.event.id, m.kind) not in batch.by_key
        }
        for alerts in batch.by_event.values():
            wanted.update(a.watch_id for a in alerts if a.watch_id not in self.index)
        stamps = await load_stamps(session, wanted)
        unsure = {i for i, at in stamps.items() if self.index.stamp(i) != at}
        stamped: dict[int, datetime] = {}
        for row in await load_watches(session, unsure):
            batch.specs[row["id"]] = spec_from_row(row)
            batch.info[row["id"]] = WatchInfo.from_row(row)
            stamped[row["id"]] = row["updated_at"]
        changed = set()
        for watch_id in wanted - stamps.keys():  # deleted
            self.index.remove(watch_id)
            changed.add(watch_id)
        for watch_id in unsure:
            fresh = batch.specs.get(watch_id)
            if fresh is None:
                self.index.remove(watch_id)
                changed.add(watch_id)
            elif fresh != self.index.get(watch_id):
                self.index.replace(fresh, stamped.get(watch_id))
                changed.add(watch_id)
            elif watch_id in stamped:
                self.index.confirm(watch_id, stamped[watch_id])
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
                    longest = max(longest, cooldown_of(m.watch, self._config))
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

    # --- writing -----------------------------------------------------------------------

    async def _write(self, session: AsyncSession, batch: Batch) -> int:
        """Write alert changes and new alerts, then their notifications and audit entries.

        Reads come first: every write but the alert inserts (which return ids) is sent
        without waiting (`core.db.statements`), so the rows below are built while SQLite
        writes, and a read would wait for all of it. Pending messages of re-notified
        alerts are cancelled before this batch's rows are sent (statements run in order).
        A person hears about one event once per destination: `merge_rounds` picks the
        round that tells it before the alerts (their escalation) are written.
        """
        missing = {r.alert.watch_id for r in batch.rounds} | {a.watch_id for a, _ in batch.resolves}
        missing -= batch.info.keys()
        for row in await load_watches(session, missing):
            batch.info[row["id"]] = WatchInfo.from_row(row)
        merge_rounds(batch)
        await cancel_pending(session, batch.renotified, wait=False)
        await write_alerts(session, batch)
        last = {id(r.alert): i for i, r in enumerate(batch.rounds)}
        ctx = RowContext(
            self._signer, self._rng, self._metrics, self._config.digest, self.history.points
        )
        notes: list[dict[str, Any]] = []
        for i, round_ in enumerate(batch.rounds):
            alert = round_.alert
            notes += round_rows(
                batch,
                round_,
                batch.specs.get(alert.watch_id) or self.index.get(alert.watch_id),
                ctx,
                links=self._links(alert.id),
                chats=last[id(alert)] == i,  # an alert's last round supersedes earlier ones
            )
        audits = audit_rows(batch)
        await bulk_insert(session, NOTIFICATIONS, notes, wait=False)
        await bulk_insert(session, AUDIT_LOG, audits, wait=False)
        return len(notes)

    async def _resolve(self, session: AsyncSession, batch: Batch) -> int:
        """Tell people about the batch's resolves: earlier messages edited, webhooks told.

        The alerts' final state was written with the others (`write_alerts`); their
        explanation is read for those not re-scored in this batch, and only when some
        message (an edit or a webhook event) shows it.
        """
        if not batch.resolves:
            return 0
        unexplained = {a.id: a for a, _ in batch.resolves if a.factors is None}

        async def explain(alert_ids: list[int]) -> None:
            wanted = [unexplained[i] for i in alert_ids if i in unexplained]
            await load_explanations(session, wanted)

        changes = [resolved_change(alert, reason) for alert, reason in batch.resolves]
        known = Known(
            events={s.stored.event.id: s.stored.event for s in batch.snaps},
            watches=batch.info,
            zones={user_id: person.timezone for user_id, person in batch.people.items()},
            currencies={s.stored.event.id: s.stored.point.currency for s in batch.snaps},
        )
        links = {a.id: self._links(a.id) for a, _ in batch.resolves if a.id is not None}
        return await announce(
            session, changes, batch.now, batch.endpoints, links, known, explain=explain
        )

    def _links(self, alert_id: int | None) -> dict[str, str]:
        return alert_links(self._config.public_url, alert_id)
