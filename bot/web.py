"""The one aiohttp application (DESIGN.md §9): a factory, request reading, and route groups.

`build_web_app(deps)` builds the app; each route group registers itself with a small
`add_*_routes(app, deps)` function, so adding health, metrics or REST routes is one call.
Every error, including a crash, answers `{"error": {"code": "…", "message": "…"}}`
(`bot.web_errors`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from bot.content_encoding import (
    SUPPORTED,
    BodyTooLarge,
    UndecodableBody,
    UnsupportedEncoding,
    decode_body,
)
from bot.settings import SettingsError
from bot.web_errors import (
    BEARER_CHALLENGE,
    INGEST_PATH,
    MAX_BODY_BYTES,
    ApiError,
    ConnectionLog,
    json_errors,
)
from core.errors import ValidationError
from core.formatting import clip
from core.ingest import IngestService, check_source, parse_envelope
from core.ports import Clock
from core.tokens import PREFIX as TOKEN_PREFIX
from core.tokens import Scope, authenticate

logger = logging.getLogger(__name__)

SIGNATURE_TOLERANCE = timedelta(minutes=5)
BATCH_EXAMPLE = '{"source": "seatgeek", "snapshots": [{"event": {…}, "observed_at": "…"}]}'


@dataclass(frozen=True, slots=True)
class WebDeps:
    """What the routes need; built by bot/bootstrap.py (tests pass fakes)."""

    sessions: async_sessionmaker[AsyncSession]
    ingest: IngestService
    clock: Clock
    ingest_secret: SecretStr | None = None  # HDT_INGEST_SECRET


DEPS = web.AppKey("deps", WebDeps)

# Query parameters that carry a token in other APIs (RFC 6750's access_token): refused.
_URL_TOKEN_NAMES = frozenset({"access_token", "token", "api_key", "apikey", "bearer"})


async def read_body(request: web.Request) -> bytes:
    """The request body decoded from its Content-Encoding (`bot.content_encoding`)."""
    raw = await request.read()
    encoding = request.headers.get("Content-Encoding", "")
    try:
        return decode_body(raw, encoding, MAX_BODY_BYTES)
    except UnsupportedEncoding:
        supported = ", ".join(SUPPORTED[:-1]) + f" or {SUPPORTED[-1]}"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Encoding {encoding[:40]} is not supported; send {supported}",
        ) from None
    except UndecodableBody as exc:
        raise ApiError(
            400,
            "bad_request",
            f"the request body could not be read: Can not decode content-encoding: {exc}",
        ) from None
    except BodyTooLarge:
        split = "; split the batch" if request.path == INGEST_PATH else ""
        raise ApiError(413, "payload_too_large", f"request body is over 5 MB{split}") from None


def build_web_app(deps: WebDeps) -> web.Application:
    """The aiohttp application with every route group registered."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[json_errors],
        handler_args={
            "auto_decompress": False,  # read_body decodes, or answers 415
            "logger": ConnectionLog(logging.getLogger("aiohttp.server")),
        },
    )
    app[DEPS] = deps
    add_ingest_routes(app, deps)
    return app


# --- ingest -------------------------------------------------------------------------------


class SignatureVerifier:
    """Checks Standard Webhooks headers (webhook-id, -timestamp, -signature) on a body.

    The HMAC comes from the `standardwebhooks` package; the timestamp is checked against
    the injected clock (5 minutes either way).
    """

    def __init__(self, secret: str, clock: Clock) -> None:
        try:
            self._webhook = Webhook(secret)
        except (ValueError, EmptyWebhookSecretError, RuntimeError) as exc:
            raise SettingsError(
                "configuration error: HDT_INGEST_SECRET: must be a Standard Webhooks "
                f"secret such as whsec_<base64> ({exc})"
            ) from None
        self._clock = clock

    def verify(self, headers: Mapping[str, str], body: str) -> None:
        """Raise ApiError(401) unless the headers sign `body` within the tolerance."""
        msg_id = headers.get("webhook-id")
        stamp = headers.get("webhook-timestamp")
        signatures = headers.get("webhook-signature")
        if not (msg_id and stamp and signatures):
            raise ApiError(
                401,
                "unauthorized",
                "webhook-id, webhook-timestamp and webhook-signature are all required",
            )
        if not (msg_id.isascii() and stamp.isascii() and signatures.isascii()):
            raise ApiError(401, "unauthorized", "webhook headers must be plain ASCII")
        try:
            when = datetime.fromtimestamp(int(stamp.strip()), UTC)
        except (ValueError, OverflowError, OSError):
            raise ApiError(401, "unauthorized", "webhook-timestamp must be Unix seconds") from None
        if abs(self._clock.now() - when) > SIGNATURE_TOLERANCE:
            raise ApiError(
                401,
                "unauthorized",
                "webhook-timestamp is more than 5 minutes "
                "away from the server time; sign each request when sending it",
            )
        expected = base64.b64decode(self._webhook.sign(msg_id, when, body).split(",", 1)[1])
        for candidate in signatures.split():
            version, _, encoded = candidate.partition(",")
            if version != "v1":
                continue
            try:
                given = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            if hmac.compare_digest(given, expected):
                return
        raise ApiError(401, "unauthorized", "webhook-signature does not match the body")


def refuse_token_in_url(request: web.Request) -> None:
    """A token in the query string is refused, even beside a good header or a signature:
    URLs are kept in proxies' logs and histories, and a listing's `next` link repeated it.
    The REST API and ingest both check it first."""
    for name, value in request.query.items():
        if name.lower() in _URL_TOKEN_NAMES or value.strip().startswith(TOKEN_PREFIX):
            raise ApiError(
                401,
                "unauthorized",
                f"an API token never goes in the URL (?{clip(name, 30)}=): send it as"
                " Authorization: Bearer <token>, and revoke one that was sent in a URL"
                " (hdtickets tokens revoke ID)",
                BEARER_CHALLENGE,
            )


def decode_json(body: str, example: str = BATCH_EXAMPLE) -> object:
    """Parse a request body as JSON; a 400 with the parser's reason (or `example`) if not."""
    if not body.strip():
        raise ApiError(400, "invalid_json", f"request body is empty; send {example}")

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not valid JSON")

    try:
        return json.loads(body, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "body is nested too deeply; send " + example) from None
    except ValueError as exc:
        reason = str(exc)
        if "int_max_str_digits" in reason:  # Python's guard against huge integers
            reason = f"a number has more than {sys.get_int_max_str_digits()} digits"
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {reason}") from None


class IngestRoutes:
    """POST /api/v1/ingest/snapshots: signed or bearer-authenticated snapshot batches."""

    def __init__(self, deps: WebDeps) -> None:
        self._deps = deps
        secret = deps.ingest_secret.get_secret_value() if deps.ingest_secret else ""
        self._verifier = SignatureVerifier(secret, deps.clock) if secret else None

    async def _check_bearer(self, header: str) -> None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "unauthorized", "use Authorization: Bearer <token>", BEARER_CHALLENGE
            )
        async with self._deps.sessions() as session, session.begin():
            await authenticate(session, token.strip(), Scope.INGEST, self._deps.clock.now())

    async def post_snapshots(self, request: web.Request) -> web.Response:
        refuse_token_in_url(request)
        signed = "webhook-signature" in request.headers
        authorization = request.headers.get("Authorization")
        if not signed and not authorization:
            raise ApiError(
                401,
                "unauthorized",
                "authentication required: Standard Webhooks "
                "signature headers or Authorization: Bearer <token>",
                BEARER_CHALLENGE,
            )
        if not signed and authorization:
            await self._check_bearer(authorization)
        body = await read_body(request)
        try:
            text: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if signed:
            if self._verifier is None:
                raise ApiError(
                    401,
                    "unauthorized",
                    "signed ingest is not enabled on this "
                    "server (HDT_INGEST_SECRET is unset); use a bearer token",
                )
            if text is None:  # cannot have been signed as UTF-8 JSON text
                raise ApiError(401, "unauthorized", "webhook-signature does not match the body")
            self._verifier.verify(request.headers, text)
        if text is None:
            raise ApiError(400, "invalid_json", "body is not UTF-8 encoded JSON")
        try:
            source, items = parse_envelope(decode_json(text))
            check_source(source)
        except ValidationError as exc:
            raise ApiError(422, "invalid_batch", str(exc)) from None
        report = await self._deps.ingest.ingest(source, items)
        logger.info(
            "ingest from %s: %d accepted, %d duplicates, %d rejected",
            source,
            report.accepted,
            report.duplicates,
            len(report.rejected),
        )
        return web.json_response(report.to_json(), status=202)


def add_ingest_routes(app: web.Application, deps: WebDeps) -> None:
    """Register POST /api/v1/ingest/snapshots."""
    routes = IngestRoutes(deps)
    app.router.add_post(INGEST_PATH, routes.post_snapshots)
