"""Telling people an alert changed: edit earlier messages, notify webhooks, audit.

After a state change (`core.alerts`), `announce` cancels the alert's pending chat
messages, enqueues one "update" notification per earlier sent chat message with a
receipt (`payload.edit_of` = that receipt, so the message is edited in place), one per
subscribed webhook, and an audit entry (its data: the event type, fence and note). Runs
in the caller's transaction.

A message being sent while the change commits is not `sent` yet, so `announce` cannot
edit it; delivery calls `edit_late` when it records that send, which queues the same edit
from the alert's last announced change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Update

from core.alert_payload import (
    AnnouncedAlert,
    Known,
)
from core.announce_rows import Change, advice_markets, announce_context, change_rows
from core.db.models import (
    ACTIVE_ALERT_STATUSES,
    Alert,
    AuditEntry,
    Notification,
    Watch,
)
from core.db.statements import bulk_insert, defer_statement, insert_skipping
from core.db.tables import AUDIT_LOG, NOTIFICATIONS
from core.delivery_plan import WebhookTarget, webhook_targets
from core.domain import CHAT_CHANNELS, AlertStatus, ChannelKind, EventRef, NotificationStatus
from core.recipients import load_webhooks
from core.render import OtherAlert, other_alerts_text
from core.reschedule import MOVED_KIND
from core.siblings import open_alerts_by_place

SENT_STATUSES = (NotificationStatus.SENT.value, NotificationStatus.DELIVERED.value)
_SUPERSEDED = NOTIFICATIONS.alias("superseded")
_CHUNK = 500


async def cancel_pending(
    session: AsyncSession, alert_ids: Sequence[int], *, wait: bool = True
) -> None:
    """Cancel the alerts' pending chat and digest messages; webhook events stay queued.

    Webhook events are a log a receiver may rely on in order, so they are not withdrawn.
    `wait=False` sends the update without waiting for it on SQLite (the caller settles
    the session before committing: `core.db.statements.settle`).
    """
    ids = sorted(set(alert_ids))
    for start in range(0, len(ids), _CHUNK):
        statement = superseding(ids[start : start + _CHUNK])
        if wait:
            await session.execute(statement)
        else:
            await defer_statement(session, statement)


def superseding(alert_ids: Sequence[int]) -> Update:
    """The UPDATE that cancels the pending chat and digest messages of `alert_ids`.

    The rows are found by alert id (the subquery) on every backend: SQLite would
    otherwise read every pending row of the outbox through its status indexes, which
    `|| ''` keeps it from using.
    """
    return (
        update(NOTIFICATIONS)
        .where(
            NOTIFICATIONS.c.id.in_(
                select(_SUPERSEDED.c.id).where(_SUPERSEDED.c.alert_id.in_(alert_ids))
            ),
            NOTIFICATIONS.c.status + "" == NotificationStatus.PENDING.value,
            NOTIFICATIONS.c.channel != ChannelKind.WEBHOOK.value,
            NOTIFICATIONS.c.kind != MOVED_KIND,  # news of the event, not of the alert
        )
        .values(status=NotificationStatus.CANCELLED.value, last_error="superseded")
    )


async def announce(
    session: AsyncSession,
    changes: Sequence[Change],
    now: datetime,
    endpoints: Sequence[WebhookTarget] | None,
    links: Mapping[int, Mapping[str, str]] | None = None,
    known: Known | None = None,
    explain: Callable[[list[int]], Awaitable[None]] | None = None,
) -> int:
    """Cancel pending sends, edit earlier messages, tell webhooks, audit. Returns rows queued.

    `explain`, if given, is awaited with the ids of the alerts that get a message (an
    edit or a webhook event), before those messages are rendered: the engine fills in
    the explanations it did not hold, for those alerts only.
    """
    if not changes:
        return 0
    changes = [c for c in changes if c.alert.id is not None]  # stored alerts only
    alerts = {c.alert.id: c.alert for c in changes}
    ids = [alert_id for alert_id in alerts if alert_id is not None]
    await cancel_pending(session, ids)
    sent = (
        await session.execute(
            select(
                Notification.id,
                Notification.alert_id,
                Notification.channel,
                Notification.address,
                Notification.receipt,
            )
            .where(
                Notification.alert_id.in_(ids),
                Notification.status.in_(SENT_STATUSES),
                Notification.channel.in_(sorted(c.value for c in CHAT_CHANNELS)),
                Notification.kind.not_in(("digest", MOVED_KIND)),  # moved: the event's news
            )
            .order_by(Notification.id)
        )
    ).all()
    events, watches, zones, currencies = await announce_context(session, alerts.values(), known)
    if endpoints is None:
        endpoints = await load_webhooks(session)
    edits = _edits(sent)
    # Each change that is announced: its event, the messages to edit and the webhooks.
    plans: list[tuple[Change, EventRef, list[tuple[int, str, str, Any]], list[WebhookTarget]]]
    plans = []
    for change in changes:
        alert_id, event = change.alert.id, events.get(change.alert.event_id)
        if event is None or alert_id is None:
            continue
        hooks = webhook_targets(endpoints, change.alert.user_id, change.event_type)
        plans.append((change, event, edits.get(alert_id, []), hooks))
    ended = [
        c.alert for c, _, mine, _ in plans if mine and c.alert.status not in ACTIVE_ALERT_STATUSES
    ]
    if ended:  # an edit that says "resolved" names the person's alerts still open
        still = await _still_open(session, ended, alerts.keys())
        plans = [
            (replace(c, note=f"{c.note}\n{still[c.alert.id]}"), e, mine, hooks)
            if c.alert.id in still
            else (c, e, mine, hooks)
            for c, e, mine, hooks in plans
        ]
    wanted = [c.alert.id for c, _, mine, hooks in plans if mine or hooks]
    if explain is not None and wanted:
        await explain([alert_id for alert_id in wanted if alert_id is not None])
    shown = [c.alert for c, _, mine, hooks in plans if mine or hooks]
    markets = await advice_markets(session, shown, watches)
    rows: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    for change, event, mine, hooks in plans:
        alert = change.alert
        if mine or hooks:  # rendered only when some message carries it
            rows += change_rows(
                change, event, mine, hooks, watches, zones, currencies, links, now, markets
            )
        audits.append(
            {
                "alert_id": alert.id,
                "user_id": alert.user_id,
                "at": now,
                "kind": change.audit_kind,
                "detail": change.detail,
                "data": {
                    "event_type": change.event_type,
                    "fence": alert.fence,
                    "note": change.note,
                    **({"follows": change.follows} if change.follows is not None else {}),
                },
            }
        )
    await bulk_insert(session, NOTIFICATIONS, rows)
    await bulk_insert(session, AUDIT_LOG, audits)
    return len(rows)


async def _still_open(
    session: AsyncSession, ended: Sequence[AnnouncedAlert], changing: Collection[int | None]
) -> dict[int, str]:
    """Lines naming each ended alert's open siblings: the person's other open alerts about
    the same event, to the same kind of destination (their own chats, or the same group).

    One message may have told of several alerts (`core.engine_decide.merge_rounds`); when
    the alert that told them ends, its edited message must not read as if they all had.
    Alerts changing in the same call are left out (they are being told of themselves).
    """
    found = await open_alerts_by_place(
        session, {a.user_id for a in ended}, {a.event_id for a in ended}
    )
    if not any(sibling.alert_id not in changing for group in found.values() for sibling in group):
        return {}
    places = await session.execute(
        select(Watch.id, Watch.destination_address).where(Watch.id.in_({a.watch_id for a in ended}))
    )
    place: dict[int, str | None] = {watch_id: where for watch_id, where in places}
    out: dict[int, str] = {}
    for alert in ended:
        where = place.get(alert.watch_id)
        others = [
            OtherAlert(row.watch_id, row.label, row.reason or row.kind.replace("_", " "))
            for row in found.get((alert.user_id, alert.event_id, where), ())
            if row.alert_id not in changing
        ]
        if others and alert.id is not None:
            out[alert.id] = other_alerts_text(
                others, watch_id=alert.watch_id, group=where is not None,
                lead="Still open", verb="Still open on", rest="more open alerts",
            )  # fmt: skip
    return out


async def edit_late(
    session: AsyncSession, sent: Sequence[tuple[int, int | None, str, str, Any]], now: datetime
) -> int:
    """Queue the in-place edit of chat messages sent while their alert was changing.

    Such a message was still being sent when `announce` looked for the messages to edit,
    so it would stay as sent (open, with buttons). Each alert's last announced change
    (its audit entry) is rendered for these messages exactly as `announce` renders it, with
    the idempotency keys `announce` would have used, so an edit is never queued twice.

    Args:
        session: a session inside a transaction; the caller commits.
        sent: (notification id, alert id, channel, address, receipt dict) of each message.
        now: when the edits are due.

    Returns:
        How many edits were queued.
    """
    ids = sorted({alert_id for _, alert_id, *_ in sent if alert_id is not None})
    if not ids:
        return 0
    alerts = {a.id: a for a in await session.scalars(select(Alert).where(Alert.id.in_(ids)))}
    changes = await _last_changes(session, alerts)
    events, watches, zones, currencies = await announce_context(session, alerts.values(), None)
    markets = await advice_markets(session, alerts.values(), watches)
    rows: list[dict[str, Any]] = []
    for alert_id, mine in _edits(sent).items():
        alert = alerts.get(alert_id)
        event = events.get(alert.event_id) if alert is not None else None
        if alert is None or event is None:
            continue
        rows += change_rows(
            changes[alert_id], event, mine, [], watches, zones, currencies, None, now, markets
        )
    if rows:
        await session.execute(insert_skipping(session, NOTIFICATIONS, ["idempotency_key"]), rows)
    return len(rows)


async def _last_changes(session: AsyncSession, alerts: Mapping[int, Alert]) -> dict[int, Change]:
    """Each alert's current change, from the audit entry `announce` wrote for its fence."""
    entries = await session.execute(
        select(AuditEntry.alert_id, AuditEntry.kind, AuditEntry.detail, AuditEntry.data)
        .where(AuditEntry.alert_id.in_(list(alerts)))
        .order_by(AuditEntry.id.desc())
    )
    found: dict[int, Change] = {}
    for alert_id, kind, detail, data in entries:
        alert = alerts.get(alert_id) if alert_id is not None else None
        if alert is None or alert.id in found or not isinstance(data, dict):
            continue
        if data.get("fence") == alert.fence and data.get("event_type") and data.get("note"):
            found[alert.id] = Change(
                alert, str(data["event_type"]), kind, detail, str(data["note"])
            )
    for alert_id, alert in alerts.items():
        if alert_id not in found:
            found[alert_id] = _untold(alert)
    return found


def _untold(alert: Alert) -> Change:
    """The change of an alert whose audit entry keeps no note (written before notes were)."""
    if alert.status == AlertStatus.ACKNOWLEDGED:
        via = f" via {alert.acked_via}" if alert.acked_via else ""
        return Change(alert, "alert.acknowledged", "acknowledged", "", f"Acknowledged{via}")
    if alert.status == AlertStatus.SNOOZED:
        return Change(alert, "alert.updated", "snoozed", "", "Snoozed")
    reason = f": {alert.reason}" if alert.reason else ""
    return Change(alert, "alert.resolved", "resolved", "", f"Resolved{reason}")


def _edits(sent: Sequence[Any]) -> dict[int, list[tuple[int, str, str, Any]]]:
    """The sent chat messages to edit, per alert id: (note id, channel, address, receipt),
    the first of each (channel, address, message id), in id order."""
    out: dict[int, list[tuple[int, str, str, Any]]] = {}
    seen: set[tuple[int, str, str, str]] = set()
    for note_id, alert_id, channel, address, receipt in sent:
        if not receipt or not receipt.get("message_id"):
            continue
        mark = (alert_id, channel, address, str(receipt["message_id"]))
        if mark in seen:
            continue
        seen.add(mark)
        out.setdefault(alert_id, []).append((note_id, channel, address, receipt))
    return out
