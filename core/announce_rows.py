"""The notification rows of an announced change: an edit of every sent chat message and
one message per subscribed webhook, rendered once per change (`core.announce`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.alert_payload import (
    AnnouncedAlert,
    Known,
    WatchLabel,
    alert_dict,
    event_ref,
    notification_key,
    stored_view,
)
from core.db.models import ACTIVE_ALERT_STATUSES, Event, User, Watch
from core.delivery_plan import WebhookTarget
from core.domain import ChannelKind, EventRef, NotificationStatus, StoredSnapshot, WatchSpec
from core.history import event_currencies, latest_snapshots
from core.render import (
    advice_sentence,
    body,
    event_dict,
    factors_from_dicts,
    forecast_from_dicts,
    payload,
    title,
)
from core.triggers import picks_seats, tickets_left

__all__ = ["Change", "advice_markets", "announce_context", "change_rows"]


@dataclass(frozen=True, slots=True)
class Change:
    """One state change to tell people about: what to edit, notify and audit."""

    alert: AnnouncedAlert
    event_type: str
    audit_kind: str
    detail: str
    note: str
    # The alert the person answered, when this change only follows that answer (a sibling
    # alert about the same event): kept in the audit data so learning counts one answer once.
    follows: int | None = None


def change_rows(
    change: Change,
    event: EventRef,
    edits: list[tuple[int, str, str, Any]],
    hooks: list[WebhookTarget],
    watches: Mapping[int, WatchLabel],
    zones: Mapping[int, str],
    currencies: Mapping[int, str | None],
    links: Mapping[int, Mapping[str, str]] | None,
    now: datetime,
    markets: Mapping[int, StoredSnapshot] | None = None,
) -> list[dict[str, Any]]:
    """The notification rows of one change: an edit per sent message, one per webhook.

    `markets`: the newest snapshot of the events whose watch picks seats (`advice_markets`),
    so the forecast sentence reads as the alert's first message said it.
    """
    alert, alert_id = change.alert, change.alert.id
    assert alert_id is not None, "only stored alerts are announced"
    watch = watches.get(alert.watch_id)
    currency = currencies.get(alert.event_id)
    active = alert.status in ACTIVE_ALERT_STATUSES
    view = stored_view(
        alert,
        event,
        watch,
        currency,
        factors=factors_from_dicts(alert.factors),
        # Buy advice on an alert that ended (resolved, expired) would urge an offer gone.
        sentence=_sentence(alert, watch, markets) if active else None,
        timezone=zones.get(alert.user_id),
        status_note=change.note,
    )
    data = {
        "alert": alert_dict(alert),
        "event": event_dict(event),
        "market": {"min_price": alert.price, "currency": currency},
        "prediction": alert.prediction,
        "recommendation": alert.recommendation,
        "watch": {
            "id": alert.watch_id,
            "label": watch.label if watch else None,
            "max_price": watch.max_price if watch else None,
            "currency": watch.currency if watch else None,
        },
        "links": dict((links or {}).get(alert_id, {})),
    }
    title_text, body_text = title(view), body(view)

    def message(edit_of: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return payload(
            event_type=change.event_type,
            timestamp=now,
            title_text=title_text,
            body_text=body_text,
            factors=view.factors,
            data=data,
            edit_of=edit_of,
        )

    rows = [
        _row(
            alert,
            channel,
            address,
            change.event_type,
            now,
            message(receipt),
            f"{alert.fence}:e{note_id}",
        )
        for note_id, channel, address, receipt in edits
    ]
    rows += [
        _row(
            alert,
            ChannelKind.WEBHOOK.value,
            target.url,
            change.event_type,
            now,
            message(),
            alert.fence,
            endpoint_id=target.endpoint_id,
        )
        for target in hooks
    ]
    return rows


@runtime_checkable
class _Seats(Protocol):
    """What tells which listings fit a watch: a `Watch` row and the engine's `WatchInfo`."""

    @property
    def quantity(self) -> int: ...
    @property
    def zones(self) -> Sequence[str]: ...


def _seats_spec(alert: AnnouncedAlert, watch: WatchLabel | None) -> WatchSpec | None:
    """The alert's watch as far as the listings that fit it go (its quantity and zones,
    all `tickets_left` and `advice_sentence` read of it); None when unknown."""
    if not isinstance(watch, _Seats):
        return None
    quantity = max(int(watch.quantity or 1), 1)
    zones = tuple(str(z) for z in watch.zones or ())
    return WatchSpec(id=alert.watch_id, user_id=alert.user_id, quantity=quantity, zones=zones)


def _sentence(
    alert: AnnouncedAlert,
    watch: WatchLabel | None,
    markets: Mapping[int, StoredSnapshot] | None,
) -> str | None:
    """The stored forecast's sentence as the alert's messages say it (`advice_sentence`),
    for the watch on its event's newest snapshot; the stored sentence when it is all
    there is (no forecast that reads back, no snapshot or watch)."""
    recommendation = alert.recommendation or {}
    forecast = forecast_from_dicts(alert.prediction, recommendation)
    if forecast is None:
        return recommendation.get("sentence")
    spec = _seats_spec(alert, watch)
    stored = (markets or {}).get(alert.event_id)
    left = None
    if spec is not None and stored is not None:
        left = tickets_left(spec, stored.point, stored.listings)
    return advice_sentence(forecast, spec, alert.price, stored, left)


async def advice_markets(
    session: AsyncSession, alerts: Iterable[AnnouncedAlert], watches: Mapping[int, WatchLabel]
) -> dict[int, StoredSnapshot]:
    """The newest snapshot, with its listings, of each event whose active alert's message
    shows a forecast for a watch that picks seats (zones, or more than one ticket): what
    `change_rows` words that sentence on, as the engine did for its first message."""
    wanted = set()
    for alert in alerts:
        if alert.status not in ACTIVE_ALERT_STATUSES or not alert.recommendation:
            continue
        spec = _seats_spec(alert, watches.get(alert.watch_id))
        if spec is not None and picks_seats(spec):
            wanted.add(alert.event_id)
    return {s.event.id: s for s in await latest_snapshots(session, sorted(wanted))}


async def announce_context(
    session: AsyncSession, alerts: Iterable[AnnouncedAlert], known: Known | None
) -> tuple[dict[int, EventRef], dict[int, WatchLabel], dict[int, str], dict[int, str | None]]:
    """The alerts' events, watches, people's time zones and events' currencies: from
    `known`, else read (a currency is the event's newest snapshot's)."""
    alerts = list(alerts)
    events: dict[int, EventRef] = dict(known.events) if known else {}
    watches: dict[int, WatchLabel] = dict(known.watches) if known else {}
    zones: dict[int, str] = dict(known.zones) if known else {}
    currencies: dict[int, str | None] = dict(known.currencies) if known else {}
    missing = {a.event_id for a in alerts} - events.keys()
    if missing:
        found = await session.scalars(select(Event).where(Event.id.in_(missing)))
        events.update((e.id, event_ref(e)) for e in found)
    missing = {a.watch_id for a in alerts} - watches.keys()
    if missing:
        rows = await session.scalars(select(Watch).where(Watch.id.in_(missing)))
        watches.update((w.id, w) for w in rows)
    missing = {a.user_id for a in alerts} - zones.keys()
    if missing:
        people = await session.execute(select(User.id, User.timezone).where(User.id.in_(missing)))
        zones.update((user_id, tz) for user_id, tz in people)
    missing = {a.event_id for a in alerts} - currencies.keys()
    if missing:
        currencies.update(await event_currencies(session, missing))
    return events, watches, zones, currencies


def _row(
    alert: AnnouncedAlert,
    channel: str,
    address: str,
    event_type: str,
    now: datetime,
    body_payload: dict[str, Any],
    n: object,
    *,
    endpoint_id: int | None = None,
) -> dict[str, Any]:
    key_address = f"w{endpoint_id}" if endpoint_id is not None else address
    assert alert.id is not None, "only stored alerts are announced"
    return {
        "alert_id": alert.id,
        "user_id": alert.user_id,
        "webhook_endpoint_id": endpoint_id,
        "kind": "update",
        "channel": channel,
        "address": address,
        "level": alert.level,
        "score": alert.score,
        "payload": body_payload,
        "idempotency_key": notification_key(alert.id, event_type, channel, key_address, n),
        "status": NotificationStatus.PENDING.value,
        "attempts": 0,
        "due_at": now,
        "created_at": now,
    }
