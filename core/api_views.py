"""What the REST API reads: alerts, their timelines and watches as JSON-ready dicts.

Platform-neutral (no aiohttp): `bot/rest.py` authenticates, parses and answers; this
module queries and shapes. Every read is limited to one person's rows unless `owner` is
None (an admin token).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.alert_payload import alert_dict, event_ref
from core.db.models import (
    ACTIVE_ALERT_STATUSES,
    Activity,
    Alert,
    AuditEntry,
    ContactPoint,
    Event,
    Identity,
    Notification,
    Preference,
    Presence,
    User,
    Watch,
)
from core.domain import AlertStatus, Level
from core.engine_support import WatchInfo
from core.errors import NotFoundError, ValidationError
from core.formatting import iso
from core.redaction import hide_credentials
from core.render import event_dict

ACTIVE = "active"
ALERT_STATUSES = (ACTIVE, *(status.value for status in AlertStatus))
MAX_LIMIT = 500
_PRIVATE_CHANNELS = frozenset({"sms", "voice"})  # phone numbers are never shown in full
_LEVELS = frozenset(int(level) for level in Level)
Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])


def alert_json(alert: Alert, event: Event | None) -> dict[str, Any]:
    """One alert: its state (as in webhook payloads), explanation, escalation and event."""
    out = alert_dict(alert)
    out.update(
        watch_id=alert.watch_id,
        user_id=alert.user_id,
        factors=alert.factors or [],
        prediction=alert.prediction,
        recommendation=alert.recommendation,
        escalation_step=alert.step,
        next_step_at=iso(alert.next_step_at) if alert.next_step_at else None,
        event=event_dict(event_ref(event)) if event is not None else {"id": alert.event_id},
    )
    return out


def watch_json(watch: Watch) -> dict[str, Any]:
    """One watch: what it follows, its triggers (its max with its currency) and whether it
    is active."""
    out: dict[str, Any] = dict(WatchInfo.from_row(watch).as_dict())
    out.update(
        user_id=watch.user_id,
        event_id=watch.event_id,
        terms=list(watch.terms or ()),
        category=watch.category,
        venue=watch.venue,
        drop_pct=watch.drop_pct,
        low_inventory=watch.low_inventory,
        min_level=watch.min_level,
        cooldown_s=watch.cooldown_s,
        active=watch.active,
        muted_event_ids=[int(e) for e in watch.muted_event_ids or ()],
        expires_at=iso(watch.expires_at) if watch.expires_at else None,
        created_at=iso(watch.created_at),
        updated_at=iso(watch.updated_at),
    )
    return out


def check_status(status: str | None) -> str | None:
    """The alert status filter, normalised; a one-line error with an example otherwise."""
    if status is None:
        return None
    wanted = status.strip().lower()
    if wanted not in ALERT_STATUSES:
        raise ValidationError(
            f"unknown status {status!r}; use one of {', '.join(ALERT_STATUSES)}, e.g. ?status=open"
        )
    return wanted


async def list_alerts(
    session: AsyncSession,
    owner: int | None,
    status: str | None,
    limit: int,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Alerts newest first, at most `limit`; `status` "active" means open, acked or snoozed.

    `before` is the cursor of the next page: only alerts with a smaller id (the last id of
    the page before). Unlike an offset, new alerts arriving meanwhile shift nothing.
    """
    query = select(Alert, Event).join(Event, Event.id == Alert.event_id).order_by(Alert.id.desc())
    if before is not None:
        query = query.where(Alert.id < before)
    rows = await session.execute(filter_alerts(query, status, owner).limit(min(limit, MAX_LIMIT)))
    return [alert_json(row[0], row[1]) for row in rows]


def filter_alerts(query: Q, status: str | None, owner: int | None) -> Q:
    """`query` (over `alerts`) narrowed to a status ("active": not closed) and a person."""
    if status == ACTIVE:
        query = query.where(Alert.status.in_(ACTIVE_ALERT_STATUSES))
    elif status is not None:
        query = query.where(Alert.status == status)
    if owner is not None:
        query = query.where(Alert.user_id == owner)
    return query


async def owned_alert(session: AsyncSession, alert_id: int, owner: int | None) -> Alert:
    """The alert, if it exists and `owner` (None: anyone) may see it."""
    alert = await session.get(Alert, alert_id)
    if alert is None or (owner is not None and alert.user_id != owner):
        raise NotFoundError(f"alert {alert_id} not found; GET /api/v1/alerts lists yours")
    return alert


async def alert_detail(session: AsyncSession, alert_id: int, owner: int | None) -> dict[str, Any]:
    alert = await owned_alert(session, alert_id, owner)
    return alert_json(alert, await session.get(Event, alert.event_id))


def shown_address(row: Notification) -> str:
    """Where a message went, with phone numbers cut to their last four digits and any
    password in a webhook URL (one stored before those were refused) masked."""
    if row.channel in _PRIVATE_CHANNELS and len(row.address) > 4:
        return "…" + row.address[-4:]
    return hide_credentials(row.address)


def merged_timeline(
    audits: Iterable[AuditEntry], sends: Iterable[Notification]
) -> list[AuditEntry | Notification]:
    """An alert's audit entries and outbox rows, oldest first; at the same instant the
    decisions come before the messages, then by id (`alerts show` and the API)."""

    def key(row: AuditEntry | Notification) -> tuple[datetime, int, int]:
        if isinstance(row, AuditEntry):
            return (row.at, 0, row.id)
        return (row.created_at, 1, row.id)

    return sorted([*audits, *sends], key=key)


def _timeline_item(row: AuditEntry | Notification) -> dict[str, Any]:
    # An audit entry or an error may quote a webhook URL with a password in it.
    if isinstance(row, AuditEntry):
        return {"at": iso(row.at), "kind": row.kind, "detail": hide_credentials(row.detail)}
    payload = row.payload or {}
    return {
        "at": iso(row.created_at),
        "kind": "notification",
        "notification_id": row.id,
        "event_type": payload.get("event_type") or row.kind,
        "channel": row.channel,
        "address": shown_address(row),
        "status": row.status,
        "attempts": row.attempts,
        "sent_at": iso(row.sent_at) if row.sent_at else None,
        "last_error": hide_credentials(row.last_error) if row.last_error else row.last_error,
    }


async def alert_timeline(
    session: AsyncSession, alert_id: int, owner: int | None
) -> list[dict[str, Any]]:
    """Every decision and every message of the alert, oldest first (as `alerts show`)."""
    await owned_alert(session, alert_id, owner)
    audits = await session.scalars(select(AuditEntry).where(AuditEntry.alert_id == alert_id))
    sends = await session.scalars(select(Notification).where(Notification.alert_id == alert_id))
    return [_timeline_item(row) for row in merged_timeline(audits, sends)]


async def list_watches(session: AsyncSession, owner: int | None) -> list[dict[str, Any]]:
    """Watches not removed, newest first."""
    query = select(Watch).where(Watch.removed_at.is_(None)).order_by(Watch.id.desc())
    if owner is not None:
        query = query.where(Watch.user_id == owner)
    return [watch_json(w) for w in await session.scalars(query.limit(MAX_LIMIT))]


async def watch_detail(session: AsyncSession, watch_id: int, owner: int | None) -> dict[str, Any]:
    watch = await session.get(Watch, watch_id)
    if (
        watch is None
        or watch.removed_at is not None
        or (owner is not None and watch.user_id != owner)
    ):
        raise NotFoundError(f"watch {watch_id} not found; GET /api/v1/watches lists yours")
    return watch_json(watch)


async def preferences(session: AsyncSession, user_id: int) -> dict[str, Any]:
    """A person's settings: time zone, quiet hours, channel order, digest, learning, chats."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    prefs = await session.get(Preference, user_id)
    chats = await session.scalars(
        select(Identity).where(Identity.user_id == user_id).order_by(Identity.id)
    )
    quiet = (
        {"start": user.quiet_start, "end": user.quiet_end}
        if user.quiet_start and user.quiet_end
        else None
    )
    voice = (
        {"start": prefs.voice_start, "end": prefs.voice_end}
        if prefs is not None and prefs.voice_start and prefs.voice_end
        else None
    )
    return {
        "user_id": user.id,
        "display_name": user.display_name,
        "timezone": user.timezone,
        "quiet_hours": quiet,
        "channel_order": list(prefs.channel_order or ()) if prefs else [],
        "min_level_per_channel": dict(prefs.min_level_per_channel or {}) if prefs else {},
        "digest": prefs.digest_schedule if prefs else "hourly",
        "wake_for_critical": bool(prefs.wake_for_critical) if prefs else False,
        "voice_hours": voice,
        "learning": {
            "feedback_count": user.feedback_count,
            "weights": user.learned_weights,
        },
        "chats": [
            {
                "platform": i.platform,
                "display_name": i.display_name,
                "reachable": i.unreachable_at is None,
            }
            for i in chats
        ],
    }


def _contact_point_json(contact: ContactPoint) -> dict[str, Any]:
    """One phone or emergency contact, its number masked: the encrypted number and its
    hash stay in the database, so an API answer can never leak the full number."""
    return {
        "id": contact.id,
        "user_id": contact.user_id,
        "kind": "emergency" if contact.is_emergency else "phone",
        "name": contact.name,
        "address": contact.address_masked,
        "verified_at": iso(contact.verified_at) if contact.verified_at else None,
        # Only an emergency contact is asked; their YES sets this (and `verified_at`).
        "consented_at": iso(contact.owner_consent_at) if contact.owner_consent_at else None,
        "texts_refused_at": iso(contact.sms_opted_out_at) if contact.sms_opted_out_at else None,
        "created_at": iso(contact.created_at),
    }


async def contact_points(session: AsyncSession, owner: int | None) -> list[dict[str, Any]]:
    """Phones and emergency contacts, oldest first, masked (`owner` None: everyone's)."""
    query = select(ContactPoint).order_by(ContactPoint.id)
    if owner is not None:
        query = query.where(ContactPoint.user_id == owner)
    return [_contact_point_json(c) for c in await session.scalars(query)]


async def activity(session: AsyncSession, user_id: int, limit: int) -> dict[str, Any]:
    """A person's presence per platform and their latest activity, newest first."""
    seen = await session.scalars(select(Presence).where(Presence.user_id == user_id))
    rows = await session.scalars(
        select(Activity)
        .where(Activity.user_id == user_id)
        .order_by(Activity.at.desc(), Activity.id.desc())
        .limit(min(limit, MAX_LIMIT))
    )
    return {
        "user_id": user_id,
        "presence": [
            {
                "platform": p.platform,
                "status": p.status,
                "last_seen_at": iso(p.last_seen_at) if p.last_seen_at else None,
            }
            for p in seen
        ],
        "activity": [{"platform": a.platform, "kind": a.kind, "at": iso(a.at)} for a in rows],
    }


async def analytics(session: AsyncSession, owner: int | None, since: datetime) -> dict[str, Any]:
    """Alerts opened since `since` by level and status, and their messages by channel and
    status; `owner` None counts everyone."""
    alerts = select(Alert.level, Alert.status, func.count()).where(Alert.opened_at >= since)
    sends = select(Notification.channel, Notification.status, func.count()).where(
        Notification.created_at >= since
    )
    if owner is not None:
        alerts = alerts.where(Alert.user_id == owner)
        sends = sends.where(Notification.user_id == owner)
    by_level: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for level, status, count in await session.execute(alerts.group_by(Alert.level, Alert.status)):
        label = Level(level).label if level in _LEVELS else str(level)
        by_level[label] = by_level.get(label, 0) + count
        by_status[status] = by_status.get(status, 0) + count
    channels: dict[str, dict[str, int]] = {}
    grouped = sends.group_by(Notification.channel, Notification.status)
    for channel, status, count in await session.execute(grouped):
        channels.setdefault(channel, {})[status] = count
    return {
        "since": iso(since),
        "alerts": {"total": sum(by_status.values()), "by_level": by_level, "by_status": by_status},
        "notifications": {"by_channel": channels},
    }
