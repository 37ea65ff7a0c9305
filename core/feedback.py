"""Feedback for per-person learning, read from the alert timeline (`audit_log`).

Every response a person gives to one of their alerts is already an audit entry written
by `core.alerts` (acknowledged, snoozed, muted, bought; "clicked" once a link button is
recorded), and every alert that ends without one is too ("resolved" by the engine or an
admin; "expired"). `learn_from_feedback` turns the entries after a durable watermark
into `Feedback` (the alert's factor values and an outcome), hands each person's events
to an injected learner (bot wires `ml.learning.PersonModel`) and stores what it returns
in `users.learned_weights` / `users.feedback_count` — in the caller's transaction,
together with the new watermark, so a crash or a rerun never counts an entry twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Alert, AuditEntry, JobWatermark, Notification, User, Watch
from core.db.statements import insert_skipping
from core.domain import ChannelKind, NotificationStatus
from core.render import factors_from_dicts
from core.reschedule import MOVED_KIND

LEARN_JOB = "learn"
# audit_log kind -> outcome: a person's response to their alert.
RESPONSES: Mapping[str, str] = {
    "acknowledged": "acknowledged",
    "bought": "bought",
    "clicked": "clicked",
    "snoozed": "snoozed",
    "muted": "muted",
}
# audit_log kinds that end an alert; "ignored" when the person saw it and never responded.
ENDINGS = frozenset({"resolved", "expired"})
IGNORED = "ignored"
# Entries younger than this are left for the next run: an id below the newest one read
# may belong to a transaction that has not committed yet (PostgreSQL sequences).
SETTLE_S = 60.0
BATCH = 5000
_SHOWN = (NotificationStatus.SENT.value, NotificationStatus.DELIVERED.value)


def outcome_for(kind: str, *, responded: bool, shown: bool) -> str | None:
    """The learning outcome of one audit entry, or None when it is no feedback.

    Args:
        kind: the audit entry's kind.
        responded: for an ending: whether the person responded to the alert before it.
        shown: for an ending: whether a message about the alert reached the person.
    """
    if kind in RESPONSES:
        return RESPONSES[kind]
    if kind in ENDINGS and shown and not responded:
        return IGNORED
    return None


def factor_values(raw: Sequence[Mapping[str, Any]] | None) -> dict[str, float]:
    """Factor values by name from `alerts.factors` JSON; malformed entries are skipped."""
    return {factor.name: factor.value for factor in factors_from_dicts(raw)}


@dataclass(frozen=True, slots=True)
class Feedback:
    """One person's response to one alert (or its absence), with the alert's factors."""

    audit_id: int
    user_id: int
    alert_id: int
    outcome: str
    factors: Mapping[str, float]


# (stored learned_weights, the person's new events in order) -> (new document, count).
PersonLearner = Callable[[Mapping[str, Any] | None, Sequence[Feedback]], tuple[dict[str, Any], int]]


@dataclass(slots=True)
class LearnReport:
    """What one run did: entries read, feedback by outcome, people updated, watermark."""

    read: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    user_ids: list[int] = field(default_factory=list)
    watermark: int = 0


async def _watermark(session: AsyncSession, now: datetime) -> JobWatermark:
    """The job's watermark row, locked for this transaction (created on first use).

    Created with ON CONFLICT DO NOTHING, so two processes starting at once both get it.
    """
    table = cast(Table, JobWatermark.__table__)
    await session.execute(
        insert_skipping(session, table, ("name",)).values(name=LEARN_JOB, last_id=0, updated_at=now)
    )
    stmt = select(JobWatermark).where(JobWatermark.name == LEARN_JOB).with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()


async def read_feedback(
    session: AsyncSession, after_id: int, upto_id: int, limit: int = BATCH
) -> tuple[list[Feedback], int, int]:
    """Feedback from the audit entries with `after_id < id <= upto_id`, oldest first.

    Alerts of group watches are left out: anyone in the group may have pressed the
    button, so it says nothing about the watch's owner. So are answers that only followed
    another alert's (a sibling about the same event, `core.alerts.apply_action`): one
    answer is one piece of feedback. Such an alert still counts as responded to.

    Returns:
        The feedback, the number of relevant entries read and the id read up to
        (`upto_id` unless `limit` cut the read short).
    """
    kinds = sorted(set(RESPONSES) | ENDINGS)
    earlier = AuditEntry.__table__.alias("earlier")
    responded = exists().where(
        earlier.c.alert_id == AuditEntry.alert_id,
        earlier.c.id < AuditEntry.id,
        earlier.c.kind.in_(sorted(RESPONSES)),
    )
    shown = exists().where(
        Notification.alert_id == Alert.id,
        Notification.user_id == Alert.user_id,
        Notification.status.in_(_SHOWN),
        Notification.channel != ChannelKind.WEBHOOK.value,
        Notification.kind != MOVED_KIND,  # news of the event, not the alert shown
    )
    stmt = (
        select(
            AuditEntry.id,
            AuditEntry.kind,
            AuditEntry.data,
            Alert.id,
            Alert.user_id,
            Alert.factors,
            responded.label("responded"),
            shown.label("shown"),
        )
        .join(Alert, Alert.id == AuditEntry.alert_id)
        .join(Watch, Watch.id == Alert.watch_id)
        .where(
            AuditEntry.id > after_id,
            AuditEntry.id <= upto_id,
            AuditEntry.kind.in_(kinds),
            Watch.destination_address.is_(None),
        )
        .order_by(AuditEntry.id)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    out = []
    for audit_id, kind, data, alert_id, user_id, factors, was_responded, was_shown in rows:
        if isinstance(data, dict) and data.get("follows") is not None:
            continue
        outcome = outcome_for(kind, responded=bool(was_responded), shown=bool(was_shown))
        if outcome is not None:
            out.append(Feedback(audit_id, user_id, alert_id, outcome, factor_values(factors)))
    reached = rows[-1][0] if len(rows) >= limit else upto_id
    return out, len(rows), reached


async def learn_from_feedback(
    session: AsyncSession,
    now: datetime,
    learner: PersonLearner,
    *,
    settle_s: float = SETTLE_S,
    limit: int = BATCH,
) -> LearnReport:
    """Learn from the feedback since the watermark; run inside the caller's transaction.

    The watermark row is locked (`FOR UPDATE` on PostgreSQL) for the transaction, so two
    processes never read the same entries; the weights and the new watermark commit
    together.

    Args:
        session: a session inside a transaction; the caller commits.
        now: the current time; entries newer than `now - settle_s` wait for the next run.
        learner: updates one person's stored document with their new events, in order.
        settle_s: how old an entry must be before it is read.
        limit: at most this many relevant entries per run.

    Returns:
        What was read and who was updated.
    """
    mark = await _watermark(session, now)
    cutoff = now - timedelta(seconds=settle_s)
    upto = await session.scalar(
        select(func.max(AuditEntry.id)).where(AuditEntry.id > mark.last_id, AuditEntry.at <= cutoff)
    )
    report = LearnReport(watermark=mark.last_id)
    if upto is None:
        return report
    events, report.read, reached = await read_feedback(session, mark.last_id, upto, limit)
    by_person: dict[int, list[Feedback]] = {}
    for event in events:
        by_person.setdefault(event.user_id, []).append(event)
        report.outcomes[event.outcome] = report.outcomes.get(event.outcome, 0) + 1
    if by_person:
        stored = await session.execute(
            select(User.id, User.learned_weights).where(User.id.in_(sorted(by_person)))
        )
        for user_id, doc in stored.all():
            learned, count = learner(doc, by_person[user_id])
            # Only these two columns: a concurrent `quiet` or `tz` keeps its change.
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(learned_weights=learned, feedback_count=count, settings_changed_at=now)
            )
            report.user_ids.append(user_id)
    mark.last_id, mark.updated_at = reached, now
    report.watermark = reached
    return report
