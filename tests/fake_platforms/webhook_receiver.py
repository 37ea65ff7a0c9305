"""A loopback webhook receiver: records every request and answers as a test scripts it.

    async with WebhookReceiver() as receiver:
        receiver.script(Reply(500), Reply(429, {"Retry-After": "7"}), Reply(204))
        ... send to receiver.url ...
        receiver.requests[0].verify("whsec_...")   # standardwebhooks as the oracle

Scripted replies are used in order, then `default` answers. A reply can be slow
(`delay_s`, for timeouts) or a redirect (`Reply.redirect(location)`). With
`limit_per_s` the receiver also rate-limits like a real service: beyond the limit it
answers 429 with Retry-After (counted in `http_429`). Requests to another path or with
another method than POST are answered 404 and kept in `unexpected`; tests assert it is
empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer."""

    status: int = 204
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    delay_s: float = 0.0

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status, {"Location": location})


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as received, with the status it was answered (lower-case header names)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    answered: int
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)

    def verify(self, secret: str) -> Any:
        """Verify the Standard Webhooks signature with `secret`; return the parsed body."""
        return Webhook(secret).verify(self.body, dict(self.headers))


class WebhookReceiver:
    """An aiohttp server on 127.0.0.1 (random port) standing in for a webhook consumer."""

    def __init__(
        self,
        *,
        path: str = "/hook",
        default: Reply | None = None,
        limit_per_s: float | None = None,
        burst: int | None = None,
    ) -> None:
        self.path = path
        self.default = default if default is not None else Reply(204)
        self.requests: list[RecordedRequest] = []
        self.unexpected: list[RecordedRequest] = []
        self.http_429 = 0
        self._script: deque[Reply] = deque()
        self._limit = limit_per_s
        self._capacity = float(burst if burst is not None else max(1, int((limit_per_s or 1) / 10)))
        self._tokens = self._capacity
        self._refilled_at = 0.0
        self._closing = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def delivered(self) -> list[RecordedRequest]:
        """The requests answered with a 2xx status."""
        return [r for r in self.requests if 200 <= r.answered < 300]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def script(self, *replies: Reply) -> None:
        """Queue answers for the next requests, in order."""
        self._script.extend(replies)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._refilled_at = asyncio.get_running_loop().time()

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def wait_for(self, count: int, within_s: float = 5.0) -> None:
        """Wait (bounded) until at least `count` requests arrived on the webhook path."""
        async with asyncio.timeout(within_s), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)

    def _rate_limited(self) -> float | None:
        """Take a token; return seconds until the next one when none is left."""
        if self._limit is None:
            return None
        now = asyncio.get_running_loop().time()
        self._tokens = min(self._capacity, self._tokens + (now - self._refilled_at) * self._limit)
        self._refilled_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / self._limit

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if request.method != "POST" or request.path != self.path:
            self.unexpected.append(
                RecordedRequest(request.method, request.path, headers, body, 404)
            )
            return web.Response(status=404, text="unexpected request")
        wait = self._rate_limited()
        if wait is not None:
            self.http_429 += 1
            reply = Reply(429, {"Retry-After": str(max(1, math.ceil(wait)))}, "slow down")
        else:
            reply = self._script.popleft() if self._script else self.default
        async with self._arrived:
            self.requests.append(
                RecordedRequest(request.method, request.path, headers, body, reply.status)
            )
            self._arrived.notify_all()
        if reply.delay_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay_s)
        return web.Response(status=reply.status, headers=dict(reply.headers), text=reply.body)


class FakeResolver(AbstractResolver):
    """Answers from a fixed table, like a DNS server under the test's control."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"no such host {host}")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for address in self.table[host]
        ]

    async def close(self) -> None:
        return None
