"""Telegram failing for a while: start-up, polling, replies, toasts and admin checks go on."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.telegram.channel import TelegramChannel, TelegramConfig
from adapters.telegram.inbound import UNCONFIRMED
from bot.process import run_process
from core.db.models import Watch
from core.errors import PermanentDeliveryError
from tests.adapters.telegram.conftest import (
    WAIT_S,
    SteppingClock,
    TelegramStack,
    WaitlessClock,
    stack_settings,
)
from tests.adapters.telegram.helpers import add_event
from tests.adapters.telegram.test_channel import alert
from tests.fake_platforms.telegram import FakeBotApi

TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@contextlib.asynccontextmanager
async def running_alone(channel: TelegramChannel) -> AsyncIterator[asyncio.Task[None]]:
    """The channel's task without a container (no inbound side), cancelled at the end."""
    task = asyncio.create_task(channel.run(), name="channel-telegram")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- start-up and polling -------------------------------------------------------------------


async def test_start_up_retries_telegram_errors_and_reports_down_meanwhile() -> None:
    clock = WaitlessClock()
    async with FakeBotApi(clock=SteppingClock()) as api:
        api.fail("getMe", 502, "Bad Gateway")
        api.fail("setMyCommands", 429, "Too Many Requests: retry after 7", retry_after=7)
        api.fail("deleteWebhook", 500, "Internal Server Error")
        channel = TelegramChannel(TelegramConfig(api.token, api.base_url), None, clock)
        clock.hold()
        async with running_alone(channel) as task:
            await clock.wait_for_waits(1)
            assert channel.state() == "down" and not channel.ready.is_set()
            clock.release()
            async with asyncio.timeout(WAIT_S):
                await channel.ready.wait()

            assert channel.state() == "ok" and not task.done()
            first, menu, webhook = clock.waits
            assert menu == 7.0  # a 429's retry_after, exactly
            assert 0.0 <= first <= 1.0 and 0.0 <= webhook <= 1.0  # backoff from 1 s, jittered
            for method in ("getMe", "setMyCommands", "deleteWebhook"):
                assert [c.status for c in api.calls_of(method)][-1] == 200, method
            assert api.commands
        assert api.unexpected == []


async def test_a_429_on_get_updates_is_waited_out_and_polling_goes_on(tg: TelegramStack) -> None:
    tg.api.fail("getUpdates", 429, "Too Many Requests: retry after 3", retry_after=3)
    tg.api.fail("getUpdates", 502, "Bad Gateway")
    tg.clock.hold()
    # Ends the long poll in progress, if one is; the next poll gets the 429.
    await tg.api.push(tg.api.text_update(user=501, text="/help"))

    await tg.clock.wait_for_waits(1)
    assert tg.clock.waits == [3.0] and tg.channel.state() == "down"
    tg.clock.release()
    await tg.api.wait_for(lambda: bool(tg.api.chat(501)), WAIT_S)
    reply = await tg.say(501, "/help")

    assert "Commands" in reply.plain and tg.channel.state() == "ok"
    # The 502 right after: a backoff, its ceiling doubled (2 s) for a second failure in a row.
    assert len(tg.clock.waits) == 2 and 0.0 <= tg.clock.waits[1] <= 2.0
    assert [c.status for c in tg.api.calls_of("getUpdates")].count(429) == 1


async def test_messages_written_while_telegram_was_away_are_answered_in_order(
    tg: TelegramStack,
) -> None:
    """After an outage getUpdates brings a chat's messages in one batch. They were
    handled all at once: "/watches" (quick) was answered "Your watch list is empty"
    before "/watch" (slower) had made the watch, and the replies came in the wrong order."""
    await add_event(tg.container, "e1", "Rockies at Diamondbacks")
    tg.api.fail("getUpdates", 502, "Bad Gateway")
    tg.clock.hold()
    # Ends the long poll in progress, if one is; the next poll gets the 502.
    await tg.api.push(tg.api.text_update(user=503, text="small talk", chat=-100503))
    await tg.clock.wait_for_waits(1)
    written = ["/watch rockies under 40", "/watches", "/pause 1", "/watches", "/alerts"]
    for text in written:
        await tg.api.push(tg.api.text_update(user=503, text=text))

    tg.clock.release()
    await tg.api.wait_for(lambda: len(tg.api.chat(503)) == len(written), WAIT_S)

    replies = [m.plain.splitlines()[0] for m in tg.api.chat(503)]
    assert replies[0].startswith("Watching Rockies at Diamondbacks")
    assert replies[1:] == [
        "Your watches:",
        "Paused watch #1 (Rockies at Diamondbacks); resume 1 turns it back on.",
        "Your watches:",
        "No open alerts. Type watches to see what you are watching.",
    ]
    assert "— paused" in tg.api.chat(503)[3].plain


async def test_an_update_the_sdk_cannot_read_is_skipped_and_polling_goes_on(
    tg: TelegramStack, caplog: pytest.LogCaptureFixture
) -> None:
    """One update PTB cannot read (a `date` no datetime holds: OverflowError) made the whole
    getUpdates batch raise out of the polling loop: the channel's task died, and with the
    offset never past it the update came back after every restart, so nobody was answered."""
    tg.api.fail("getUpdates", 502, "Bad Gateway")
    tg.clock.hold()
    # Ends the long poll in progress, if one is; the next poll gets the 502.
    await tg.api.push(tg.api.text_update(user=508, text="small talk", chat=-100508))
    await tg.clock.wait_for_waits(1)
    await tg.api.push(tg.api.text_update(user=508, text="/help"))
    await tg.api.push(tg.api.text_update(user=509, text="/help", date=10**20))
    unreadable = tg.api.last_update_id
    await tg.api.push(tg.api.text_update(user=510, text="/help"))

    tg.clock.release()
    await tg.api.wait_for(lambda: bool(tg.api.chat(508)) and bool(tg.api.chat(510)), WAIT_S)
    reply = await tg.say(511, "/help")  # polling goes on

    assert "Commands" in reply.plain and tg.channel.state() == "ok"
    assert tg.api.chat(509) == []
    assert int(tg.api.calls_of("getUpdates")[-1].params["offset"]) > unreadable  # confirmed
    skipped = [r for r in caplog.records if f"update {unreadable} skipped" in r.getMessage()]
    assert [r.levelno for r in skipped] == [logging.WARNING]


async def test_replies_waiting_their_turn_spend_their_retry_budget_meanwhile(
    tg: TelegramStack,
) -> None:
    """A chat's updates wait for one another; a reply's 30 s of retries count from its
    update's arrival, so a backlog Telegram keeps refusing (429) is given up in about
    30 s, not in 30 s for each update in turn while every other chat waits."""
    tg.api.fail("sendMessage", 429, "Too Many Requests: retry after 20", retry_after=20, times=50)
    tg.api.fail("getUpdates", 502, "Bad Gateway")
    tg.clock.hold()
    await tg.api.push(tg.api.text_update(user=504, text="small talk", chat=-100504))
    await tg.clock.wait_for_waits(1)
    for _ in range(4):
        await tg.api.push(tg.api.text_update(user=504, text="/help"))

    tg.clock.release()
    await tg.handled.wait_for(tg.api.last_update_id, WAIT_S)

    refused = [c for c in tg.api.calls_of("sendMessage") if c.params["chat_id"] == "504"]
    # The first reply waits 20 s once; the others, 20 s older by then, give up at once.
    assert [c.status for c in refused] == [429] * 5
    assert tg.clock.waits[1:] == [20.0]


async def test_a_refused_token_stops_the_channel_but_not_its_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with FakeBotApi(clock=SteppingClock()) as api:
        wrong = "7000001:REVOKED-token"  # the fake answers 401 Unauthorized to any other token
        channel = TelegramChannel(TelegramConfig(wrong, api.base_url), None, WaitlessClock())
        async with running_alone(channel) as task:
            async with asyncio.timeout(WAIT_S):
                await channel.stopped.wait()

            assert not task.done() and channel.state() == "down" and not channel.ready.is_set()
            with pytest.raises(PermanentDeliveryError):  # alerts fail over to another chat
                await channel.send(alert(1))
        ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("adapters"))
        assert "HDT_TELEGRAM_BOT_TOKEN" in ours
        assert "REVOKED" not in ours  # PTB puts the refused token in its text


async def test_a_token_revoked_while_polling_stops_the_channel(tg: TelegramStack) -> None:
    tg.api.fail("getUpdates", 401, "Unauthorized")
    # Ends the long poll in progress, if one is; the next poll gets the 401.
    await tg.api.push(tg.api.text_update(user=502, text="/help"))

    async with asyncio.timeout(WAIT_S):
        await tg.channel.stopped.wait()
    assert tg.channel.state() == "down" and tg.clock.waits == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_process_lives_through_a_429_on_get_updates(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole process (its TaskGroup) is not torn down by one throttled poll."""
    monkeypatch.chdir(tmp_path)
    thresholds = gc.get_threshold()
    async with FakeBotApi(clock=SteppingClock()) as api:
        api.fail("getUpdates", 429, "Too Many Requests: retry after 1", retry_after=1)
        settings = stack_settings(api, sqlite_url, tmp_path, http_port=_free_port())
        process = asyncio.create_task(run_process(settings, chat=False))
        try:
            await api.wait_for(lambda: bool(api.calls_of("getUpdates")), WAIT_S)
            await api.push(api.text_update(user=503, text="/help"))
            await api.wait_for(lambda: bool(api.chat(503)), WAIT_S)

            assert "Commands" in api.chat(503)[0].plain and not process.done()
            assert api.calls_of("getUpdates")[0].status == 429
        finally:
            process.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await process
            gc.unfreeze()  # run_process tunes the collector for a long-lived process
            gc.set_threshold(*thresholds)


# --- replies --------------------------------------------------------------------------------


async def test_a_reply_is_retried_after_a_5xx_and_429s(tg: TelegramStack) -> None:
    tg.api.fail("sendMessage", 502, "Bad Gateway")
    first = await tg.say(504, "/tz America/Denver")
    tg.api.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, times=2)
    second = await tg.say(504, "/prefs")

    assert "America/Denver" in first.plain and "America/Denver" in second.plain
    backoff, *throttled = tg.clock.waits
    assert 0.0 <= backoff <= 1.0 and throttled == [1.0, 1.0]


async def test_a_reply_gives_up_when_telegram_wants_more_than_its_budget(
    tg: TelegramStack, caplog: pytest.LogCaptureFixture
) -> None:
    tg.api.fail("sendMessage", 429, "Too Many Requests: retry after 20", retry_after=20, times=2)
    await tg.push(tg.api.text_update(user=505, text="/tz America/Denver"))

    assert tg.api.chat(505) == [] and tg.clock.waits == [20.0]  # 20 + 20 s > 30 s: given up
    assert "telegram reply to chat 505" in caplog.text
    assert "America/Denver" in (await tg.say(505, "/prefs")).plain  # the command took effect


# --- button toasts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "description", "retry_after"),
    [(400, TOO_OLD, None), (429, "Too Many Requests: retry after 5", 5)],
)
async def test_when_the_toast_fails_the_answer_comes_as_a_message(
    tg: TelegramStack, status: int, description: str, retry_after: int | None
) -> None:
    await add_event(tg.container, "e1", "Rockies at Diamondbacks")
    watched = await tg.say(506, "/watch rockies under 40")
    watch_id = int(re.search(r"watch #(\d+)", watched.plain).group(1))  # type: ignore[union-attr]
    before = len(tg.api.chat(506))
    tg.api.fail("answerCallbackQuery", status, description, retry_after=retry_after)

    press = tg.api.press(user=506, message=watched, data=watched.buttons()[0]["callback_data"])
    await tg.push(press)

    [answer] = tg.api.chat(506)[before:]
    assert answer.plain.startswith(f"Paused watch #{watch_id}")
    async with tg.container.sessions() as session:
        assert not (await session.get(Watch, watch_id)).active  # type: ignore[union-attr]


# --- group admins ----------------------------------------------------------------------------


async def test_an_admin_check_telegram_cannot_answer_is_not_an_admin_refusal(
    tg: TelegramStack,
) -> None:
    await add_event(tg.container, "e2", "Rockies at Diamondbacks")
    group = -100800
    tg.api.make_admin(group, 507)
    tg.api.fail("getChatMember", 502, "Bad Gateway")

    unsure = await tg.say(507, "/watch rockies under 40", chat=group)
    again = await tg.say(507, "/watch rockies under 40", chat=group)

    assert unsure.plain == "⚠️ " + UNCONFIRMED
    assert "I'll alert this group" in again.plain
    async with tg.container.sessions() as session:
        assert len((await session.execute(select(Watch))).scalars().all()) == 1
