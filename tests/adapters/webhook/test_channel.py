"""WebhookChannel over real loopback HTTP, with `standardwebhooks` as the independent oracle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from adapters.webhook.channel import WebhookChannel, make_session
from adapters.webhook.secrets import generate_secret
from adapters.webhook.ssrf import GuardedConnector, SsrfPolicy
from core.clock import FakeClock
from core.domain import Capability, ChannelKind, Level, OutboundMessage
from core.errors import PermanentDeliveryError, RecipientGone, RetryableDeliveryError
from core.ports import Channel
from tests.fake_platforms.webhook_receiver import FakeResolver, Reply, WebhookReceiver

LOOPBACK = SsrfPolicy.parse(["127.0.0.1"])
ENDPOINT_ID = 7
NEW_SECRET = generate_secret()
OLD_SECRET = generate_secret()


class StubSecrets:
    """Answers the channel's secret look-ups from a fixed table, recording the ids asked."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = list(secrets)
        self.asked: list[int] = []

    async def __call__(self, endpoint_id: int) -> list[str]:
        self.asked.append(endpoint_id)
        return self.secrets


def message(
    url: str, *, key: str = "ntf_1", event_type: str = "alert.triggered"
) -> OutboundMessage:
    payload: dict[str, object] = {
        "event_type": event_type,
        "timestamp": "2024-03-20T17:01:00Z",
        "title": "Rockies at Diamondbacks: $28 (your max $40)",
        "body": "315 listings\n72% chance the cheapest price drops 5% within 3 days",
        "buttons": [{"label": "Acknowledge", "action": "ack", "token": "t", "url": None}],
        "factors": [{"name": "price", "value": 0.8, "weight": 0.25, "reason": "30% under"}],
        "data": {
            "alert": {"id": 12, "level": 4, "status": "open"},
            "event": {"id": 3, "name": "Rockies at Diamondbacks", "venue": "Chase Field"},
            "market": {"min_price": 28.0, "listing_count": 315},
            "links": {"alert": "http://127.0.0.1:8080/alerts/12"},
        },
        "edit_of": None,
        "webhook_endpoint_id": ENDPOINT_ID,
    }
    return OutboundMessage(
        notification_id=41,
        idempotency_key=key,
        channel=ChannelKind.WEBHOOK,
        address=url,
        level=Level.HIGH,
        title=str(payload["title"]),
        body=str(payload["body"]),
        payload=payload,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as fake:
        yield fake
        assert fake.unexpected == []


@pytest.fixture
async def channel() -> AsyncIterator[WebhookChannel]:
    ch = WebhookChannel(StubSecrets([NEW_SECRET]), LOOPBACK, timeout_s=2.0)
    try:
        yield ch
    finally:
        await ch.close()


async def test_delivers_the_design_body_signed_per_standard_webhooks(
    channel: WebhookChannel, receiver: WebhookReceiver
) -> None:
    receipt = await channel.send(message(receiver.url))

    [request] = receiver.requests
    body = request.verify(NEW_SECRET)  # the independent oracle
    assert body == {
        "type": "alert.triggered",
        "timestamp": "2024-03-20T17:01:00Z",
        "data": message(receiver.url).payload["data"],
    }
    assert request.body == json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert request.headers["webhook-id"] == "ntf_1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("hdtickets-alerts")
    assert request.headers["webhook-timestamp"].isdigit()
    assert receipt.channel is ChannelKind.WEBHOOK
    assert receipt.message_id == "ntf_1"
    assert receipt.address == receiver.url
    with pytest.raises(WebhookVerificationError):
        request.verify(OLD_SECRET)


async def test_is_a_channel_with_no_capabilities() -> None:
    ch = WebhookChannel(StubSecrets([NEW_SECRET]), LOOPBACK)
    assert isinstance(ch, Channel)
    assert ch.name == "webhook"
    assert ch.capabilities == Capability.NONE


async def test_signs_with_every_secret_during_rotation(receiver: WebhookReceiver) -> None:
    secrets = StubSecrets([NEW_SECRET, OLD_SECRET])
    ch = WebhookChannel(secrets, LOOPBACK)
    try:
        await ch.send(message(receiver.url))
    finally:
        await ch.close()

    [request] = receiver.requests
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(sig.startswith("v1,") for sig in signatures)
    assert request.verify(NEW_SECRET) == request.verify(OLD_SECRET)
    with pytest.raises(WebhookVerificationError):
        request.verify(generate_secret())
    assert secrets.asked == [ENDPOINT_ID]


async def test_webhook_id_is_stable_across_a_retried_send(
    channel: WebhookChannel, receiver: WebhookReceiver
) -> None:
    receiver.script(Reply(500, body="database down"), Reply(204))
    sent = message(receiver.url, key="ntf_retry_9")

    with pytest.raises(RetryableDeliveryError, match="answered 500: database down"):
        await channel.send(sent)
    receipt = await channel.send(sent)

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "ntf_retry_9"
    assert first.body == second.body
    assert second.verify(NEW_SECRET)["type"] == "alert.triggered"
    assert receipt.message_id == "ntf_retry_9"


@pytest.mark.parametrize("retry_after", ["7", "120"])
async def test_429_surfaces_retry_after_exactly(
    channel: WebhookChannel, receiver: WebhookReceiver, retry_after: str
) -> None:
    receiver.script(Reply(429, {"Retry-After": retry_after}, "slow down"))

    with pytest.raises(RetryableDeliveryError) as info:
        await channel.send(message(receiver.url))

    assert info.value.retry_after == float(retry_after)
    assert "429" in str(info.value)


async def test_503_with_an_http_date_retry_after(receiver: WebhookReceiver) -> None:
    clock = FakeClock()
    when = format_datetime(clock.now() + timedelta(seconds=90), usegmt=True)
    receiver.script(Reply(503, {"Retry-After": when}))
    ch = WebhookChannel(StubSecrets([NEW_SECRET]), LOOPBACK, clock=clock)
    try:
        with pytest.raises(RetryableDeliveryError) as info:
            await ch.send(message(receiver.url))
    finally:
        await ch.close()

    assert info.value.retry_after == 90.0


async def test_429_without_retry_after_leaves_backoff_to_the_outbox(
    channel: WebhookChannel, receiver: WebhookReceiver
) -> None:
    receiver.script(Reply(429))

    with pytest.raises(RetryableDeliveryError) as info:
        await channel.send(message(receiver.url))

    assert info.value.retry_after is None


async def test_slow_endpoint_times_out_as_retryable(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(204, delay_s=5.0))
    ch = WebhookChannel(StubSecrets([NEW_SECRET]), LOOPBACK, timeout_s=0.2)
    try:
        async with asyncio.timeout(3):
            with pytest.raises(RetryableDeliveryError, match=r"did not answer within 0\.2 s"):
                await ch.send(message(receiver.url))
    finally:
        await ch.close()

    assert len(receiver.requests) == 1


async def test_410_is_recipient_gone(channel: WebhookChannel, receiver: WebhookReceiver) -> None:
    receiver.script(Reply(410, body="endpoint deleted"))

    with pytest.raises(RecipientGone, match="410 Gone: endpoint deleted"):
        await channel.send(message(receiver.url))


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_other_4xx_is_permanent_with_status_and_reason(
    channel: WebhookChannel, receiver: WebhookReceiver, status: int
) -> None:
    receiver.script(Reply(status, body='{"error": "bad   payload"}'))

    with pytest.raises(PermanentDeliveryError) as info:
        await channel.send(message(receiver.url))

    assert not isinstance(info.value, RecipientGone)
    assert f"answered {status}: " in str(info.value)
    assert '{"error": "bad payload"}' in str(info.value)


async def test_redirect_is_never_followed(
    channel: WebhookChannel, receiver: WebhookReceiver
) -> None:
    elsewhere = receiver.url.replace("/hook", "/elsewhere")
    receiver.script(Reply.redirect(elsewhere))

    with pytest.raises(PermanentDeliveryError, match=r"302 redirect to .*/elsewhere"):
        await channel.send(message(receiver.url))

    assert len(receiver.requests) == 1  # and nothing reached /elsewhere (fixture checks)


async def test_connection_refused_is_retryable(channel: WebhookChannel) -> None:
    async with WebhookReceiver() as gone:
        url = gone.url
    with pytest.raises(RetryableDeliveryError, match="unreachable"):
        await channel.send(message(url))


async def test_loopback_is_refused_without_the_allow_list(receiver: WebhookReceiver) -> None:
    ch = WebhookChannel(StubSecrets([NEW_SECRET]), SsrfPolicy())
    try:
        with pytest.raises(PermanentDeliveryError, match=r"a loopback address 127\.0\.0\.1"):
            await ch.send(message(receiver.url))
    finally:
        await ch.close()

    assert receiver.requests == []


async def test_host_name_connects_only_through_the_guarded_resolver(
    receiver: WebhookReceiver,
) -> None:
    dns = FakeResolver({"hooks.example.test": ["127.0.0.1"], "evil.example.test": ["10.0.0.1"]})
    session = aiohttp.ClientSession(connector=GuardedConnector(LOOPBACK, inner_resolver=dns))
    ch = WebhookChannel(StubSecrets([NEW_SECRET]), LOOPBACK, session=session)
    try:
        good = receiver.url.replace("127.0.0.1", "hooks.example.test")
        await ch.send(message(good))
        with pytest.raises(PermanentDeliveryError, match=r"a private address 10\.0\.0\.1"):
            await ch.send(message(good.replace("hooks.", "evil.")))
    finally:
        await session.close()

    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["host"].startswith("hooks.example.test")
    assert dns.asked == ["hooks.example.test", "evil.example.test"]


async def test_dns_answer_resolving_to_loopback_is_blocked_without_allow_list(
    receiver: WebhookReceiver,
) -> None:
    dns = FakeResolver({"hooks.example.test": ["127.0.0.1"]})
    session = aiohttp.ClientSession(connector=GuardedConnector(SsrfPolicy(), inner_resolver=dns))
    ch = WebhookChannel(StubSecrets([NEW_SECRET]), SsrfPolicy(), session=session)
    try:
        with pytest.raises(PermanentDeliveryError, match="resolves to a loopback address"):
            await ch.send(message(receiver.url.replace("127.0.0.1", "hooks.example.test")))
    finally:
        await session.close()

    assert receiver.requests == []


async def test_refuses_a_session_without_the_guard() -> None:
    async with aiohttp.ClientSession() as plain:
        with pytest.raises(ValueError, match="GuardedConnector"):
            WebhookChannel(StubSecrets([NEW_SECRET]), LOOPBACK, session=plain)
    guarded = make_session(LOOPBACK)
    try:
        WebhookChannel(StubSecrets([NEW_SECRET]), LOOPBACK, session=guarded)
    finally:
        await guarded.close()


@pytest.mark.parametrize(
    ("payload_change", "words"),
    [
        ({"webhook_endpoint_id": None}, "has no webhook_endpoint_id"),
        ({"event_type": None}, "needs string event_type and timestamp"),
        ({"data": {"price": float("nan")}}, "not JSON"),
    ],
)
async def test_unsendable_messages_are_permanent(
    channel: WebhookChannel,
    receiver: WebhookReceiver,
    payload_change: dict[str, object],
    words: str,
) -> None:
    base = message(receiver.url)
    broken = OutboundMessage(
        notification_id=base.notification_id,
        idempotency_key=base.idempotency_key,
        channel=base.channel,
        address=base.address,
        level=base.level,
        title=base.title,
        body=base.body,
        payload={**base.payload, **payload_change},
    )

    with pytest.raises(PermanentDeliveryError, match=words):
        await channel.send(broken)

    assert receiver.requests == []


async def test_a_stored_url_whose_host_does_not_decode_is_permanent(
    channel: WebhookChannel,
) -> None:
    broken = message("https://xn--a.example.com/hook")

    with pytest.raises(PermanentDeliveryError, match="webhook URL is not a valid URL"):
        await channel.send(broken)


async def test_endpoint_without_secrets_is_permanent(receiver: WebhookReceiver) -> None:
    ch = WebhookChannel(StubSecrets([]), LOOPBACK)
    try:
        with pytest.raises(PermanentDeliveryError, match="no webhook signing secret"):
            await ch.send(message(receiver.url))
    finally:
        await ch.close()


async def test_run_waits_until_cancelled_then_closes_its_session(
    receiver: WebhookReceiver,
) -> None:
    ch = WebhookChannel(StubSecrets([NEW_SECRET]), LOOPBACK)
    await ch.send(message(receiver.url))
    task = asyncio.create_task(ch.run(), name="webhook-channel")
    await asyncio.sleep(0)
    assert not task.done()

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await ch.send(message(receiver.url, key="ntf_2"))  # reopens a session when used again
    await ch.close()
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["ntf_1", "ntf_2"]


async def test_a_closed_caller_session_is_retryable_not_a_crash(receiver: WebhookReceiver) -> None:
    session = make_session(LOOPBACK)
    ch = WebhookChannel(StubSecrets([NEW_SECRET]), LOOPBACK, session=session)
    await session.close()

    with pytest.raises(RetryableDeliveryError, match="session is closed"):
        await ch.send(message(receiver.url))
    await ch.close()  # does not close what it does not own
    assert receiver.requests == []


async def test_receiver_rate_limit_answers_429_with_retry_after() -> None:
    async with WebhookReceiver(limit_per_s=2, burst=2) as limited:
        ch = WebhookChannel(StubSecrets([NEW_SECRET]), LOOPBACK)
        try:
            await ch.send(message(limited.url, key="a"))
            await ch.send(message(limited.url, key="b"))
            with pytest.raises(RetryableDeliveryError) as info:
                await ch.send(message(limited.url, key="c"))
        finally:
            await ch.close()

    assert info.value.retry_after == 1.0
    assert limited.http_429 == 1
    assert [r.headers["webhook-id"] for r in limited.delivered] == ["a", "b"]
