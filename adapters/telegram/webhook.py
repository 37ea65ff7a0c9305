"""`POST /hooks/telegram`: updates pushed by Telegram, checked against the secret token.

Telegram sends `X-Telegram-Bot-Api-Secret-Token` with the secret given to setWebhook; a
missing or wrong header is answered 403 and the update is dropped. Accepted updates go
to the channel's update queue and are answered 200 at once (Telegram retries non-2xx).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from adapters.telegram.channel import UNREADABLE, TelegramChannel

logger = logging.getLogger(__name__)

PATH = "/hooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1_000_000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def telegram_hook(channel: TelegramChannel, secret: str) -> Handler:
    """The aiohttp handler for Telegram's webhook."""
    expected = secret.encode()

    async def handle(request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not given or not hmac.compare_digest(given, expected):
            return _error(403, "forbidden", f"missing or wrong {SECRET_HEADER}")
        if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
            return _error(413, "payload_too_large", "an update is at most 1 MB")
        try:
            data = json.loads(await request.read())
        except (ValueError, RecursionError):
            return _error(400, "bad_request", "the body is not JSON")
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            return _error(400, "bad_request", "not a Telegram update (no update_id)")
        try:
            await channel.enqueue(data)
        except UNREADABLE as exc:
            # Signed with our secret, so Telegram's (or a test's): answering non-2xx would
            # have it sent again and again. Drop it, and say so in the log.
            logger.warning(
                "telegram update %s dropped: not a shape the SDK reads (%s: %s)",
                data["update_id"],
                type(exc).__name__,
                exc,
            )
            return web.json_response({"ok": True, "dropped": True})
        return web.json_response({"ok": True})

    return handle


def add_telegram_routes(app: web.Application, channel: TelegramChannel, secret: str) -> None:
    """Register `POST /hooks/telegram` on the process's web app."""
    app.router.add_post(PATH, telegram_hook(channel, secret))
