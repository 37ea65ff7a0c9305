"""Outbound webhook endpoints, managed the same way by the CLI and the REST API.

Adding one checks its URL against the SSRF policy, stores its signing secret encrypted
(`adapters.webhook.secrets`) and returns the secret once; a test only queues a "test"
notification, which the running process delivers like any other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.webhook.secrets import SecretBox, generate_secret, new_entry, still_signs
from adapters.webhook.ssrf import SsrfPolicy, validate_url
from core.db.models import Notification, User, WebhookEndpoint
from core.domain import ChannelKind, Level, NotificationStatus
from core.errors import NotFoundError, ValidationError

EVENT_TYPES = (
    "alert.triggered",
    "alert.updated",
    "alert.acknowledged",
    "alert.escalated",
    "alert.resolved",
)
EVENTS_EXAMPLE = "alert.triggered,alert.resolved"


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def parse_events(names: Iterable[str], example: str = EVENTS_EXAMPLE) -> list[str]:
    """Event type names, "*" for all; a one-line error naming the unknown one otherwise."""
    wanted = [name.strip() for name in names if name.strip()]
    if wanted == ["*"]:
        return list(EVENT_TYPES)
    unknown = [name for name in wanted if name not in EVENT_TYPES]
    if unknown or not wanted:
        shown = repr(unknown[0]) if unknown else "(none)"
        raise ValidationError(
            f"unknown event type {shown}; choose from {', '.join(EVENT_TYPES)} or *, e.g. {example}"
        )
    return list(dict.fromkeys(wanted))


async def add_endpoint(
    session: AsyncSession,
    box: SecretBox,
    policy: SsrfPolicy,
    url: str,
    events: list[str],
    user_id: int | None,
    now: datetime,
) -> NewEndpoint:
    """Store a new active endpoint (the caller commits); its secret is returned once."""
    try:
        clean_url = validate_url(url, policy)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if user_id is not None and await session.get(User, user_id) is None:
        raise NotFoundError(f"no user {user_id}; add one with `hdtickets users add NAME`")
    secret = generate_secret()
    endpoint = WebhookEndpoint(
        user_id=user_id,
        url=clean_url,
        secrets=[new_entry(box, secret, now)],
        event_types=events,
        active=True,
        consecutive_failures=0,
        created_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return NewEndpoint(endpoint, secret)


async def queue_test(session: AsyncSession, endpoint: WebhookEndpoint, now: datetime) -> int:
    """Queue a "test" notification to an active endpoint; returns its id."""
    if not endpoint.active:
        raise ValidationError(
            f"webhook endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); "
            f"enable it with `hdtickets webhooks enable {endpoint.id}`"
        )
    stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    message = f"Test notification for webhook endpoint {endpoint.id}."
    notification = Notification(
        user_id=endpoint.user_id,
        webhook_endpoint_id=endpoint.id,
        kind="test",
        channel=ChannelKind.WEBHOOK.value,
        address=endpoint.url,
        level=int(Level.MEDIUM),
        payload={
            "event_type": "test",
            "timestamp": stamp,
            "title": "HDTickets Alerts test",
            "body": message,
            "buttons": [],
            "factors": [],
            "data": {"test": True, "endpoint_id": endpoint.id, "message": message},
            "edit_of": None,
            "webhook_endpoint_id": endpoint.id,
        },
        idempotency_key=f"webhook-test-{endpoint.id}-{uuid.uuid4().hex}",
        status=NotificationStatus.PENDING.value,
        attempts=0,
        due_at=now,
        created_at=now,
    )
    session.add(notification)
    await session.flush()
    return notification.id


def live_secrets(entries: list[Any], now: datetime) -> int:
    """How many of an endpoint's secrets still sign (not past their grace period)."""
    return sum(1 for entry in entries if still_signs(entry, now))


def endpoint_json(endpoint: WebhookEndpoint, now: datetime) -> dict[str, Any]:
    """An endpoint without its secrets (only how many still sign)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "user_id": endpoint.user_id,
        "events": list(endpoint.event_types or ()),
        "active": endpoint.active,
        "disabled_reason": endpoint.disabled_reason,
        "consecutive_failures": endpoint.consecutive_failures,
        "secrets": live_secrets(list(endpoint.secrets or ()), now),
    }
