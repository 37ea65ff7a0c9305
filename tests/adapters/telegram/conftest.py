"""The real PTB against the loopback fake Bot API, inside the container `build()` makes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.telegram.channel import TelegramChannel
from bot.bootstrap import Container, build
from bot.settings import load_settings
from tests.fake_platforms.telegram import FakeBotApi, SentMessage

SECRET_KEY = "telegram-test-secret-key"
WAIT_S = 10.0


@dataclass
class TelegramStack:
    api: FakeBotApi
    container: Container
    channel: TelegramChannel

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
    task = asyncio.create_task(channel.run(), name="channel-telegram")
    try:
        async with asyncio.timeout(WAIT_S):
            await channel.ready.wait()
        yield TelegramStack(api, container, channel)
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
    """A polling-mode Telegram channel in a built container, talking to the fake."""
    monkeypatch.chdir(tmp_path)
    async with FakeBotApi(clock=SteppingClock()) as api:
        container = await build(stack_settings(api, sqlite_url, tmp_path))
        try:
            async with running(api, container) as stack:
                yield stack
        finally:
            await container.aclose()
