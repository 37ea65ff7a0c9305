"""Fake Twilio REST API (2010-04-01 Messages and Calls) on loopback, plus a carrier.

Speaks the real wire protocol: form-encoded bodies (repeated keys such as
`StatusCallbackEvent` kept as lists), HTTP Basic auth with the account SID and auth
token, JSON resources, and Twilio's error shape `{"code", "message", "more_info",
"status"}` including 429 code 20429 with Retry-After. `fail_next` scripts failures:
("500",), ("429", retry_after), ("timeout", seconds) — a timeout creates the resource
and answers late, as a real lost response would — and ("lost", seconds): a request that
never reached Twilio (nothing is created; no answer in time). Resources are stamped with
`now()` (the test's clock) and listed newest first; `DateSent>` and `StartTime>` filter
by date only, as Twilio's do. A message to a number in `opted_out`
(one that replied STOP) is refused with 400 code 21610, as Twilio refuses it. Unexpected
requests fail the test.
`Carrier` posts status callbacks, inbound SMS and Gather keypresses to our hooks,
signed with `X-Twilio-Signature` exactly like Twilio.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "fake-token"
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple[Any, ...]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)
    now: Callable[[], datetime] = lambda: datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    url: str = ""

    def fail_next(self, *step: Any) -> None:
        self.script.append(step)

    def _authorised(self, request: web.Request) -> bool:
        raw = request.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return raw == f"Basic {expected}"

    @staticmethod
    def _error(status: int, code: int, message: str, **headers: str) -> web.Response:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return web.json_response(body, status=status, headers=headers)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        if request.match_info["sid"] != self.account_sid:
            return self._error(404, 20404, "The requested resource was not found")
        form = await request.post()
        data: dict[str, Any] = {}
        for key in set(form.keys()):
            values = [str(v) for v in form.getall(key)]
            data[key] = values if len(values) > 1 or key == "StatusCallbackEvent" else values[0]
        kind = request.match_info["kind"]
        step = self.script.pop(0) if self.script else None
        if step and step[0] == "lost":
            await asyncio.sleep(step[1])
            return self._error(500, 20500, "Internal Server Error")
        if step and step[0] == "500":
            return self._error(500, 20500, "Internal Server Error")
        if step and step[0] == "429":
            return self._error(429, 20429, "Too Many Requests", **{"Retry-After": str(step[1])})
        if not data.get("To") or not data.get("From"):
            return self._error(400, 21604, "A 'To' phone number is required.")
        if kind == "Messages" and data["To"] in self.opted_out:
            return self._error(400, 21610, "Attempt to send to unsubscribed recipient")
        prefix, store = ("SM", self.messages) if kind == "Messages" else ("CA", self.calls)
        sid = f"{prefix}{next(self._ids):032d}"
        stamp = format_datetime(self.now().astimezone(UTC))
        resource = {"sid": sid, "account_sid": self.account_sid, "to": data["To"],
                    "from": data["From"], "status": "queued", "body": data.get("Body"),
                    "date_created": stamp, "date_sent": stamp, "start_time": stamp,
                    "created": self.now(), "form": data}  # fmt: skip
        store.append(resource)
        if step and step[0] == "timeout":
            await asyncio.sleep(step[1])
        shown = {k: v for k, v in resource.items() if k not in ("form", "created")}
        return web.json_response(shown, status=201)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        kind = request.match_info["kind"]
        store = self.messages if kind == "Messages" else self.calls
        to, from_ = request.query.get("To"), request.query.get("From")
        after = request.query.get("DateSent>") or request.query.get("StartTime>")
        day = datetime.fromisoformat(after.replace("Z", "+00:00")).date() if after else None
        found = [
            {k: v for k, v in r.items() if k not in ("form", "created")}
            for r in reversed(store)  # newest first, as Twilio lists them
            if (to is None or r["to"] == to)
            and (from_ is None or r["from"] == from_)
            and (day is None or r["created"].astimezone(UTC).date() >= day)
        ]
        key = "messages" if kind == "Messages" else "calls"
        return web.json_response({key: found, "next_page_uri": None, "page": 0, "page_size": 50})

    async def _other(self, request: web.Request) -> web.StreamResponse:
        self.unexpected.append(f"{request.method} {request.path}")
        return self._error(404, 20404, "not found")

    async def start(self) -> str:
        app = web.Application()
        base = "/2010-04-01/Accounts/{sid}/{kind:Messages|Calls}.json"
        app.router.add_post(base, self._create)
        app.router.add_get(base, self._list)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class Carrier:
    """Posts signed callbacks to our hooks, as Twilio does (public_url must match)."""

    def __init__(self, base_url: str, auth_token: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self._validator = RequestValidator(auth_token)
        self._session = session

    async def post(
        self, path_qs: str, params: dict[str, str], *, forge: bool = False
    ) -> tuple[int, str]:
        url = self.base_url + path_qs
        signature = self._validator.compute_signature(url, params)
        if forge:
            signature = base64.b64encode(b"x" * 20).decode()
        async with self._session.post(
            url, data=params, headers={"X-Twilio-Signature": signature}
        ) as resp:
            return resp.status, await resp.text()

    async def status(self, callback_url: str, sid: str, status: str, *, call: bool = False) -> int:
        path = callback_url.removeprefix(self.base_url)
        key = ("CallSid", "CallStatus") if call else ("MessageSid", "MessageStatus")
        code, _ = await self.post(path, {key[0]: sid, key[1]: status, "AccountSid": "AC"})
        return code

    async def sms(self, from_: str, body: str, **kw: bool) -> tuple[int, str]:
        return await self.post(
            "/hooks/twilio/sms", {"From": from_, "To": "+14155550100", "Body": body}, **kw
        )

    async def keypress(self, action_url: str, digits: str) -> tuple[int, str]:
        return await self.post(
            action_url.removeprefix(self.base_url), {"Digits": digits, "CallSid": "CA1"}
        )
