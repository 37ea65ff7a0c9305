"""Writing the outcomes of sends: outbox rows, the audit timeline, and closed alerts.

`write_outcomes` runs inside one transaction per group of finished sends and keeps the
common path (a successful send) to a few bulk statements: each row gets its new status
and an audit entry. What a failure leads to — the wait for the end of quiet hours,
parking, endpoint and identity health, failover to the person's next chat channel — is
`core.delivery_lifecycle`, which also defines `Outcome` and `OutcomeKind`.

Messages that announce an alert as open (`announces_open`: new-alert messages and
re-notifications, escalation steps and reminders; not the in-place edits that announce a
change, nor webhook events, an ordered log of every change) are never sent, retried,
parked or failed over once the alert is acknowledged, snoozed or resolved: a claimed row
of such an alert is cancelled unsent (`withdrawals`), and a failure recorded after the
change ends the row `cancelled` (a retryable one) or without failover (a permanent one).
The alert's row is read `FOR SHARE` after the outcome is written, so an acknowledgement
committing meanwhile either sees the row already pending (and cancels it) or is seen here.
A message sent while the change was being committed was still `sending` when
`core.announce` looked for messages to edit: its edit is queued here (`announce.edit_late`),
as is that of an acknowledged alert's message that it rose to critical (`tells_acked_rise`)
sent while the alert was resolved or snoozed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.announce import edit_late
from core.db.models import Alert, AuditEntry, Event, Notification
from core.delivery_lifecycle import (
    Outcome,
    OutcomeKind,
    after_failure,
    after_quiet_hours,
    announces_open,
    audit_entry,
    park,
    park_until,
    parked_audit,
    quiet_note,
    tells_acked_rise,
    update_endpoints,
)
from core.digest import prune_summaries, summary_alert_ids
from core.domain import CHAT_CHANNELS, AlertStatus, NotificationStatus
from core.outbox import DELAYED, RowUpdate, apply_updates, receipt_json

_OPEN = AlertStatus.OPEN.value
_ACKNOWLEDGED = AlertStatus.ACKNOWLEDGED.value
_WITHDRAWABLE = (NotificationStatus.PENDING.value, NotificationStatus.DEAD.value)


@dataclass(frozen=True, slots=True)
class Written:
    """Rows whose outcome turned out other than their kind says, by notification id."""

    parked: frozenset[int] = frozenset()
    cancelled: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class _AlertState:
    status: str
    price: float | None
    starts_at: datetime | None  # its event's start now; None: the event is gone


def _closed(states: dict[int, _AlertState]) -> dict[int, str]:
    return {alert_id: s.status for alert_id, s in states.items() if s.status != _OPEN}


async def _alert_states(
    session: AsyncSession, rows: Iterable[Notification], *, lock: bool, also: Collection[int]
) -> dict[int, _AlertState]:
    """The status, current price and event start of each alert `rows` show as wanting
    action (`_shows_live`), and of the alerts `also`.

    With `lock`, the alerts (not their events) are read `FOR SHARE` on PostgreSQL: a state
    change committing meanwhile waits for the caller's transaction, or is waited for and
    seen.
    """
    wanted = {row.alert_id for row in rows if row.alert_id is not None and _shows_live(row)}
    ids = sorted(wanted.union(also))
    if not ids:
        return {}
    stmt = (
        select(Alert.id, Alert.status, Alert.price, Event.starts_at)
        .outerjoin(Event, Event.id == Alert.event_id)
        .where(Alert.id.in_(ids))
        .order_by(Alert.id)
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True, of=Alert)
    return {
        alert_id: _AlertState(status, price, starts_at)
        for alert_id, status, price, starts_at in await session.execute(stmt)
    }


async def withdrawals(
    session: AsyncSession, rows: Sequence[Notification], now: datetime
) -> tuple[list[Outcome], dict[int, float | None]]:
    """`cancelled` outcomes for the just-claimed `rows` whose alert is no longer open,
    and the current price of each open alert they announce (for `core.outbox.late_note`).

    A row can be pending after its alert changed although the change cancelled every
    pending message: it was being sent then, and came back (a release, a lease that
    expired). Call in the claim's transaction, after the claim. Claimed digest summaries
    lose the items whose alert closed meanwhile (one read for both), and are withdrawn
    when none is left.
    """
    states = await _alert_states(session, rows, lock=False, also=summary_alert_ids(rows))
    closed = _closed(states)
    prices = {alert_id: s.price for alert_id, s in states.items() if s.status == _OPEN}
    out = [
        _cancelled(row, now, row.attempts, closed[row.alert_id], None)
        for row in rows
        if row.alert_id in closed and announces_open(row)
    ]
    for row in prune_summaries(rows, closed):  # the others now list open alerts only
        why = "every alert in it was acknowledged, snoozed or resolved"
        out.append(Outcome(row, OutcomeKind.CANCELLED, now, row.attempts, error=why))
    return out, prices


def _cancelled(
    row: Notification, at: datetime, attempts: int, status: str, error: str | None
) -> Outcome:
    why = f"alert {status}" + (f"; last error: {error}" if error else "")
    return Outcome(row, OutcomeKind.CANCELLED, at, attempts, error=why)


def _row_update(o: Outcome) -> RowUpdate:
    row = o.row
    if o.kind is OutcomeKind.SENT:
        receipt = receipt_json(o.receipt) if o.receipt is not None else None
        return RowUpdate(
            row.id, NotificationStatus.SENT, o.attempts, row.due_at, None, receipt, o.at
        )
    if o.kind is OutcomeKind.RETRY:
        return RowUpdate(row.id, NotificationStatus.PENDING, o.attempts, o.due_at or o.at, o.error)
    if o.kind is OutcomeKind.RELEASE:
        return RowUpdate(
            row.id, NotificationStatus.PENDING, row.attempts, o.due_at or row.due_at, row.last_error
        )
    if o.kind is OutcomeKind.CANCELLED:
        return RowUpdate(row.id, NotificationStatus.CANCELLED, o.attempts, row.due_at, o.error)
    status = NotificationStatus.DEAD if o.kind is OutcomeKind.DEAD else NotificationStatus.FAILED
    return RowUpdate(row.id, status, o.attempts, row.due_at, o.error)


def _outcome_audit(o: Outcome) -> dict[str, Any]:
    channel = o.row.channel
    if o.kind is OutcomeKind.SENT:
        message_id = o.receipt.message_id if o.receipt else None
        return audit_entry(o, "sent", f"sent via {channel}", message_id=message_id)
    if o.kind is OutcomeKind.RETRY:
        when = (o.due_at.isoformat() if o.due_at else "now") + quiet_note(o)
        return audit_entry(
            o, "delivery_retry", f"{channel} send failed, retry at {when}: {o.error}"
        )
    if o.kind is OutcomeKind.CANCELLED:
        return audit_entry(o, "delivery_cancelled", f"{channel} message withdrawn: {o.error}")
    if o.kind is OutcomeKind.DEAD:
        return audit_entry(o, "delivery_dead", f"{channel} gave up after {o.attempts}: {o.error}")
    if o.kind is OutcomeKind.GONE:
        return audit_entry(o, "recipient_gone", f"{channel} recipient gone: {o.error}")
    return audit_entry(o, "delivery_failed", f"{channel} permanent failure: {o.error}")


async def write_outcomes(
    session: AsyncSession,
    worker_id: str,
    outcomes: Sequence[Outcome],
    available_channels: Collection[str],
) -> Written:
    """Record `outcomes` of rows claimed by `worker_id`, inside the caller's transaction.

    Sent rows get their receipt and a "sent" audit entry; failures their error and
    audit entry; webhook endpoints their failure count (disabled when the recipient is
    gone); chat identities that are gone are marked unreachable; failed and dead chat
    rows fail over to the person's next chat channel among `available_channels`; dead
    rows with nowhere to go are parked until their event starts, as the events table has
    it now (read with the alerts). A message announcing an alert that is no longer open
    is neither retried, parked nor failed over, and one sent meanwhile gets its edit
    queued (see the module doc).

    Returns:
        The rows parked, and the rows cancelled because their alert is no longer open.
    """
    outcomes = await after_quiet_hours(session, outcomes)
    # Written first: on SQLite the write takes the database's lock, so the alerts read
    # next cannot change before this transaction commits (on PostgreSQL, `FOR SHARE`).
    await apply_updates(session, worker_id, [_row_update(o) for o in outcomes])
    done = [o for o in outcomes if o.kind is not OutcomeKind.RELEASE]
    dead = {o.row.alert_id for o in done if o.kind is OutcomeKind.DEAD and o.row.alert_id}
    states = await _alert_states(
        session, (o.row for o in done if o.kind is not OutcomeKind.CANCELLED), lock=True, also=dead
    )
    closed = _closed(states)
    if closed:
        done = await _withdraw_failures(session, done, closed)
        await _edit_late_sends(session, done, closed)
    await update_endpoints(session, done)
    follow: list[dict[str, Any]] = []
    parked: dict[int, datetime] = {}
    audits: list[dict[str, Any]] = []
    for o in done:
        if o.kind not in (OutcomeKind.FAILED, OutcomeKind.GONE, OutcomeKind.DEAD):
            audits.append(_outcome_audit(o))
            continue
        withdrawn = closed.get(o.row.alert_id or 0) if announces_open(o.row) else None
        entries, moved = await after_failure(session, o, available_channels, withdrawn)
        state = states.get(o.row.alert_id or 0)
        until = None if moved else park_until(o, state.starts_at if state else None)
        if until is None:
            audits.append(_outcome_audit(o))
        else:
            await park(session, o)
            parked[o.row.id] = until
            if not (o.row.payload or {}).get(DELAYED):  # parked before: said once is enough
                audits.append(parked_audit(o, until))
            else:
                entries = [e for e in entries if e["kind"] != "failover"]
        follow.extend(entries)
    audits.extend(follow)
    if audits:
        await session.execute(insert(AuditEntry), audits)
    cancelled = frozenset(o.row.id for o in done if o.kind is OutcomeKind.CANCELLED)
    return Written(frozenset(parked), cancelled)


async def _withdraw_failures(
    session: AsyncSession, outcomes: list[Outcome], closed: dict[int, str]
) -> list[Outcome]:
    """Retryable failures of messages whose alert closed become `cancelled` outcomes."""
    out: list[Outcome] = []
    for o in outcomes:
        status = closed.get(o.row.alert_id or 0)
        if (
            status is None
            or o.kind not in (OutcomeKind.RETRY, OutcomeKind.DEAD)
            or not announces_open(o.row)
        ):
            out.append(o)
            continue
        withdrawn = _cancelled(o.row, o.at, o.attempts, status, o.error)
        # Written above as pending (a retry) or dead; a row another worker took over
        # meanwhile is `sending` and left alone (its own outcome will cancel it).
        await session.execute(
            update(Notification)
            .where(
                Notification.id == o.row.id,
                Notification.status.in_(_WITHDRAWABLE),
            )
            .values(status=NotificationStatus.CANCELLED.value, last_error=withdrawn.error)
            .execution_options(synchronize_session=False)
        )
        out.append(withdrawn)
    return out


async def _edit_late_sends(
    session: AsyncSession, outcomes: Sequence[Outcome], closed: dict[int, str]
) -> None:
    """Queue the edit of chat messages sent while their alert was changing."""
    sent = [
        (o.row.id, o.row.alert_id, o.row.channel, o.row.address, receipt_json(o.receipt))
        for o in outcomes
        if o.kind is OutcomeKind.SENT
        and o.receipt is not None
        and o.receipt.message_id
        and o.row.alert_id in closed
        and o.row.channel in CHAT_CHANNELS
        and _outdated(o.row, closed[o.row.alert_id])
    ]
    if sent:
        await edit_late(session, sent, max(o.at for o in outcomes))


def _shows_live(row: Notification) -> bool:
    """Whether `row`'s message shows its alert as wanting action, buttons and all."""
    return announces_open(row) or tells_acked_rise(row)


def _outdated(row: Notification, status: str) -> bool:
    """Whether a sent `row` shows its alert otherwise than it now is (`status`, not open):
    an acknowledged alert's rise to critical is outdated once the alert is more than
    acknowledged (resolved, snoozed...)."""
    if tells_acked_rise(row):
        return status != _ACKNOWLEDGED
    return announces_open(row)
