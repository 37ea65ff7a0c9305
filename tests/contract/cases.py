"""The channels of the contract test, each over its loopback fake, and how to script it.

Set-up copied from each adapter's own tests (tests/adapters/<platform>/); see
`test_channel_contract` for what each case promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from adapters.console.channel import ConsoleChannel
from adapters.telegram.channel import TelegramChannel, TelegramConfig
from adapters.twilio.channel_sms import TwilioSmsChannel
from adapters.twilio.channel_voice import TwilioVoiceChannel
from adapters.twilio.client import TwilioConfig
from adapters.webhook.channel import WebhookChannel
from adapters.webhook.secrets import generate_secret
from adapters.webhook.ssrf import SsrfPolicy
from core.clock import FakeClock, SystemClock
from core.domain import Button, ChannelKind, DeliveryReceipt, Level, OutboundMessage
from core.errors import PermanentDeliveryError, RecipientGone
from core.ports import Channel
from tests.fake_platforms.telegram import FakeBotApi
from tests.fake_platforms.twilio.server import FakeTwilio
from tests.fake_platforms.webhook_receiver import Reply, WebhookReceiver

WAIT_S = 5.0
RETRY_AFTER = 7
Script = Callable[[], str]  # scripts the fake's next answer; returns the address to send to


def scripting(action: Callable[[], object], address: str) -> Script:
    """A Script that runs `action` on the fake, then names `address`."""

    def script() -> str:
        action()
        return address

    return script


@dataclass
class ChannelCase:
    """One channel under test, its fake, and how to read and script that fake."""

    channel: Channel
    kind: ChannelKind
    address: str
    delivered: Callable[[], list[str]]  # ids of deliveries the platform holds, in order
    dedupes: bool  # a repeated key yields no second delivery (else: the same id again)
    reject: Script | None = None
    refusal: type[PermanentDeliveryError] = RecipientGone  # what `reject` must raise
    throttle: Script | None = None
    lose_response: Script | None = None
    edits: Callable[[], int] = lambda: 0
    extra: dict[str, object] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    def message(
        self, key: str = "n1", *, address: str | None = None, edit_of: DeliveryReceipt | None = None
    ) -> OutboundMessage:
        """A neutral alert (the common.md payload schema) for this case's channel."""
        title = "Rockies at Diamondbacks - $28 (your max $40)"
        body = "High priority (score 0.81): price under your max\n1,344 tickets left"
        payload: dict[str, object] = {
            "event_type": "alert.triggered" if edit_of is None else "alert.acknowledged",
            "timestamp": "2024-03-20T12:00:00+00:00",
            "title": title,
            "body": body,
            "buttons": [{"label": "Acknowledge", "action": "ack", "token": "tok-ack", "url": None}],
            "factors": [{"name": "price", "value": 0.8, "weight": 0.25, "reason": "30% under"}],
            "data": {"alert": {"id": 12, "level": 4}, "event": {"id": 3}, "market": {}},
            "edit_of": None,
            **self.extra,
        }
        return OutboundMessage(
            notification_id=41, idempotency_key=key, channel=self.kind,
            address=address or self.address, level=Level.HIGH, title=title, body=body,
            payload=payload, buttons=(Button("Acknowledge", "tok-ack"),), edit_of=edit_of,
        )  # fmt: skip


@contextlib.asynccontextmanager
async def console_case() -> AsyncIterator[ChannelCase]:
    out = io.StringIO()
    channel = ConsoleChannel(Console(file=out, width=120, color_system=None, highlight=False))
    yield ChannelCase(
        channel, ChannelKind.CONSOLE, "local",
        delivered=lambda: [p.message_id for p in channel.printed], dedupes=True,
        edits=lambda: out.getvalue().count("↻ updated"),
    )  # fmt: skip


@contextlib.asynccontextmanager
async def webhook_case() -> AsyncIterator[ChannelCase]:
    async def secrets(endpoint_id: int) -> list[str]:
        return [secret]

    secret = generate_secret()
    async with WebhookReceiver() as receiver:
        channel = WebhookChannel(secrets, SsrfPolicy.parse(["127.0.0.1"]), timeout_s=0.5)

        def script(reply: Reply) -> Script:
            return scripting(lambda: receiver.script(reply), receiver.url)

        try:
            yield ChannelCase(
                channel, ChannelKind.WEBHOOK, receiver.url,
                delivered=lambda: [r.headers["webhook-id"] for r in receiver.delivered],
                dedupes=False, reject=script(Reply(410, body="gone")),
                throttle=script(Reply(429, {"Retry-After": str(RETRY_AFTER)})),
                lose_response=script(Reply(204, delay_s=1.5)),
                extra={"webhook_endpoint_id": 7},
            )  # fmt: skip
        finally:
            await channel.close()
        assert receiver.unexpected == []


class _SteppingClock:
    """A second passes between Bot API calls, so the fake's flood limits never trip."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@contextlib.asynccontextmanager
async def telegram_case() -> AsyncIterator[ChannelCase]:
    async with FakeBotApi(clock=_SteppingClock()) as api:
        config = TelegramConfig(token=api.token, api_url=api.base_url)
        channel = TelegramChannel(config, None, SystemClock())

        def script(status: int, text: str, retry_after: int | None = None) -> Script:
            return scripting(
                lambda: api.fail("sendMessage", status, text, retry_after=retry_after), "900"
            )

        yield ChannelCase(
            channel, ChannelKind.TELEGRAM, "900",
            delivered=lambda: [str(m.message_id) for m in api.sent], dedupes=True,
            reject=script(400, "Bad Request: chat not found"),
            throttle=script(429, f"Too Many Requests: retry after {RETRY_AFTER}", RETRY_AFTER),
            edits=lambda: sum(m.edits for m in api.sent),
        )  # fmt: skip
        assert api.unexpected == []


def _twilio_case(kind: ChannelKind) -> Callable[[], contextlib.AbstractAsyncContextManager[Any]]:
    @contextlib.asynccontextmanager
    async def case() -> AsyncIterator[ChannelCase]:
        async def numbers(address: str) -> tuple[str, str]:
            return {"cp1": ("+15551234567", "+1•••••4567"), "cp9": ("", "•")}[address]

        fake = FakeTwilio()
        config = TwilioConfig(fake.account_sid, fake.auth_token, "+14155550100",
                              await fake.start(), timeout_s=0.5)  # fmt: skip

        async def opted_out(address: str) -> None:
            raise AssertionError(f"no contract case opts {address} out")

        channel: TwilioSmsChannel | TwilioVoiceChannel = (
            TwilioSmsChannel(config, numbers, FakeClock(), opted_out)
            if kind is ChannelKind.SMS
            else TwilioVoiceChannel(config, numbers, FakeClock())
        )
        store = fake.messages if kind is ChannelKind.SMS else fake.calls
        try:
            yield ChannelCase(
                channel, kind, "cp1", delivered=lambda: [r["sid"] for r in store], dedupes=True,
                reject=lambda: "cp9",  # the platform refuses a request without a To number
                refusal=PermanentDeliveryError,
                throttle=scripting(lambda: fake.fail_next("429", RETRY_AFTER), "cp1"),
                lose_response=scripting(lambda: fake.fail_next("timeout", 1.5), "cp1"),
            )  # fmt: skip
        finally:
            await channel.close()
            await fake.stop()
        assert fake.unexpected == []

    return case


CASES = {
    "console-errors_and_lost_response_na_nothing_remote": console_case,
    "webhook": webhook_case,
    "telegram-lost_response_na_fake_cannot_time_out": telegram_case,
    "sms": _twilio_case(ChannelKind.SMS),
    "voice": _twilio_case(ChannelKind.VOICE),
}
