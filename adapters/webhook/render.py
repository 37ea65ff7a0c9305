"""Notification payload -> webhook body and Standard Webhooks headers (pure, no I/O).

Body (DESIGN.md §9): `{"type": event_type, "timestamp": ISO-8601, "data": {...}}`,
serialised deterministically (sorted keys, no spaces, UTF-8) so a retried send carries
the same bytes. Headers: `webhook-id`, `webhook-timestamp` (integer seconds),
`webhook-signature` (`v1,<base64 HMAC-SHA256>` per active secret, space-separated),
made with the `standardwebhooks` package itself.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from core.alert_payload import alert_links

USER_AGENT = "hdtickets-alerts-webhooks/1.0"


def render_body(payload: Mapping[str, object], public_url: str | None = None) -> bytes:
    """Build the webhook body from a notification payload (the shared schema).

    An alert's event whose payload has no `links` (those written by an acknowledgement,
    a snooze or a resolve, which know no URL) gets the alert's under `public_url`.

    Raises:
        ValueError: the payload lacks `event_type` or `timestamp`, or is not JSON.
    """
    event_type = payload.get("event_type")
    timestamp = payload.get("timestamp")
    if not isinstance(event_type, str) or not isinstance(timestamp, str):
        raise ValueError("notification payload needs string event_type and timestamp")
    data = payload.get("data") or {}
    if isinstance(data, Mapping) and not data.get("links"):
        alert = data.get("alert")
        alert_id = alert.get("id") if isinstance(alert, Mapping) else None
        if isinstance(alert_id, int) and not isinstance(alert_id, bool):
            data = {**data, "links": alert_links(public_url, alert_id)}
    document = {"type": event_type, "timestamp": timestamp, "data": data}
    try:
        text = json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"notification payload is not JSON: {exc}") from exc
    return text.encode("utf-8")


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` value: one `v1,<sig>` per distinct secret, in order.

    Raises:
        ValueError: a secret is empty or not base64 (`whsec_` prefix optional).
    """
    when = datetime.fromtimestamp(timestamp, UTC)
    text = body.decode("utf-8")
    signatures: list[str] = []
    for secret in dict.fromkeys(secrets):
        try:
            signatures.append(Webhook(secret).sign(msg_id, when, text))
        except (binascii.Error, EmptyWebhookSecretError) as exc:
            raise ValueError("a webhook signing secret is not valid whsec_ base64") from exc
    if not signatures:
        raise ValueError("no webhook signing secret to sign with")
    return " ".join(signatures)


def render_headers(
    msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """Return every header of one webhook request.

    Args:
        msg_id: the notification's idempotency key; the same on every retry.
        timestamp: the send time, integer Unix seconds.
        body: the exact bytes sent (`render_body`).
        secrets: the endpoint's active secrets, newest first.
    """
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
