"""Helpers for the end-to-end tests: signed ingest batches, a timed webhook receiver,
bounded polling, the webhook CLI, and `python -m bot run` as a subprocess.

Everything waits with a deadline; nothing sleeps unbounded. Times are `time.monotonic()`
of the test process, which hosts the receiver, so arrival times and the moment of a
SIGKILL are on one clock.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select
from standardwebhooks import Webhook
from typer.testing import CliRunner

from bot.cli import app as cli_app
from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Notification
from tests.fake_platforms.webhook_receiver import WebhookReceiver

INGEST_SECRET = "whsec_" + base64.b64encode(b"e2e-ingest-secret-32-bytes-long!").decode()
SECRET_KEY = "e2e-secret-key-for-action-tokens-and-encryption"
INGEST_PATH = "/api/v1/ingest/snapshots"
_WHSEC = re.compile(r"whsec_[A-Za-z0-9+/=]+")
_ENDPOINT_ID = re.compile(r"webhook endpoint (\d+) added")


# --- ingest -------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def snapshot(
    external_id: str,
    min_price: float,
    observed_at: datetime,
    *,
    name: str | None = None,
    starts_at: datetime | None = None,
    category: str = "mlb",
) -> dict[str, Any]:
    """One snapshot item of the ingest format (issue 2), for an event starting in 10 days."""
    starts = starts_at or (observed_at + timedelta(days=10)).replace(microsecond=0)
    return {
        "event": {
            "external_id": external_id,
            "name": name or f"Rockies at Diamondbacks #{external_id}",
            "category": category,
            "performers": ["Arizona Diamondbacks", "Colorado Rockies"],
            "venue": "Chase Field",
            "city": "Phoenix",
            "capacity": 48405,
            "starts_at": iso(starts),
            "timezone": "America/Phoenix",
        },
        "observed_at": iso(observed_at.replace(microsecond=0)),
        "currency": "USD",
        "min_price": min_price,
        "median_price": None,
        "avg_price": 83.0,
        "max_price": 473.0,
        "listing_count": 315,
        "ticket_count": 1344,
    }


def batch_body(items: Sequence[Mapping[str, Any]], source: str = "seatgeek") -> bytes:
    return json.dumps({"source": source, "snapshots": list(items)}).encode()


def signed_headers(body: bytes, secret: str = INGEST_SECRET) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed now by the `standardwebhooks` package."""
    msg_id = f"msg_{uuid.uuid4().hex}"
    when = utc_now()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body.decode()),
        "Content-Type": "application/json",
    }


async def post_batch(
    http: aiohttp.ClientSession, base_url: str, items: Sequence[Mapping[str, Any]]
) -> tuple[int, Any]:
    """POST a signed batch; return (status, parsed JSON answer)."""
    body = batch_body(items)
    async with http.post(base_url + INGEST_PATH, data=body, headers=signed_headers(body)) as r:
        return r.status, await r.json(content_type=None)


# --- waiting --------------------------------------------------------------------------------


async def wait_until(
    check: Callable[[], Awaitable[bool]], within_s: float, what: str, every_s: float = 0.1
) -> None:
    """Poll `check` until it is true; fail the test naming `what` after `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        if await check():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within_s:g} s waiting for {what}")
        await asyncio.sleep(every_s)


async def notifications(database_url: str) -> list[Notification]:
    """Every outbox row, read with a short-lived engine of our own."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(select(Notification).order_by(Notification.id))
            return list(rows.scalars())
    finally:
        await engine.dispose()


# --- the receiver ---------------------------------------------------------------------------


@dataclass
class Arrival:
    """One request as the receiver saw it: when it came, when (if) it was answered."""

    webhook_id: str
    started: float
    status: int | None = None
    finished: float | None = None  # None: the sender hung up (handler cancelled) first

    @property
    def completed_2xx(self) -> bool:
        return self.finished is not None and self.status is not None and 200 <= self.status < 300


class TimedReceiver(WebhookReceiver):
    """The loopback WebhookReceiver, plus a log of each request's start and answer times.

    An answer counts as finished once it is written to the connection; `on_answered`
    (when set) is then called synchronously with the arrival, before anything else runs.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log: list[Arrival] = []
        self.on_answered: Callable[[Arrival], None] | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrival = Arrival(request.headers.get("webhook-id", ""), time.monotonic())
        if request.path != self.path:
            return await super()._handle(request)
        self.log.append(arrival)
        response = await super()._handle(request)
        arrival.status = response.status
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:  # the sender hung up first: never answered
            return response
        arrival.finished = time.monotonic()
        if self.on_answered is not None:
            self.on_answered(arrival)
        return response

    def ids(self) -> set[str]:
        return {a.webhook_id for a in self.log}

    def log_of(self, webhook_id: str) -> list[Arrival]:
        return [a for a in self.log if a.webhook_id == webhook_id]

    def completed_ids(self) -> list[str]:
        """The webhook-id of every request answered 2xx to a sender still listening."""
        return [a.webhook_id for a in self.log if a.completed_2xx]


# --- the webhook CLI --------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    id: int
    url: str
    secret: str


def add_endpoint_blocking(url: str, user_id: int | None, events: str) -> Endpoint:
    """`hdtickets webhooks add URL --events … [--user N]` in-process (blocking).

    Reads HDT_DATABASE_URL, HDT_SECRET_KEY and HDT_WEBHOOK_ALLOW_HOSTS from the environment,
    exactly like the command line does.
    """
    args = ["webhooks", "add", url, "--events", events]
    if user_id is not None:
        args += ["--user", str(user_id)]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    secret = _WHSEC.search(result.output)
    endpoint_id = _ENDPOINT_ID.search(result.output)
    assert secret is not None and endpoint_id is not None, result.output
    return Endpoint(int(endpoint_id.group(1)), url, secret.group(0))


# --- the process ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a bot subprocess: ours without any HDT_*, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HDT_")}
    env.update(
        {
            "HDT_DATABASE_URL": database_url,
            "HDT_HTTP_HOST": "127.0.0.1",
            "HDT_HTTP_PORT": str(port),
            "HDT_DEMO": "false",
            "HDT_INGEST_SECRET": INGEST_SECRET,
            "HDT_SECRET_KEY": SECRET_KEY,
            "HDT_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
            "HDT_LOG_FORMAT": "console",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class BotProcess:
    """`python -m bot run --no-chat` in `cwd`; its stdout and stderr go to a log file."""

    def __init__(self, cwd: Path, env: Mapping[str, str], name: str = "bot") -> None:
        self.cwd = cwd
        self.env = dict(env)
        self.port = int(self.env["HDT_HTTP_PORT"])
        self.log_path = cwd / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--no-chat",
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_healthy(self, http: aiohttp.ClientSession, within_s: float = 30.0) -> None:
        """Wait until /healthz answers 200; fail with the log if the process exits first."""

        async def healthy() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"bot exited with {self.proc.returncode} before /healthz")
            try:
                async with http.get(self.base_url + "/healthz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        try:
            await wait_until(healthy, within_s, "the bot's /healthz", every_s=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log_tail()}") from None

    async def wait_exit(self, within_s: float) -> int:
        assert self.proc is not None
        try:
            async with asyncio.timeout(within_s):
                return await self.proc.wait()
        except TimeoutError:
            raise AssertionError(
                f"bot did not exit within {within_s:g} s:\n{self.log_tail()}"
            ) from None

    def send(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def stop(self) -> None:
        """Clean-up: SIGKILL the process (by its pid) if it is still running."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self.proc.wait()


# --- a database outage ------------------------------------------------------------------------


class CuttableProxy:
    """A loopback TCP proxy to `target` that a test can cut (an outage: the listener is
    closed and every open connection dropped) and restore on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, RuntimeError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
