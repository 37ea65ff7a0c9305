"""A person watches through Telegram, the price drops, the alert arrives, they acknowledge it.

Real PTB, the fake Bot API, the container `build()` makes, a delivery worker, ingest, and
the database on both backends; real time with bounded waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from adapters.telegram.webhook import SECRET_HEADER
from bot.bootstrap import build
from bot.process import web_app
from core.db.models import Alert
from tests.adapters.telegram.conftest import SteppingClock, running, stack_settings
from tests.adapters.telegram.helpers import item
from tests.fake_platforms.telegram import FakeBotApi

USER = 4242


async def test_watch_alert_acknowledge_edit(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    now = datetime.now(UTC)
    async with FakeBotApi(clock=SteppingClock()) as api:
        container = await build(stack_settings(api, database_url, tmp_path))
        stop = asyncio.Event()
        worker = asyncio.create_task(container.delivery_worker(0).run(stop))
        try:
            async with running(api, container) as tg:
                await container.ingest.ingest(
                    "test", [item("e1", "Rockies at Diamondbacks", 60, now - timedelta(minutes=5))]
                )
                watched = await tg.say(USER, "/watch rockies under 40")
                assert "Watching Rockies at Diamondbacks" in watched.plain

                await container.ingest.ingest(
                    "test", [item("e1", "Rockies at Diamondbacks", 30, now)]
                )
                container.signal.notify()

                def alert_arrived() -> bool:
                    return any("Acknowledge" in str(m.keyboard) for m in api.chat(USER))

                await api.wait_for(alert_arrived, 15)
                [message] = [m for m in api.chat(USER) if "Acknowledge" in str(m.keyboard)]
                assert "Rockies at Diamondbacks — $30 (your max $40)" in message.plain
                assert [b["text"] for b in message.buttons()][:5] == [
                    "Acknowledge", "Snooze 1h", "Snooze until cheaper", "Mute event", "Bought",
                ]  # fmt: skip
                assert all(
                    len(b.get("callback_data", "").encode()) <= 64 for b in message.buttons()
                )

                answer = await tg.press(USER, message, message.buttons()[0]["callback_data"])
                assert answer["text"].startswith("Acknowledged alert #")

                await api.wait_for(lambda: message.edits >= 1, 15)
                assert message.keyboard is None
                assert (
                    message.plain.startswith("✅") and "Acknowledged via telegram" in message.plain
                )
                async with container.sessions() as session:
                    [alert] = (await session.execute(select(Alert))).scalars()
                assert (alert.status, alert.acked_via) == ("acknowledged", "telegram")
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(worker, 10)
            await container.aclose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_checks_the_secret_token(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    port = _free_port()
    async with FakeBotApi(clock=SteppingClock()) as api:
        settings = stack_settings(
            api, sqlite_url, tmp_path, telegram_mode="webhook",
            telegram_webhook_secret="s3cret-Token_1", public_url=f"http://127.0.0.1:{port}",
            http_port=port,
        )  # fmt: skip
        container = await build(settings)
        runner = web.AppRunner(web_app(container), access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with running(api, container) as tg, aiohttp.ClientSession() as http:
                assert api.webhook == {
                    "url": f"http://127.0.0.1:{port}/hooks/telegram",
                    "secret_token": "s3cret-Token_1",
                }
                assert not api.calls_of("getUpdates")
                update = {"update_id": 1, **api.text_update(user=77, text="/help")}
                url = f"http://127.0.0.1:{port}/hooks/telegram"
                for headers in ({}, {SECRET_HEADER: "wrong"}):
                    async with http.post(url, json=update, headers=headers) as response:
                        assert response.status == 403
                assert api.chat(77) == []

                reply = await tg.say(77, "/help")  # the fake posts with the right secret
                assert "Commands" in reply.plain

                # Malformed updates with the right secret: answered, never a 500.
                signed = {SECRET_HEADER: "s3cret-Token_1"}
                for body in (
                    json.dumps({"update_id": 6, "message": "hello"}),
                    json.dumps({"update_id": 7, "message": {"message_id": 1, "text": "/help"}}),
                    "[" * 100_000,
                    json.dumps({"update_id": True}),
                    json.dumps(  # a date no datetime can hold
                        {
                            "update_id": 8,
                            "message": {
                                "message_id": 1,
                                "date": 10**20,
                                "chat": {"id": 1, "type": "private"},
                            },
                        }
                    ),
                ):
                    async with http.post(url, data=body, headers=signed) as response:
                        assert response.status in (200, 400), (body[:40], response.status)
                        assert response.content_type == "application/json"
        finally:
            await runner.cleanup()
            await container.aclose()
