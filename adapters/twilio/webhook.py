"""`/hooks/twilio/status`, `/hooks/twilio/sms`, `/hooks/twilio/voice`, each verified.

Twilio signs every callback with `X-Twilio-Signature`: HMAC-SHA1 (base64) of the full
URL it requested plus the sorted POST parameters, keyed with the auth token. The URL is
rebuilt from HDT_PUBLIC_URL (what Twilio was given), never from the Host header. A
missing or wrong signature is answered 403 and nothing happens; a body that is not a
readable form (bad UTF-8, an unknown charset, multipart without a boundary) 400. Errors
carry the app's JSON error body.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from twilio.request_validator import RequestValidator

from adapters.twilio.client import SMS_PATH, STATUS_PATH, VOICE_PATH, TwilioConfig
from adapters.twilio.inbound import TwilioInbound
from adapters.twilio.render import again_twiml, message_twiml, say_twiml
from core.escalation_replies import KEYS_AGAIN

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SIGNATURE = "X-Twilio-Signature"
MAX_BYTES = 64_000


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _verified(
    config: TwilioConfig,
    inner: Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]],
) -> Handler:
    validator = RequestValidator(config.auth_token)

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_BYTES:
            return _error(413, "payload_too_large", "a Twilio callback is at most 64 kB")
        try:
            form = await request.post()
        except (ValueError, LookupError) as exc:  # UnicodeDecodeError is a ValueError
            logger.warning(
                "twilio callback on %s: unreadable form (%s)", request.path, type(exc).__name__
            )
            return _error(400, "bad_request", "the body is not a readable form")
        params = {k: str(v) for k, v in form.items()}
        url = config.public_url.rstrip("/") + request.rel_url.path_qs
        signature = request.headers.get(SIGNATURE, "")
        if not signature or not validator.validate(url, params, signature):
            logger.warning("twilio callback with a bad signature on %s", request.path)
            return _error(403, "forbidden", f"missing or wrong {SIGNATURE}")
        return await inner(request, params)

    return handle


def _xml(body: str) -> web.Response:
    return web.Response(text=body, content_type="application/xml")


def _row_id(text: str) -> bool:
    """Whether a query value we put in a callback URL is a row id (ASCII digits, 64-bit)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def add_twilio_routes(app: web.Application, config: TwilioConfig, inbound: TwilioInbound) -> None:
    """Register the three Twilio callbacks on the process's web app."""

    async def status(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        raw = request.query.get("n", "")
        sid = params.get("MessageSid") or params.get("CallSid") or ""
        state = params.get("MessageStatus") or params.get("CallStatus") or ""
        if _row_id(raw) and sid and state:
            await inbound.status(int(raw), sid, state, params.get("ErrorCode"))
        return web.Response(status=204)

    async def sms(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        reply = await inbound.sms(params.get("From", ""), params.get("Body", ""))
        return _xml(message_twiml(reply))

    async def voice(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        raw = request.query.get("alert", "")
        if not _row_id(raw):
            return _xml(say_twiml("Sorry, something went wrong. Goodbye."))
        said = await inbound.digits(int(raw), params.get("Digits", ""))
        if said == KEYS_AGAIN:  # a key that means nothing: ask again, do not hang up
            return _xml(again_twiml(said, config.public_url.rstrip("/") + request.rel_url.path_qs))
        return _xml(say_twiml(said))

    app.router.add_post(STATUS_PATH, _verified(config, status))
    app.router.add_post(SMS_PATH, _verified(config, sms))
    app.router.add_post(VOICE_PATH, _verified(config, voice))
