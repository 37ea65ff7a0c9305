"""The real PTB against the loopback fake Bot API, inside the container `build()` makes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import ContextTypes, TypeHandler

from adapters.telegram.channel import TelegramChannel
from bot.bootstrap import Container, build
from bot.settings import load_settings
from tests.fake_platforms.telegram import FakeBotApi, SentMessage

SECRET_KEY = "telegram-test-secret-key"
WAIT_S = 10.0


class WaitlessClock:
    """Real time, except that a retry's wait returns at once: it is recorded in `waits`
    and added to `now()`. `hold()` makes waits block until `release()`, to look at the
    channel while it waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._skipped = 0.0
        self._open = asyncio.Event()
        self._open.set()
        self._waited = asyncio.Condition()

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._skipped)

    async def sleep(self, seconds: float) -> None:
        async with self._waited:
            self.waits.append(seconds)
            self._waited.notify_all()
        await self._open.wait()
        self._skipped += max(0.0, seconds)
        await asyncio.sleep(0)

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def wait_for_waits(self, count: int, within_s: float = 10.0) -> None:
        """Wait (bounded) until `count` waits have begun."""
        async with asyncio.timeout(within_s), self._waited:
            await self._waited.wait_for(lambda: len(self.waits) >= count)


class Handled:
    """The updates the inbound side is done with: a handler in a later group runs once the
    inbound handler has returned (PTB runs one update's groups in order)."""

    def __init__(self) -> None:
        self.update_ids: set[int] = set()
        self._changed = asyncio.Condition()

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async with self._changed:
            self.update_ids.add(update.update_id)
            self._changed.notify_all()

    async def wait_for(self, update_id: int, within_s: float = 10.0) -> None:
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: update_id in self.update_ids)


@dataclass
class TelegramStack:
    api: FakeBotApi
    container: Container
    channel: TelegramChannel
    handled: Handled = field(default_factory=Handled)

    @property
    def clock(self) -> WaitlessClock:
        clock = self.container.clock
        assert isinstance(clock, WaitlessClock), "built by the tg fixture"
        return clock

    async def push(self, update: dict[str, Any]) -> None:
        """Give the bot `update` and wait until the inbound side is done with it."""
        await self.api.push(update)
        await self.handled.wait_for(self.api.last_update_id, WAIT_S)

    async def say(self, user: int, text: str, *, chat: int | None = None,
                  name: str = "Ada") -> SentMessage:  # fmt: skip
        """Send `text` as `user` and return the bot's reply in that chat."""
        target = str(chat if chat is not None else user)
        before = len(self.api.chat(target))
        await self.api.push(self.api.text_update(user=user, text=text, chat=chat, name=name))
        await self.api.wait_for(lambda: len(self.api.chat(target)) > before, WAIT_S)
        return self.api.chat(target)[before]

    async def press(self, user: int, message: SentMessage, data: str) -> dict[str, Any]:
        """Press the button with `data` under `message`; return the callback answer."""
        before = len(self.api.callback_answers)
        await self.api.push(self.api.press(user=user, message=message, data=data))
        await self.api.wait_for(lambda: len(self.api.callback_answers) > before, WAIT_S)
        return self.api.callback_answers[before]


def stack_settings(api: FakeBotApi, database_url: str, tmp_path: Path, **extra: Any) -> Any:
    return load_settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        demo=False,
        telegram_bot_token=api.token,
        telegram_api_url=api.base_url,
        state_dir=tmp_path / "state",
        **extra,
    )


@contextlib.asynccontextmanager
async def running(api: FakeBotApi, container: Container) -> AsyncIterator[TelegramStack]:
    channel = container.channels["telegram"]
    assert isinstance(channel, TelegramChannel)
    stack = TelegramStack(api, container, channel)
    channel.application.add_handler(TypeHandler(Update, stack.handled), group=1)
    task = asyncio.create_task(channel.run(), name="channel-telegram")
    try:
        async with asyncio.timeout(WAIT_S):
            await channel.ready.wait()
        yield stack
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert api.unexpected == [], api.unexpected


class SteppingClock:
    """The fake's clock for chat tests: a second passes between API calls (people type
    slower than one message a second), so replies are never throttled by accident."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture
async def tg(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TelegramStack]:
    """A polling-mode Telegram channel in a built container, talking to the fake; retry
    waits do not take real time (`WaitlessClock`)."""
    monkeypatch.chdir(tmp_path)
    async with FakeBotApi(clock=SteppingClock()) as api:
        container = await build(stack_settings(api, sqlite_url, tmp_path), clock=WaitlessClock())
        try:
            async with running(api, container) as stack:
                yield stack
        finally:
            await container.aclose()
