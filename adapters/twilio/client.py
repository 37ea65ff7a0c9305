"""The twilio SDK's async client, pointed at HDT_TWILIO_API_URL, with its retries off.

`Client.api` is the one Domain our channels use (Messages and Calls of API 2010); its
`base_url` is replaced by the configured URL, so staging and tests reach a loopback fake
with the real SDK. The HTTP client makes no retries of its own (the outbox retries) and
turns a 429 into `Throttled` with the Retry-After header, which the SDK would drop. It
also applies `timeout_s` to every request: the SDK's async client passes timeout=None
to aiohttp, which means no timeout at all.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from adapters.twilio.errors import Throttled

STATUS_PATH = "/hooks/twilio/status"
SMS_PATH = "/hooks/twilio/sms"
VOICE_PATH = "/hooks/twilio/voice"


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    from_number: str
    api_url: str = "https://api.twilio.com"
    public_url: str = "http://127.0.0.1:8080"
    timeout_s: float = 10.0

    def hook(self, path: str) -> str:
        return self.public_url.rstrip("/") + path


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no types
    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        auth = kwargs.pop("auth", None)
        if auth is not None:  # aiohttp's BasicAuth is deprecated: send the header ourselves
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Basic {token}"}
        if kwargs.get("timeout") is None:  # the SDK's async client never applies its own
            kwargs["timeout"] = self.timeout
        response = await super().request(method, url, *args, **kwargs)
        if response.status_code == 429:
            raw = (response.headers or {}).get("Retry-After")
            try:
                retry_after = float(raw) if raw is not None else None
            except ValueError:
                retry_after = None
            raise Throttled(retry_after, response.text)
        return response


def make_client(config: TwilioConfig) -> tuple[Client, AsyncTwilioHttpClient]:
    """A Client on the async HTTP client (no SDK retries) at `config.api_url`."""
    http = _HttpClient(timeout=config.timeout_s, max_retries=None)
    client = Client(config.account_sid, config.auth_token, http_client=http)
    client.api.base_url = config.api_url.rstrip("/")
    return client, http
