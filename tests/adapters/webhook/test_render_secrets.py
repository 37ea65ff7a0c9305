"""Pure parts of the webhook adapter: body, signatures, Retry-After, secrets at rest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from adapters.webhook.errors import parse_retry_after
from adapters.webhook.render import render_body, render_headers
from adapters.webhook.secrets import (
    EndpointSecrets,
    SecretBox,
    SecretUnreadable,
    active_secrets,
    generate_secret,
    new_entry,
    rotate_entries,
)
from core.clock import FakeClock
from core.db.models import WebhookEndpoint
from core.errors import PermanentDeliveryError, RecipientGone

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


def test_body_is_deterministic_and_holds_only_type_timestamp_data() -> None:
    one = {"event_type": "alert.resolved", "timestamp": "t", "data": {"b": 1, "a": "é"}, "x": 1}
    two = {"data": {"a": "é", "b": 1}, "timestamp": "t", "event_type": "alert.resolved"}

    assert render_body(one) == render_body(two)
    assert (
        render_body(one)
        == '{"data":{"a":"é","b":1},"timestamp":"t","type":"alert.resolved"}'.encode()
    )


def test_an_alert_event_without_links_gets_the_alerts_under_the_public_url() -> None:
    """An acknowledgement, snooze or resolve is written where no URL is known: the body
    carries the alert's links all the same, as alert.triggered does."""
    acked = {"event_type": "alert.acknowledged", "timestamp": "t",
             "data": {"alert": {"id": 12}, "links": {}}}  # fmt: skip

    body = json.loads(render_body(acked, "https://alerts.example/"))

    assert body["data"]["links"] == {
        "alert": "https://alerts.example/api/v1/alerts/12",
        "timeline": "https://alerts.example/api/v1/alerts/12/timeline",
    }
    own = {**acked, "data": {"alert": {"id": 12}, "links": {"listing": "https://x/l"}}}
    assert json.loads(render_body(own, "https://alerts.example"))["data"]["links"] == {
        "listing": "https://x/l"
    }
    test = {"event_type": "test", "timestamp": "t", "data": {"alert": None, "links": {}}}
    assert json.loads(render_body(test, "https://alerts.example"))["data"]["links"] == {}


def test_headers_verify_with_standardwebhooks_for_each_secret() -> None:
    secrets = [generate_secret(), generate_secret()]
    body = render_body({"event_type": "test", "timestamp": "t", "data": {}})
    stamp = int(datetime.now(UTC).timestamp())  # the oracle checks against the wall clock

    headers = render_headers("msg_1", stamp, body, secrets)

    for secret in secrets:
        assert Webhook(secret).verify(body, headers) == {
            "type": "test",
            "timestamp": "t",
            "data": {},
        }
    tampered = body.replace(b"test", b"tent")
    with pytest.raises(WebhookVerificationError):
        Webhook(secrets[0]).verify(tampered, headers)


def test_duplicate_secrets_sign_once() -> None:
    secret = generate_secret()
    headers = render_headers("m", 1_700_000_000, b"{}", [secret, secret])
    assert len(headers["webhook-signature"].split(" ")) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        (format_datetime(NOW + timedelta(seconds=45), usegmt=True), 45.0),
        (format_datetime(NOW - timedelta(seconds=45), usegmt=True), 0.0),
    ],
)
def test_retry_after_seconds_or_http_date(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_secret_box_round_trip_and_wrong_key() -> None:
    box = SecretBox(b"a development key")
    token = box.encrypt("whsec_abc")

    assert "whsec" not in token
    assert box.decrypt(token) == "whsec_abc"
    with pytest.raises(SecretUnreadable):
        SecretBox(b"another key").decrypt(token)


def test_rotation_keeps_old_secrets_for_the_grace_period() -> None:
    box = SecretBox(b"k")
    first = generate_secret()
    entries = [new_entry(box, first, NOW)]

    rotated, second = rotate_entries(entries, box, NOW, timedelta(hours=2))

    assert second != first
    assert active_secrets(rotated, box, NOW) == [second, first]
    assert active_secrets(rotated, box, NOW + timedelta(hours=2, seconds=1)) == [second]
    again, third = rotate_entries(rotated, box, NOW + timedelta(hours=1), timedelta(days=1))
    # the first keeps its earlier expiry; the second now lapses after a day
    assert active_secrets(again, box, NOW + timedelta(hours=1, minutes=30)) == [
        third,
        second,
        first,
    ]
    assert active_secrets(again, box, NOW + timedelta(hours=3)) == [third, second]
    assert active_secrets(again, box, NOW + timedelta(days=2)) == [third]


def test_unreadable_old_secret_is_skipped_once_a_readable_one_exists() -> None:
    old = [new_entry(SecretBox(b"old key"), generate_secret(), NOW)]
    box = SecretBox(b"new key")

    with pytest.raises(SecretUnreadable):
        active_secrets(old, box, NOW)
    rotated, fresh = rotate_entries(old, box, NOW)
    assert active_secrets(rotated, box, NOW) == [fresh]


async def test_endpoint_secrets_reads_the_database(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    box = SecretBox(b"k")
    first = generate_secret()
    entries, second = rotate_entries([new_entry(box, first, clock.now())], box, clock.now())
    async with sessions() as session, session.begin():
        live = WebhookEndpoint(url="https://a.example/h", secrets=entries, event_types=[])
        gone = WebhookEndpoint(
            url="https://b.example/h", secrets=entries, active=False, disabled_reason="410 Gone"
        )
        empty = WebhookEndpoint(url="https://c.example/h", secrets=[], event_types=[])
        session.add_all([live, gone, empty])
    resolve = EndpointSecrets(sessions, box, clock)

    assert await resolve(live.id) == [second, first]
    clock.advance(hours=25)
    assert await resolve(live.id) == [second]
    with pytest.raises(PermanentDeliveryError, match=r"disabled \(410 Gone\); enable it") as info:
        await resolve(gone.id)
    assert not isinstance(info.value, RecipientGone)
    with pytest.raises(RecipientGone, match="no longer exists"):
        await resolve(9999)
    with pytest.raises(PermanentDeliveryError, match="no active signing secret"):
        await resolve(empty.id)
    with pytest.raises(PermanentDeliveryError, match="cannot be decrypted"):
        await EndpointSecrets(sessions, SecretBox(b"changed"), clock)(live.id)
