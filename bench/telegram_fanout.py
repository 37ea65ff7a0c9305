"""Telegram fan-out benchmark: 2,000 people watch one event; one price drop alerts them all.

The alerts go through the outbox, the delivery workers, the rate limiter and the real
python-telegram-bot to the fake Bot API (tests/fake_platforms/telegram), which runs in
its own process and enforces the real limits: 30 messages/s per bot, 1/s per chat,
20/min per group, answering 429 with retry_after beyond them. Targets (issue 3): at
least 28.5 messages/s, nothing lost, at most 20 responses of 429.

    .venv/bin/python bench/telegram_fanout.py [--people 2000] [--workers 4]

Progress goes to stderr; the last line on stdout is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.connection
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from adapters.telegram.channel import TelegramChannel  # noqa: E402
from bot.bootstrap import build  # noqa: E402
from bot.migrate import upgrade_blocking  # noqa: E402
from bot.process import tune_gc  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from core.db.models import Event, Identity, Notification, User, Watch  # noqa: E402
from tests.fake_platforms.telegram import FakeBotApi  # noqa: E402

LIMIT_PER_S = 30.0
EVENT = "bench-event"


def _api_process(conn: multiprocessing.connection.Connection) -> None:
    """The fake Bot API in its own process, like api.telegram.org elsewhere."""

    async def serve() -> None:
        async with FakeBotApi() as api:
            conn.send((api.token, api.base_url))
            loop = asyncio.get_running_loop()
            while True:
                command = await loop.run_in_executor(None, conn.recv)
                if command == "stop":
                    return
                sends = [  # an alert goes out as a message, or a photo when it has a chart
                    c
                    for method in ("sendMessage", "sendPhoto")
                    for c in api.calls_of(method)
                    if c.status == 200
                ]
                conn.send(
                    {
                        "delivered": [(str(c.params["chat_id"]), c.at) for c in sends],
                        "http_429": api.http_429,
                        "unexpected": list(api.unexpected),
                    }
                )

    asyncio.run(serve())


class RemoteApi:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_api_process, args=(child,), daemon=True)
        self._proc.start()
        self.token, self.base_url = self._conn.recv()

    def report(self) -> dict[str, Any]:
        self._conn.send("report")
        return self._conn.recv()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._conn.send("stop")
        self._proc.join(timeout=10)


def _item(price: float, at: datetime) -> dict[str, Any]:
    return {
        "event": {
            "external_id": EVENT,
            "name": "Rockies at Diamondbacks",
            "category": "mlb",
            "performers": ["Arizona Diamondbacks", "Colorado Rockies"],
            "venue": "Chase Field",
            "city": "Phoenix",
            "starts_at": (at + timedelta(days=3)).replace(microsecond=0).isoformat(),
            "timezone": "America/Phoenix",
        },
        "observed_at": at.replace(microsecond=0).isoformat(),
        "currency": "USD",
        "min_price": price,
        "median_price": price * 1.5,
        "max_price": price * 4,
        "listing_count": 300,
        "ticket_count": 1344,
    }


async def _seed(settings: Any, people: int, now: datetime) -> None:
    container = await build(settings, channels={})
    try:
        await container.ingest.ingest("bench", [_item(90.0, now - timedelta(minutes=10))])
        async with container.sessions() as session, session.begin():
            event_id = await session.scalar(select(Event.id).where(Event.external_id == EVENT))
            users = [{"display_name": f"fan {i}", "timezone": "UTC", "created_at": now}
                     for i in range(people)]  # fmt: skip
            ids = list((await session.execute(insert(User).returning(User.id), users)).scalars())
            await session.execute(
                insert(Identity),
                [{"user_id": uid, "platform": "telegram", "workspace_id": "",
                  "external_id": str(10_000 + n), "dm_address": str(10_000 + n),
                  "display_name": f"fan {n}", "created_at": now} for n, uid in enumerate(ids)],
            )  # fmt: skip
            await session.execute(
                insert(Watch),
                [{"user_id": uid, "label": "rockies under 60", "event_id": event_id,
                  "max_price": 60.0, "triggers": ["price_below"], "cooldown_s": 3600,
                  "min_level": 1, "created_at": now} for uid in ids],
            )  # fmt: skip
    finally:
        await container.aclose()


async def main(people: int, workers: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="hdt-bench-telegram-"))
    url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    await asyncio.to_thread(upgrade_blocking, url)
    api = RemoteApi()
    settings = load_settings(
        database_url=url, secret_key="bench-secret-key", demo=False, state_dir=tmp,
        telegram_bot_token=api.token, telegram_api_url=api.base_url, delivery_workers=workers,
    )  # fmt: skip
    now = datetime.now(UTC)
    try:
        await _seed(settings, people, now)
        container = await build(settings)
        tune_gc()  # as `python -m bot run` does once it has built its container
        channel = container.channels["telegram"]
        assert isinstance(channel, TelegramChannel)
        channel_task = asyncio.create_task(channel.run(), name="channel-telegram")
        await asyncio.wait_for(channel.ready.wait(), 10)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(container.delivery_worker(i).run(stop)) for i in range(workers)
        ]
        started = time.monotonic()
        await container.ingest.ingest("bench", [_item(45.0, now)])
        container.signal.notify()
        async with container.sessions() as session:
            queued = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.channel == "telegram")
            )
        print(f"{queued} telegram notifications queued", file=sys.stderr)
        deadline = started + max(120.0, 3 * people / LIMIT_PER_S)
        report = await asyncio.to_thread(api.report)
        while time.monotonic() < deadline:
            report = await asyncio.to_thread(api.report)
            done = len({chat for chat, _ in report["delivered"]})
            print(f"\rdelivered {done}/{people}", end="", file=sys.stderr)
            if done >= people:
                break
            await asyncio.sleep(1.0)
        print(file=sys.stderr)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        channel_task.cancel()
        await asyncio.gather(channel_task, return_exceptions=True)
        await container.aclose()
    finally:
        api.close()
    delivered = report["delivered"]
    chats = {chat for chat, _ in delivered}
    times = sorted(at for _, at in delivered)
    elapsed = max(1e-9, times[-1] - times[0]) if len(times) > 1 else 1e-9
    achieved = (len(times) - 1) / elapsed if len(times) > 1 else 0.0
    return {
        "messages": len(delivered),
        "achieved_per_s": round(achieved, 2),
        "limit_per_s": LIMIT_PER_S,
        "efficiency": round(achieved / LIMIT_PER_S, 3),
        "lost": people - len(chats),
        "http_429": report["http_429"],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.people, args.workers))))
