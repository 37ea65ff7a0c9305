"""The alert engine's working set for one batch, and its few bulk reads and writes.

Active alerts are read as plain rows into `ActiveAlert` (no ORM identity map) and
written back with one executemany per statement shape: re-scoring touches many alerts
per snapshot, and this keeps that to a handful of round trips per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy import RowMapping, Select, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import ACTIVE_ALERT_STATUSES
from core.db.statements import bulk_update_values, insert_returning
from core.db.tables import ALERTS, WATCHES
from core.delivery_plan import Recipient, WebhookTarget
from core.domain import MarketPoint, Match, Score, StoredSnapshot, WatchSpec
from core.engine_support import WatchInfo
from core.factors import MarketContext
from core.planning import RecentResolve
from core.ports import Forecast
from core.scoring import EventFactors

CHUNK = 500
# Update shapes, each written with one executemany: the score alone, the whole state,
# and the state with a fresh explanation (factors, prediction, recommendation). The
# frozen escalation policy is written on its own, only when a round froze a new one: it
# is never read back whole (only its level), so re-scores neither parse nor rewrite it.
_SCORE = ("score", "level", "price", "reason", "updated_at")  # the reason quotes the price
_STATE_COLUMNS = (
    *_SCORE,
    "status",
    "resolved_at",
    "snoozed_until",
    "snooze_below",
    "clear_since",
    "last_notified_at",
    "last_notified_price",
    "step",
    "next_step_at",
    "fence",
)
_EXPLAIN = (*_STATE_COLUMNS, "factors", "prediction", "recommendation")
CLEAN, SCORE, STATE, EXPLAIN = 0, 1, 2, 3
_SHAPES = ((SCORE, _SCORE), (STATE, _STATE_COLUMNS), (EXPLAIN, _EXPLAIN))


def level_told(frozen: object, level: int) -> int:
    """The level a person was last told of an alert: that of its escalation round (the
    level its policy was frozen for), else its own."""
    return frozen if isinstance(frozen, int) else level


@dataclass(slots=True)
class ActiveAlert:
    """An open, acknowledged or snoozed alert (or one opened in this batch)."""

    id: int | None
    dedup_key: str
    watch_id: int
    user_id: int
    event_id: int
    kind: str
    score: float
    level: int
    price: float | None
    status: str
    reason: str | None
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    snoozed_until: datetime | None = None
    snooze_below: float | None = None
    clear_since: datetime | None = None
    last_notified_at: datetime | None = None
    last_notified_price: float | None = None
    frozen_level: int | None = None  # the level its escalation policy was frozen for
    step: int = 0
    next_step_at: datetime | None = None
    fence: int = 0
    acked_via: str | None = None
    factors: list[Any] | None = None
    prediction: dict[str, Any] | None = None
    recommendation: dict[str, Any] | None = None
    escalation: dict[str, Any] | None = None  # set when a round freezes a new policy
    dirty: int = CLEAN

    @property
    def told_level(self) -> int:
        """The level its person was last told (`level_told`)."""
        return level_told(self.frozen_level, self.level)

    def mark(self, shape: int) -> None:
        """Note what must be written: SCORE < STATE < EXPLAIN (the widest wins)."""
        self.dirty = max(self.dirty, shape)

    def freeze_policy(self, snapshot: dict[str, Any]) -> None:
        """Adopt a newly frozen escalation policy (written by `write_alerts`)."""
        self.escalation = snapshot
        level = snapshot.get("level")
        self.frozen_level = level if isinstance(level, int) else None
        self.mark(STATE)


# The columns read back (every field but the explanation, the policy and the dirty mark),
# in order; `frozen_level` is read out of the stored policy by the database.
_LOADED = tuple(
    f.name
    for f in fields(ActiveAlert)
    if f.name not in ("factors", "prediction", "recommendation", "escalation", "dirty")
)
_READ = {"frozen_level": ALERTS.c.escalation["level"].as_integer()}


@dataclass(slots=True)
class Snap:
    """One live snapshot with its 24 h high, the matches it produced and the point its
    ticket drain is measured against (`MarketHistory.reference`)."""

    stored: StoredSnapshot
    high: float | None
    matches: list[Match]
    previous_high: float | None = None
    reference: MarketPoint | None = None


@dataclass(slots=True)
class Round:
    """One notification round of one alert: decided first, written after the inserts.

    `price` and `headline` are what the message shows, from the same snapshot as `snap`
    and `score` (the alert itself may move on within the batch). When one person hears
    about one event through several alerts in a batch, one round tells it (`also`: the
    rounds it answers too) and the others are `covered_by` its alert (`merge_rounds`;
    the alert, not the round, so that rounds form no reference cycle).
    """

    alert: ActiveAlert
    event_type: str
    snap: Snap
    score: Score
    person: Recipient
    price: float | None
    headline: str
    audit: list[tuple[str, str]] = field(default_factory=list)
    fence: int = 0
    covered_by: ActiveAlert | None = None
    also: tuple[Round, ...] = ()


@dataclass(slots=True)
class Batch:
    """Working state of one `AlertEngine.process` call."""

    now: datetime
    snaps: list[Snap]
    by_key: dict[str, ActiveAlert] = field(default_factory=dict)
    by_event: dict[int, list[ActiveAlert]] = field(default_factory=dict)
    specs: dict[int, WatchSpec] = field(default_factory=dict)
    info: dict[int, WatchInfo] = field(default_factory=dict)
    recent: dict[str, RecentResolve] = field(default_factory=dict)
    people: dict[int, Recipient] = field(default_factory=dict)
    forecasts: dict[int, Forecast] = field(default_factory=dict)
    forecast_dicts: dict[int, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    endpoints: tuple[WebhookTarget, ...] = ()
    # The market context and factors of a (snapshot id, tickets left, 24 h high): shared.
    shared: dict[tuple[int, int | None, float | None], tuple[MarketContext, EventFactors]] = field(
        default_factory=dict
    )
    rounds: list[Round] = field(default_factory=list)
    pending: dict[int, Round] = field(default_factory=dict)  # id(alert) -> its latest round
    new_alerts: list[ActiveAlert] = field(default_factory=list)
    resolves: list[tuple[ActiveAlert, str]] = field(default_factory=list)
    renotified: list[int] = field(default_factory=list)
    audits: list[tuple[ActiveAlert, str, str]] = field(default_factory=list)
    updated: int = 0

    def add_active(self, alert: ActiveAlert) -> None:
        self.by_key[alert.dedup_key] = alert
        self.by_event.setdefault(alert.event_id, []).append(alert)

    def drop_active(self, alert: ActiveAlert) -> None:
        self.by_key.pop(alert.dedup_key, None)
        alerts = self.by_event.get(alert.event_id, [])
        if alert in alerts:
            alerts.remove(alert)


async def load_active(session: AsyncSession, batch: Batch, event_ids: Iterable[int]) -> None:
    """Read every active alert of `event_ids` (one query per 500 events).

    On PostgreSQL the rows are locked (in id order) until the ingest transaction
    commits, so a concurrent acknowledge waits for the engine instead of being
    overwritten by it; SQLite has one writer at a time anyway.
    """
    ids = sorted(set(event_ids))
    columns = [_READ[name] if name in _READ else ALERTS.c[name] for name in _LOADED]
    lock = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(ids), CHUNK):
        query = (
            select(*columns)
            .where(
                ALERTS.c.event_id.in_(ids[start : start + CHUNK]),
                ALERTS.c.status.in_(ACTIVE_ALERT_STATUSES),
            )
            .order_by(ALERTS.c.id)
        )
        rows = await session.execute(query.with_for_update() if lock else query)
        for row in rows:
            batch.add_active(ActiveAlert(*row))


async def _by_ids(
    session: AsyncSession, query: Select[Any], table: Table, ids: Iterable[int]
) -> list[Any]:
    """The rows of `query` whose `table.id` is in `ids` (one query per 500 ids)."""
    wanted = sorted(set(ids))
    out: list[Any] = []
    for start in range(0, len(wanted), CHUNK):
        part = wanted[start : start + CHUNK]
        out.extend(await session.execute(query.where(table.c.id.in_(part))))
    return out


async def load_explanations(session: AsyncSession, alerts: list[ActiveAlert]) -> None:
    """Fill in the factors, prediction and recommendation of `alerts` (stored ones)."""
    by_id = {a.id: a for a in alerts if a.id is not None}
    query = select(ALERTS.c.id, ALERTS.c.factors, ALERTS.c.prediction, ALERTS.c.recommendation)
    for alert_id, factors, prediction, recommendation in await _by_ids(
        session, query, ALERTS, by_id
    ):
        alert = by_id[alert_id]
        alert.factors, alert.prediction = factors or [], prediction
        alert.recommendation = recommendation


async def load_stamps(session: AsyncSession, watch_ids: Iterable[int]) -> dict[int, datetime]:
    """Each existing watch's `updated_at` by id (one query per 500 ids)."""
    query = select(WATCHES.c.id, WATCHES.c.updated_at)
    return {watch_id: at for watch_id, at in await _by_ids(session, query, WATCHES, watch_ids)}


async def load_watches(session: AsyncSession, watch_ids: Iterable[int]) -> list[RowMapping]:
    """Read watch rows by id as plain mappings (one query per 500 ids)."""
    return [row._mapping for row in await _by_ids(session, select(WATCHES), WATCHES, watch_ids)]


async def load_recent(
    session: AsyncSession, batch: Batch, keys: dict[str, int], longest_s: int
) -> None:
    """The latest resolve of each dedup key (key -> event id) within `longest_s`, with the
    level it last told (its frozen policy's, else its own)."""
    names = sorted(keys)
    events = sorted(set(keys.values()))
    cutoff = batch.now - timedelta(seconds=longest_s)
    for start in range(0, len(names), CHUNK):
        rows = await session.execute(
            select(
                ALERTS.c.dedup_key,
                ALERTS.c.resolved_at,
                ALERTS.c.last_notified_price,
                ALERTS.c.level,
                _READ["frozen_level"],
            ).where(
                ALERTS.c.event_id.in_(events),
                ALERTS.c.dedup_key.in_(names[start : start + CHUNK]),
                ALERTS.c.status.in_(("resolved", "expired")),
                ALERTS.c.resolved_at >= cutoff,
            )
        )
        for key, resolved_at, price, level, frozen in rows:
            known = batch.recent.get(key)
            if known is None or known.resolved_at < resolved_at:
                batch.recent[key] = RecentResolve(resolved_at, price, level_told(frozen, level))


# The (id, *columns) values of an alert, per update shape and for the frozen policy.
_GETTERS = {shape: attrgetter("id", *columns) for shape, columns in _SHAPES}
_POLICY = ("escalation",)


async def write_alerts(session: AsyncSession, batch: Batch) -> None:
    """Write changed active alerts and insert new ones (their ids are set).

    Only the updates that free a dedup key opened again in this batch (a resolve and a
    re-open of the same key) must reach the database before the inserts; the statements
    run in the order they are sent, so those are sent first and the rest after the
    inserts, without waiting for them (the caller settles the session before commit):
    SQLite writes them while the engine builds the outbox rows.
    """
    changed = [a for alerts in batch.by_event.values() for a in alerts if a.id is not None]
    changed += [a for a, _ in batch.resolves if a.id is not None]
    reopened = {a.dedup_key for a in batch.new_alerts}
    await _update_alerts(session, [a for a in changed if a.dedup_key in reopened])
    if batch.new_alerts:
        await insert_alerts(session, batch.new_alerts)
    await _update_alerts(session, [a for a in changed if a.dedup_key not in reopened])


async def _update_alerts(session: AsyncSession, alerts: list[ActiveAlert]) -> None:
    """Send the alerts' changes, one executemany per shape, without waiting for them."""
    for shape, columns in _SHAPES:
        get = _GETTERS[shape]
        rows = [get(a) for a in alerts if a.dirty == shape]
        await bulk_update_values(session, ALERTS, "id", columns, rows, wait=False)
    policies = [(a.id, a.escalation) for a in alerts if a.escalation]
    await bulk_update_values(session, ALERTS, "id", _POLICY, policies, wait=False)


# Ids come back with their dedup keys, so the rows need no particular order and the
# INSERT is sent as multi-row VALUES. Asking for parameter order instead makes SQLite
# (no ordered form there) fall back to one INSERT, and one thread hop, per alert.
_KEYED = ("dedup_key", "id")
_INSERT_ORDERED = insert(ALERTS).returning(ALERTS.c.id, sort_by_parameter_order=True)
_NEW_COLUMNS = (
    *(name for name in _LOADED[1:] if name != "frozen_level"),
    *_EXPLAIN[-3:],
    "escalation",
)


async def insert_alerts(session: AsyncSession, alerts: list[ActiveAlert]) -> None:
    """Insert new alerts and set their ids (one statement when their dedup keys differ)."""
    rows = [{name: getattr(a, name) for name in _NEW_COLUMNS} for a in alerts]
    keys = {a.dedup_key for a in alerts}
    if len(keys) == len(alerts):  # always for active alerts: the unique index says so
        ids: dict[str, int] = {
            key: new_id for key, new_id in await insert_returning(session, ALERTS, rows, _KEYED)
        }
        for alert in alerts:
            alert.id = ids[alert.dedup_key]
        return
    result = await session.execute(_INSERT_ORDERED, rows)
    for alert, new_id in zip(alerts, result.scalars(), strict=True):
        alert.id = new_id
