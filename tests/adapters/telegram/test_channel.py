"""TelegramChannel.send against the fake: alerts, charts, edits in place, error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.telegram.channel import TelegramChannel, TelegramConfig
from adapters.telegram.render import MAX_CAPTION, PriceChart, render_alert
from core.clock import SystemClock
from core.domain import Button, ChannelKind, DeliveryReceipt, Level, OutboundMessage
from core.errors import PermanentDeliveryError, RecipientGone, RetryableDeliveryError
from tests.adapters.telegram.conftest import SteppingClock
from tests.fake_platforms.telegram import FakeBotApi
from tests.fake_platforms.telegram.markdown import parse
from tests.fake_platforms.telegram.server import ApiError

SENTENCE = "72% chance the cheapest price drops 5% within 3 days — wait"
LABELS = ["Acknowledge", "Snooze 1h", "Snooze until cheaper", "Mute event", "Bought"]
EVENT_PAGE = "https://tickets.example/rockies-at-diamondbacks/2024-03-31"


@pytest.fixture
async def sent() -> AsyncIterator[tuple[FakeBotApi, TelegramChannel, list[bytes]]]:
    charts: list[bytes] = []

    async def chart(request: PriceChart) -> bytes:
        shown = f"[{request.currency}|seats {request.seats_price}]"
        charts.append(
            b"\x89PNG" + request.title.encode() + shown.encode() + repr(request.outlook).encode()
        )
        return charts[-1]

    async with FakeBotApi(clock=SteppingClock()) as api:
        config = TelegramConfig(token=api.token, api_url=api.base_url)
        channel = TelegramChannel(config, None, SystemClock(), chart=chart)
        task = asyncio.create_task(channel.run())
        async with asyncio.timeout(5):
            await channel.ready.wait()
        try:
            yield api, channel, charts
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert api.unexpected == []


def alert(
    n: int,
    *,
    level: Level = Level.MEDIUM,
    history: bool = False,
    edit_of: DeliveryReceipt | None = None,
    address: str = "900",
    page: str | None = None,
    currency: str | None = None,
) -> OutboundMessage:
    now = datetime(2024, 3, 20, 12, tzinfo=UTC)
    market: dict[str, object] = {"min_price": 28.0, "currency": currency}
    event: dict[str, object] = {"starts_at": (now + timedelta(hours=48)).isoformat()}
    if page is not None:
        event["url"] = page
    if history:
        hours = range(6)
        market["history"] = [[(now - timedelta(hours=h)).isoformat(), 40 - h] for h in hours]
    return OutboundMessage(
        notification_id=n,
        idempotency_key=f"k{n}",
        channel=ChannelKind.TELEGRAM,
        address=address,
        level=level,
        title="🔥 Rockies at Diamondbacks — $28 (your max $40)" if edit_of is None
        else "✅ Acknowledged: Rockies at Diamondbacks — $28 (your max $40)",
        body="\n".join(
            (["Acknowledged via telegram"] if edit_of else [])
            + ["High priority (score 0.81): price under your max",
               "Chase Field, Phoenix · Sun 31 Mar 13:10 MST", "1,344 tickets left", SENTENCE]
        ),
        payload={
            "data": {
                "market": market,
                "prediction": {"p10_72h": 24.0, "p50_72h": 27.0, "p90_72h": 31.0},
                "event": event,
                "recommendation": {"sentence": SENTENCE},
                "watch": {"max_price": 40.0},
                "links": {"alert": "https://hdtickets.example/api/v1/alerts/7"},
            }
        },
        buttons=tuple(Button(label, f"{'T' * 31}{i}") for i, label in enumerate(LABELS)),
        edit_of=edit_of,
    )  # fmt: skip


async def test_alert_has_its_text_keyboard_and_open_link(sent) -> None:  # type: ignore[no-untyped-def]
    api, channel, charts = sent
    receipt = await channel.send(alert(1, page=EVENT_PAGE))

    [message] = api.sent
    assert receipt == DeliveryReceipt(ChannelKind.TELEGRAM, "900", str(message.message_id))
    assert message.plain.startswith("🔥 Rockies at Diamondbacks — $28 (your max $40)")
    assert "Sun 31 Mar 13:10 MST" in message.plain and "1,344 tickets left" in message.plain
    assert SENTENCE in message.plain and not message.photo and charts == []
    assert [b["text"] for b in message.buttons()] == [*LABELS, "Open ↗"]
    assert message.buttons()[0]["callback_data"] == "a:" + "T" * 31 + "0"
    assert message.buttons()[-1]["url"] == EVENT_PAGE
    assert await channel.send(alert(1)) == receipt and len(api.sent) == 1  # idempotent


async def test_open_never_leads_to_the_alerts_api(sent) -> None:  # type: ignore[no-untyped-def]
    """`links.alert` is the REST API's JSON (401 without a token): no page for a person."""
    api, channel, _ = sent
    await channel.send(alert(1))

    [message] = api.sent
    assert [b["text"] for b in message.buttons()] == LABELS
    assert not any("url" in b for b in message.buttons())


async def test_state_change_edits_in_place_and_removes_the_keyboard(sent) -> None:  # type: ignore[no-untyped-def]
    api, channel, _ = sent
    first = await channel.send(alert(1))
    await channel.send(alert(2, edit_of=first))
    await channel.send(alert(3, edit_of=first))  # "message is not modified" is no failure

    [message] = api.sent
    assert message.edits == 1 and message.keyboard is None
    assert (
        message.plain.startswith("✅ Acknowledged") and "Acknowledged via telegram" in message.plain
    )


@pytest.mark.parametrize("level", [Level.MEDIUM, Level.HIGH], ids=["text", "photo"])
async def test_the_edit_of_a_message_the_person_deleted_is_done_not_failed(  # type: ignore[no-untyped-def]
    sent, caplog: pytest.LogCaptureFixture, level: Level
) -> None:
    """Telegram answers 400 "message to edit not found"; read as a permanent failure, core
    failed the edit over, and a new "✅ Acknowledged …" came in another chat about a
    message the person had deleted on purpose."""
    caplog.set_level(logging.INFO)
    api, channel, _ = sent
    first = await channel.send(alert(1, level=level, history=True))
    [message] = api.sent
    assert message.photo == (level == Level.HIGH)
    api.delete(message)

    receipt = await channel.send(alert(2, edit_of=first))

    assert receipt == first and api.sent == [message] and message.edits == 0
    [edit] = api.calls_of("editMessageCaption" if message.photo else "editMessageText")
    assert edit.status == 400
    [record] = [r for r in caplog.records if r.name.startswith("adapters")]
    assert record.levelno == logging.INFO and "is gone (deleted)" in record.getMessage()


async def test_high_levels_with_history_come_with_a_chart(sent) -> None:  # type: ignore[no-untyped-def]
    api, channel, charts = sent
    receipt = await channel.send(alert(1, level=Level.HIGH, history=True))
    await channel.send(alert(2, level=Level.MEDIUM, history=True))
    await channel.send(alert(3, edit_of=receipt))

    photo, text = api.sent
    assert photo.photo and receipt.detail == "photo" and len(charts) == 1
    assert api.calls_of("sendPhoto")[0].params["photo"] == charts[0]
    # The forecast band runs to the event's start (48 h), sooner than the 72 h horizon.
    starts = datetime(2024, 3, 22, 12, tzinfo=UTC)
    assert charts[0].endswith(repr((starts, 24.0, 27.0, 31.0)).encode())
    assert b"[None|" in charts[0]  # a payload without a currency: the axis says "Price"
    assert b"|seats None]" in charts[0]  # the alert's price is the event's cheapest
    assert not text.photo
    assert api.calls_of("editMessageCaption") and photo.keyboard is None


async def test_a_group_that_allows_no_photos_gets_its_alert_as_text(sent) -> None:  # type: ignore[no-untyped-def]
    """A group may keep members, the bot too, from sending photos: the chart was refused
    (400), the most urgent alerts failed there and went elsewhere; the text alone fits."""
    api, channel, _ = sent
    api.no_photos.add("-100900")
    high = alert(1, level=Level.HIGH, history=True, address="-100900")

    receipt = await channel.send(high)
    await channel.send(alert(2, edit_of=receipt, address="-100900"))

    [message] = api.chat("-100900")
    assert not message.photo and receipt.detail is None
    assert message.history[0] == parse(render_alert(replace(high, level=Level.LOW)).text)
    assert message.plain.startswith("✅ Acknowledged") and api.calls_of("editMessageText")


async def test_the_chart_is_drawn_in_the_alerts_currency(sent) -> None:  # type: ignore[no-untyped-def]
    """`data.market.currency` reaches the chart renderer: a GBP event's axis says GBP,
    not "Price"."""
    api, channel, charts = sent
    await channel.send(alert(1, level=Level.HIGH, history=True, currency="GBP"))

    [photo] = api.sent
    assert photo.photo and len(charts) == 1 and b"[GBP|" in charts[0]


async def test_a_zone_alerts_chart_marks_its_seats_apart_from_the_events_cheapest(sent) -> None:  # type: ignore[no-untyped-def]
    """The chart's line is the event's cheapest ticket ($28); a zone watch alerts on its
    seats at $45, which the chart marks on their own (it drew only the $28 line)."""
    api, channel, charts = sent
    message = alert(1, level=Level.HIGH, history=True)
    message.payload["data"]["alert"] = {"id": 1, "price": 45.0}
    await channel.send(message)

    [photo] = api.sent
    assert photo.photo and len(charts) == 1 and b"|seats 45.0]" in charts[0]


@pytest.mark.parametrize(
    ("status", "description", "retry_after", "error"),
    [
        (429, "Too Many Requests: retry after 7", 7, RetryableDeliveryError),
        (403, "Forbidden: bot was blocked by the user", None, RecipientGone),
        (403, "Forbidden: user is deactivated", None, RecipientGone),
        (400, "Bad Request: chat not found", None, RecipientGone),
        (403, "Forbidden: bot was kicked from the group chat", None, RecipientGone),
        (403, "Forbidden: bot was kicked from the supergroup chat", None, RecipientGone),
        (403, "Forbidden: bot is not a member of the supergroup chat", None, RecipientGone),
        (403, "Forbidden: bot is not a member of the channel chat", None, RecipientGone),
        (403, "Forbidden: group chat was deactivated", None, RecipientGone),
        (400, "Bad Request: group chat was deactivated", None, RecipientGone),
        (403, "Forbidden: the group chat was deleted", None, RecipientGone),
        (403, "Forbidden: bot can't send messages to bots", None, PermanentDeliveryError),
        (400, "Bad Request: can't parse entities: Character '.' is reserved", None,
         PermanentDeliveryError),
        (502, "Bad Gateway", None, RetryableDeliveryError),
        (500, "Internal Server Error", None, RetryableDeliveryError),
    ],
)  # fmt: skip
async def test_errors_map_to_delivery_errors(  # type: ignore[no-untyped-def]
    sent, status: int, description: str, retry_after: int | None, error: type[Exception]
) -> None:
    api, channel, _ = sent
    api.fail("sendMessage", status, description, retry_after=retry_after)

    with pytest.raises(error) as caught:
        await channel.send(alert(1))

    if retry_after is not None:
        assert caught.value.retry_after == 7.0  # type: ignore[attr-defined]
    if error is PermanentDeliveryError:
        assert not isinstance(caught.value, RetryableDeliveryError | RecipientGone)
    assert (await channel.send(alert(1))).message_id  # the next try goes through


async def test_blocked_chat_in_the_fake_is_recipient_gone(sent) -> None:  # type: ignore[no-untyped-def]
    api, channel, _ = sent
    api.blocked.add("900")
    with pytest.raises(RecipientGone, match="bot was blocked by the user"):
        await channel.send(alert(1))


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# 40 characters but 80 UTF-16 units a line: 20 lines are ~820 characters, ~1640 units.
EMOJI_BODY = "\n".join(f"{'🎟' * 39}{n % 10}" for n in range(20))


async def test_a_caption_full_of_emoji_fits_in_utf16_units(sent) -> None:  # type: ignore[no-untyped-def]
    """Telegram counts a caption's 1024 in UTF-16 units: an emoji is 2. Counted in
    characters, this caption passed our cut, was refused as too long, and the alert lost."""
    api, channel, _ = sent
    emoji = replace(alert(1, level=Level.HIGH, history=True), body=EMOJI_BODY)
    receipt = await channel.send(emoji)
    await channel.send(replace(alert(2, edit_of=receipt), body=EMOJI_BODY))

    [photo] = api.sent
    assert photo.photo and photo.edits == 1
    for caption in (photo.history[0], photo.plain):
        assert 900 < _units(caption) <= 1024 and caption.endswith("\n…")
        assert "🎟" * 39 in caption  # whole lines dropped, no pair split
        caption.encode("utf-16-le")  # a lone surrogate would raise


def test_the_fake_counts_a_caption_in_utf16_units_as_telegram_does() -> None:
    """So the test above can fail: 600 emoji are 600 characters but 1200 units."""
    api = FakeBotApi(clock=SteppingClock())
    with pytest.raises(ApiError, match="message caption is too long"):
        api._check({"chat_id": "900"}, "🎟" * 600, 1024, "caption")
    assert api._check({"chat_id": "900"}, "🎟" * 512, 1024, "caption")[0] == "🎟" * 512


def test_a_cut_caption_is_valid_markdown_within_the_limit() -> None:
    """Lines full of escapes and an italic sentence: whole lines go, never half an entity."""
    body = "\n".join([f"Seat {n}.{'🎟' * 30} (row-{n}) ${n}.00!" for n in range(40)] + [SENTENCE])
    message = replace(alert(1, level=Level.HIGH, history=True), body=body)
    text = render_alert(message).text
    assert _units(parse(text)) <= MAX_CAPTION and text.endswith("\n…")  # as Telegram counts
    assert parse(text).startswith("🔥 Rockies at Diamondbacks")


def test_an_alerts_chart_knows_when_the_event_starts() -> None:
    """The chart marks the start (`data.event.starts_at`), where a band that reaches it
    ends; a payload without one draws no mark."""
    message = alert(1, level=Level.HIGH, history=True)
    chart = render_alert(message).chart
    assert chart is not None and chart.starts_at == datetime(2024, 3, 22, 12, tzinfo=UTC)
    del message.payload["data"]["event"]["starts_at"]
    chart = render_alert(message).chart
    assert chart is not None and chart.starts_at is None


# Reasons full of MarkdownV2's reserved characters: each line shows ~50 characters but is
# sent as ~60, its dots, brackets and dashes escaped.
ESCAPED_REASONS = [
    f"• Price: down 12.5% (-${n}.00) in 24 h; row A-{n}, sec. 1{n}." for n in range(16)
]


async def test_a_caption_is_measured_as_shown_not_as_its_escaped_source(sent) -> None:  # type: ignore[no-untyped-def]
    """Telegram counts a caption's 1024 after parsing the entities: the backslashes and
    bold/italic marks do not count. Measured with them, a caption that fitted lost its last
    lines, the forecast sentence among them."""
    api, channel, _ = sent
    body = "\n".join([*ESCAPED_REASONS, SENTENCE])
    message = replace(alert(1, level=Level.HIGH, history=True), body=body)
    source = render_alert(replace(message, level=Level.LOW)).text  # uncut: no caption limit
    assert _units(parse(source)) <= MAX_CAPTION < _units(source)

    await channel.send(message)

    [photo] = api.sent
    assert photo.photo and photo.plain == parse(source)
    assert photo.plain.endswith(SENTENCE)
