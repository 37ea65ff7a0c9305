"""What every alert payload carries: the alert object, the event, idempotency keys.

`alert_dict` is the `data.alert` object of a chat, webhook or API payload, read from an
`Alert` row or the engine's in-memory `ActiveAlert` alike (`AlertFields`); `event_ref`
turns an `Event` row into the domain's `EventRef`; `notification_key` is the idempotency
key of one message about one alert. `announce` (`core.announce`) and the engine's rows
(`core.engine_rows`) build their notifications from these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from core.db.models import IDEMPOTENCY_KEY_LENGTH, Event
from core.domain import EventRef, Level
from core.formatting import iso
from core.outbox import idempotency_key
from core.render import AlertView


def notification_key(alert_id: int, event_type: str, channel: str, address: str, n: object) -> str:
    """The idempotency key "a{alert}:{event_type}:{channel}:{address}:{n}". When that is
    too long for its column the address is its SHA-256's first 16 hex digits (the form rows
    already stored carry), and `idempotency_key` keeps even that within the column."""
    parts = (f"a{alert_id}", event_type, channel, address, n)
    if len(":".join(map(str, parts))) > IDEMPOTENCY_KEY_LENGTH:
        address = hashlib.sha256(address.encode()).hexdigest()[:16]
    return idempotency_key(f"a{alert_id}", event_type, channel, address, n)


def alert_links(public_url: str | None, alert_id: int | None) -> dict[str, str]:
    """`data.links` of a payload: the alert and its timeline in the REST API, under the
    URL the process is reached at (none without one)."""
    base = (public_url or "").rstrip("/")
    if not base or alert_id is None:
        return {}
    return {
        "alert": f"{base}/api/v1/alerts/{alert_id}",
        "timeline": f"{base}/api/v1/alerts/{alert_id}/timeline",
    }


class ShownAlert(Protocol):
    """What a stored alert's message shows of it (`stored_view`)."""

    @property
    def id(self) -> int | None: ...
    @property
    def status(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def level(self) -> int: ...
    @property
    def score(self) -> float: ...
    @property
    def price(self) -> float | None: ...


class AlertFields(ShownAlert, Protocol):
    """What `alert_dict` reads: an `Alert` row or the engine's `ActiveAlert`."""

    @property
    def reason(self) -> str | None: ...
    @property
    def dedup_key(self) -> str: ...
    @property
    def opened_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def snoozed_until(self) -> datetime | None: ...
    @property
    def snooze_below(self) -> float | None: ...
    @property
    def acked_via(self) -> str | None: ...


class AnnouncedAlert(AlertFields, Protocol):
    """What `announce` reads besides `alert_dict`'s fields (an `Alert` or `ActiveAlert`)."""

    @property
    def event_id(self) -> int: ...
    @property
    def watch_id(self) -> int: ...
    @property
    def user_id(self) -> int: ...
    @property
    def fence(self) -> int: ...
    @property
    def factors(self) -> list[Any] | None: ...
    @property
    def prediction(self) -> dict[str, Any] | None: ...
    @property
    def recommendation(self) -> dict[str, Any] | None: ...


class WatchLabel(Protocol):
    """What a change message shows of its watch (a `Watch` row or the engine's `WatchInfo`)."""

    @property
    def label(self) -> str: ...
    @property
    def max_price(self) -> float | None: ...
    @property
    def currency(self) -> str | None: ...


def stored_view(
    alert: ShownAlert,
    event: EventRef,
    watch: WatchLabel | None,
    currency: str | None,
    **text: Any,
) -> AlertView:
    """The text of a stored alert's message (an edit, an escalation step): its state and
    price, its watch's max (in the watch's own currency, if it has one) and the event's
    `currency`; `text` sets the rest (factors, headline, note, time zone...)."""
    assert alert.id is not None, "only stored alerts are shown"
    return AlertView(
        alert_id=alert.id,
        kind=alert.kind,
        status=alert.status,
        level=Level(alert.level),
        score=alert.score,
        event=event,
        price=alert.price,
        max_price=watch.max_price if watch is not None else None,
        max_currency=watch.currency if watch is not None else None,
        currency=currency,
        **text,
    )


@dataclass(frozen=True, slots=True)
class Known:
    """What the caller already holds, so `announce` need not read it again: events, watch
    labels, people's time zones and events' currencies (their snapshot's) by id (anything
    missing is loaded)."""

    events: Mapping[int, EventRef]
    watches: Mapping[int, WatchLabel]
    zones: Mapping[int, str]
    currencies: Mapping[int, str | None] = field(default_factory=dict)


_LABELS: dict[int, str] = {int(level): level.label for level in Level}


def alert_dict(alert: AlertFields) -> dict[str, Any]:
    """The `data.alert` object of a payload."""
    level = alert.level
    opened, updated = alert.opened_at, alert.updated_at
    acknowledged, resolved, snoozed = alert.acknowledged_at, alert.resolved_at, alert.snoozed_until
    return {
        "id": alert.id,
        "status": alert.status,
        "kind": alert.kind,
        "level": level,
        "level_label": _LABELS.get(level) or Level(level).label,
        "score": alert.score,
        "price": alert.price,
        "reason": alert.reason,
        "dedup_key": alert.dedup_key,
        # `iso`: the engine's rows share one `now` object for opened_at and updated_at.
        "opened_at": iso(opened) if opened else None,
        "updated_at": iso(updated) if updated else None,
        "acknowledged_at": iso(acknowledged) if acknowledged else None,
        "resolved_at": iso(resolved) if resolved else None,
        "snoozed_until": iso(snoozed) if snoozed else None,
        "snooze_below": alert.snooze_below,
        "acked_via": alert.acked_via,
    }


def event_ref(row: Event) -> EventRef:
    return EventRef(
        id=row.id,
        name=row.name,
        starts_at=row.starts_at,
        category=row.category,
        performers=tuple(str(p) for p in row.performers or ()),
        venue=row.venue,
        city=row.city,
        capacity=row.capacity,
        timezone=row.timezone,
    )
