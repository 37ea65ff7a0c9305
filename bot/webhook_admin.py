"""Outbound webhook endpoints, managed the same way by the CLI and the REST API.

Adding one checks its URL against the SSRF policy (and refuses names that always mean
this machine, and a second active endpoint of the same owner on the same URL, compared in
the normalized form `adapters.webhook.ssrf.canonical_url`), stores its signing secret
encrypted (`adapters.webhook.secrets`) and returns the secret once; a test only queues a
"test" notification, which the running process delivers like any other. Removing one
keeps its row (`removed_at`) and its delivery history, and cancels what is still queued
for it; a removed endpoint is never listed, sent to, enabled nor counted as a duplicate.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from adapters.webhook.secrets import (
    SecretBox,
    generate_secret,
    new_entry,
    rotate_entries,
    still_signs,
)
from adapters.webhook.ssrf import ALLOW_SETTING, SsrfPolicy, canonical_url, validate_url
from core.clock import ensure_utc
from core.db.models import Notification, User, WebhookEndpoint
from core.db.statements import rowcount
from core.delivery_lifecycle import removed_note
from core.domain import ChannelKind, Level, NotificationStatus
from core.errors import NotFoundError, ValidationError
from core.formatting import iso
from core.redaction import hide_credentials

EVENT_TYPES = (
    "alert.triggered",
    "alert.updated",
    "alert.acknowledged",
    "alert.escalated",
    "alert.resolved",
)
EVENTS_EXAMPLE = "alert.triggered,alert.resolved"
URL_EXAMPLE = "https://hooks.example.com/hdtickets"
_LOOPBACK = ipaddress.ip_address("127.0.0.1")
REMOVED = "removed"  # the disabled_reason of a removed endpoint
MAX_GRACE = timedelta(days=30)
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def parse_events(names: Iterable[str], example: str = EVENTS_EXAMPLE) -> list[str]:
    """Event type names, "*" for all; a one-line error naming the unknown one otherwise.
    "*" beside names is all of them too ("*,alert.triggered")."""
    wanted = [name.strip() for name in names if name.strip()]
    if "*" in wanted:
        return list(EVENT_TYPES)
    choices = f"choose from {', '.join(EVENT_TYPES)} or *, e.g. {example}"
    if not wanted:
        raise ValidationError(f"no event types given: an endpoint needs at least one; {choices}")
    unknown = [name for name in wanted if name not in EVENT_TYPES]
    if unknown:
        raise ValidationError(f"unknown event type {unknown[0]!r}; {choices}")
    return list(dict.fromkeys(wanted))


def _always_local(url: str, policy: SsrfPolicy) -> str | None:
    """The refusal for a host name that always means this machine (localhost,
    *.localhost, RFC 6761) unless the allow-list lets it or loopback through; else None."""
    host = (URL(url).host or "").lower().rstrip(".")
    if host != "localhost" and not host.endswith(".localhost"):
        return None
    if policy.allows_host(host) or policy.refusal(_LOOPBACK) is None:
        return None
    return (
        f"webhook URL host {host} is always this machine, which webhooks may not reach;"
        f" allow it with {ALLOW_SETTING}, e.g. {URL_EXAMPLE}"
    )


CLI_REMOVE = "hdtickets webhooks remove {id}"


async def check_not_twice(
    session: AsyncSession,
    url: str,
    user_id: int | None,
    other_than: int | None = None,
    remove: str = CLI_REMOVE,
) -> None:
    """Refuse a second active endpoint of one owner on one URL (alerts would go out twice).

    `remove` is how the caller removes an endpoint, `{id}` standing for its id: the
    CLI's command, or the API's route for a person who has no shell on the server.

    URLs are compared normalized (`canonical_url`: no fragment, no trailing dot, no
    default port), so an endpoint stored before that normalization is found too.

    Raises:
        ValidationError: naming the endpoint that already sends there.
    """
    owner = (
        WebhookEndpoint.user_id.is_(None) if user_id is None else WebhookEndpoint.user_id == user_id
    )
    query = select(WebhookEndpoint.id, WebhookEndpoint.url).where(
        WebhookEndpoint.active.is_(True), WebhookEndpoint.removed_at.is_(None), owner
    )
    if other_than is not None:
        query = query.where(WebhookEndpoint.id != other_than)
    wanted = canonical_url(url)
    rows = await session.execute(query.order_by(WebhookEndpoint.id))
    same = next((id_ for id_, stored in rows if canonical_url(stored) == wanted), None)
    if same is not None:
        raise ValidationError(
            f"webhook endpoint {same} already sends to {hide_credentials(url)}"
            " (alerts would go out twice); keep it, or replace it,"
            f" e.g. {remove.format(id=same)}"
        )


async def add_endpoint(
    session: AsyncSession,
    box: SecretBox,
    policy: SsrfPolicy,
    url: str,
    events: list[str],
    user_id: int | None,
    now: datetime,
    remove: str = CLI_REMOVE,
) -> NewEndpoint:
    """Store a new active endpoint (the caller commits); its secret is returned once.
    `remove` is how the caller removes the endpoint already on the URL (`check_not_twice`).

    Raises:
        ValidationError: the URL is refused, or the owner has an active endpoint on it.
        NotFoundError: there is no user `user_id`.
    """
    try:
        clean_url = validate_url(url, policy)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if (refusal := _always_local(clean_url, policy)) is not None:
        raise ValidationError(refusal)
    if user_id is not None and await session.get(User, user_id) is None:
        raise NotFoundError(f"no user {user_id}; add one with `hdtickets users add NAME`")
    await check_not_twice(session, clean_url, user_id, remove=remove)
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


def parse_grace(text: str, example: str) -> timedelta:
    """How long older secrets keep signing after a rotation: 0, or a number and a unit
    (s, m, h, d) of at most `MAX_GRACE`.

    Raises:
        ValidationError: naming the text and showing `example`.
    """
    if text.strip() == "0":
        return timedelta(0)
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise ValidationError(
            f"grace period {text!r} is not a duration like 30m, 24h, 2d or 0, e.g. {example}"
        )
    amount = int(match.group(1)) if len(match.group(1)) <= 7 else 10**7  # > 30 days in seconds
    period = timedelta(**{_UNITS[match.group(2)]: amount})
    if period > MAX_GRACE:
        raise ValidationError(
            f"a grace period can last at most {MAX_GRACE.days} days, e.g. {example}"
        )
    return period


def rotate_secret(
    endpoint: WebhookEndpoint, box: SecretBox, now: datetime, grace: timedelta
) -> str:
    """Give `endpoint` a new signing secret (the caller commits) and return it, shown
    once; its older secrets keep signing beside it for `grace`."""
    entries, secret = rotate_entries(list(endpoint.secrets or []), box, now, grace)
    endpoint.secrets = entries
    return secret


async def remove_endpoint(session: AsyncSession, endpoint: WebhookEndpoint, now: datetime) -> int:
    """Remove an endpoint (the caller commits): it stays as a row, marked removed and
    inactive, so its sent deliveries keep their history; what is still queued or parked
    for it is cancelled. Returns how many deliveries were cancelled."""
    endpoint.removed_at = now
    endpoint.active = False
    endpoint.disabled_reason = REMOVED
    cancelled = await session.execute(
        update(Notification)
        .where(
            Notification.webhook_endpoint_id == endpoint.id,
            Notification.status == NotificationStatus.PENDING.value,  # parked ones too
        )
        .values(
            status=NotificationStatus.CANCELLED.value,
            last_error=removed_note(endpoint.id),
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(cancelled)


# The `data` keys of every webhook event (DESIGN.md §9); a test event has them all too.
DATA_KEYS = ("alert", "event", "market", "prediction", "recommendation", "watch", "links")


def data_of_test(endpoint_id: int, message: str) -> dict[str, Any]:
    """The `data` of a "test" event: the documented keys, empty (no alert is behind it),
    so a receiver's parser is exercised as by a real event, plus what says it is a test."""
    data: dict[str, Any] = dict.fromkeys(DATA_KEYS)
    data["links"] = {}
    return data | {"test": True, "endpoint_id": endpoint_id, "message": message}


CLI_ENABLE = "enable it with `hdtickets webhooks enable {id}`"


async def queue_test(
    session: AsyncSession, endpoint: WebhookEndpoint, now: datetime, enable: str = CLI_ENABLE
) -> int:
    """Queue a "test" notification to an active endpoint; returns its id.

    `enable` says how the caller gets a disabled endpoint going again, `{id}` standing for
    its id: the CLI's command, or what a person with only the API can do.
    """
    if not endpoint.active:
        raise ValidationError(
            f"webhook endpoint {endpoint.id} is disabled"
            f" ({hide_credentials(endpoint.disabled_reason or 'by an admin')}); "
            + enable.format(id=endpoint.id)
        )
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
            "timestamp": iso(ensure_utc(now)),
            "title": "HDTickets Alerts test",
            "body": message,
            "buttons": [],
            "factors": [],
            "data": data_of_test(endpoint.id, message),
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
    """An endpoint without its secrets (only how many still sign) nor any password in its
    URL (one stored before those were refused) or in why it was disabled."""
    reason = endpoint.disabled_reason
    return {
        "id": endpoint.id,
        "url": hide_credentials(endpoint.url),
        "user_id": endpoint.user_id,
        "events": list(endpoint.event_types or ()),
        "active": endpoint.active,
        "disabled_reason": hide_credentials(reason) if reason is not None else None,
        "consecutive_failures": endpoint.consecutive_failures,
        "secrets": live_secrets(list(endpoint.secrets or ()), now),
    }
