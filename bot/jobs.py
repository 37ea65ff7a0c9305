"""The periodic jobs of the process, built from the container."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Container
from bot.scheduler import Job
from bot.settings import throttle_windows
from core.alerts import STARTED_BATCH, resolve_started
from core.db.models import Activity, MarketSnapshot
from core.digest import compose_digests, compose_held
from core.domain import SnapshotIn
from core.feedback import Feedback, learn_from_feedback
from core.ports import TicketSource
from core.revisit import WAKE_BATCH, wake_snoozed
from core.sync import PeopleSync
from core.watch_sync import WatchSync
from ml.learning import PersonModel

logger = logging.getLogger(__name__)

FEED_CHUNK = 500
FEED_NEWS = 100  # snapshots in one poll worth an INFO line (start-up, catching up)
WATCH_SYNC_S = 10.0
STARTED_S = 60.0
DIGEST_S = 30.0
# Held messages are merged this long before they fall due: more than the job's interval,
# so a run always comes before delivery (which claims rows as soon as due) takes them.
HELD_LEAD = timedelta(seconds=3 * DIGEST_S)
WAKE_S = 30.0


def split_backlog(items: Sequence[SnapshotIn]) -> tuple[list[SnapshotIn], list[SnapshotIn]]:
    """(history, live): each event's newest snapshot is live, the older ones history.

    A poll that returns a backlog (the demo's day of history, a source catching up after
    an outage) would otherwise open alerts on snapshots hours old, and the cooldown would
    keep the newer ones quiet. Both lists keep the order they came in.
    """
    newest: dict[tuple[str, str], datetime] = {}
    for item in items:
        key = (item.source, item.event.external_id)
        if key not in newest or newest[key] < item.observed_at:
            newest[key] = item.observed_at
    history: list[SnapshotIn] = []
    live: list[SnapshotIn] = []
    for item in items:
        latest = newest[(item.source, item.event.external_id)] == item.observed_at
        (live if latest else history).append(item)
    return history, live


def feed_job(container: Container, source: TicketSource, chunk: int = FEED_CHUNK) -> Job:
    """Poll a TicketSource and ingest what it yields, in chunks: superseded snapshots of a
    backlog as history only, then each event's newest (`split_backlog`)."""

    async def poll() -> None:
        items = [item async for batch in source.poll(container.clock.now()) for item in batch]
        history, live = split_backlog(items)
        total = 0
        for part, alert in ((history, False), (live, True)):
            for start in range(0, len(part), chunk):
                piece = part[start : start + chunk]
                report = await container.ingest.ingest_snapshots(piece, alert=alert)
                total += report.accepted
        if total:  # a routine poll is news only at DEBUG (/metrics counts it); a backlog is
            level = logging.INFO if total >= FEED_NEWS else logging.DEBUG
            logger.log(level, "feed %s: %d snapshots ingested", source.name, total)

    return Job(f"feed:{source.name}", container.settings.feed_poll_s, poll)


def cleanup_job(container: Container) -> Job:
    """Drop market history and activity older than the retention period."""

    async def clean() -> None:
        cutoff = container.clock.now() - timedelta(days=container.settings.retention_days)
        async with container.sessions() as session, session.begin():
            await session.execute(delete(MarketSnapshot).where(MarketSnapshot.observed_at < cutoff))
            await session.execute(delete(Activity).where(Activity.at < cutoff))

    return Job("cleanup", 3600.0, clean)


def started_job(container: Container) -> Job:
    """Resolve alerts whose event has started (see `core.alerts.resolve_started`)."""

    async def resolve() -> None:
        total = 0
        while True:
            async with container.sessions() as session, session.begin():
                done = await resolve_started(session, container.clock.now())
            total += done
            if done < STARTED_BATCH:
                break
        if total:
            container.signal.notify()  # the edits and webhook events it queued
            logger.info("resolved %d alerts whose event has started", total)

    return Job("event-start", STARTED_S, resolve)


def wake_job(container: Container) -> Job:
    """Wake alerts whose time snooze ran out while no snapshot came (see core.revisit)."""

    async def wake() -> None:
        total = notified = 0
        while True:
            events, result = await container.ingest.exclusive(
                partial(wake_snoozed, engine=container.alerts, now=container.clock.now())
            )
            total, notified = total + events, notified + result.notifications
            if events < WAKE_BATCH:
                break
        if notified:
            container.signal.notify()
        if total:
            logger.info("snoozes over: %d events revisited, %d messages queued", total, notified)

    return Job("snooze-wake", WAKE_S, wake)


class Refresher(Protocol):
    async def refresh(self, session: AsyncSession) -> int: ...


def _sync_job(container: Container, name: str, sync: Refresher, news: str) -> Job:
    """A per-process job that runs `sync.refresh` (it returns how many things changed)."""

    async def refresh() -> None:
        async with container.sessions() as session:
            changed = await sync.refresh(session)
        if changed:
            logger.debug(news, changed)

    return Job(name, WATCH_SYNC_S, refresh, exclusive=False)


def watch_sync_job(container: Container) -> Job:
    """Pick up watches that other processes changed (see core.watch_sync)."""
    sync = WatchSync(container.alerts.index, since=datetime.now(UTC))
    return _sync_job(container, "watch-sync", sync, "watch index refreshed: %d changed watches")


def people_sync_job(container: Container) -> Job:
    """Forget cached people and endpoints that other processes changed (see core.sync)."""
    alerts = container.alerts
    sync = PeopleSync(alerts.person_changed, alerts.webhooks_changed, datetime.now(UTC))
    return _sync_job(container, "people-sync", sync, "people changed elsewhere: %d forgotten")


def escalation_jobs(container: Container) -> list[Job]:
    """The escalation tick (every second) and its auditor (every minute)."""
    import random

    from core.escalation import EscalationService
    from core.escalation_audit import audit_escalations
    from core.escalation_rules import EscalationConfig, Window

    s = container.settings

    def windows(text: str) -> tuple[Window, ...]:
        return tuple(Window(n, seconds) for n, seconds in throttle_windows(text))

    start, _, end = s.escalation_voice_hours.partition("-")
    config = EscalationConfig(
        presence_window_s=s.escalation_presence_window_s,
        min_wait_s=s.escalation_min_wait_s,
        sms_windows=windows(s.escalation_sms_throttle),
        voice_windows=windows(s.escalation_voice_throttle),
        daily_cap=s.escalation_daily_cap,
        voice_start=start,
        voice_end=end,
        public_url=s.public_url,
    )
    service = EscalationService(
        container.sessions, container.clock, config, container.signer,
        random.Random(container.rng.getrandbits(64)), container.metrics, container.signal,
    )  # fmt: skip

    async def audit() -> None:
        async with container.sessions() as session, session.begin():
            await audit_escalations(session, container.clock.now(), container.metrics)

    return [Job("escalation-tick", 1.0, service.tick), Job("escalation-auditor", 60.0, audit)]


def digest_job(container: Container) -> Job:
    """Merge due level-1 digest items into one message per person and destination, and
    the held messages beyond the few most important at the end of quiet hours."""

    async def compose() -> None:
        async with container.sessions() as session, session.begin():
            now = container.clock.now()
            queued = await compose_digests(session, now)
            queued += await compose_held(session, now, HELD_LEAD)
        if queued:
            container.signal.notify()
            logger.info("digests: %d queued", queued)

    return Job("digests", DIGEST_S, compose)


def learn_person(
    doc: Mapping[str, Any] | None, events: Sequence[Feedback]
) -> tuple[dict[str, Any], int]:
    """One person's stored model, updated with their new feedback in order (ml.learning)."""
    model = PersonModel.from_json(doc)
    for event in events:
        model.update(event.factors, event.outcome)
    return model.to_json(), model.count


def learn_job(container: Container) -> Job:
    """Per-person learning: feedback since the watermark -> `users.learned_weights`."""

    async def learn() -> None:
        async with container.sessions() as session, session.begin():
            report = await learn_from_feedback(session, container.clock.now(), learn_person)
        for user_id in report.user_ids:  # this process scores with the new weights at once
            container.alerts.person_changed(user_id)
        if report.user_ids:
            logger.info(
                "learn: %s from %d people, watermark %d",
                report.outcomes, len(report.user_ids), report.watermark,
            )  # fmt: skip

    return Job("learn", container.settings.learn_interval_s, learn)


def scheduled_jobs(
    container: Container, source: TicketSource | None, *, workers: bool = True
) -> list[Job]:
    """The jobs of this process: shared ones only where workers run, per-process always."""
    jobs = [watch_sync_job(container), people_sync_job(container)]
    if workers:
        jobs.append(cleanup_job(container))
        jobs.append(started_job(container))
        jobs.append(wake_job(container))
        jobs.append(digest_job(container))
        jobs.append(learn_job(container))
        jobs.extend(escalation_jobs(container))
        if source is not None:
            jobs.append(feed_job(container, source))
    return jobs
