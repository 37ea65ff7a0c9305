"""The one aiohttp application (DESIGN.md §9): a factory, JSON errors, and route groups.

`build_web_app(deps)` builds the app; each route group registers itself with a small
`add_*_routes(app, deps)` function, so adding health, metrics or REST routes is one call.
Every error, including a crash, answers `{"error": {"code": "…", "message": "…"}}`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import SecretStr
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
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
from core.db.engine import database_locked, database_unavailable
from core.errors import HDTicketsError, NotFoundError, ValidationError
from core.formatting import clip
from core.ingest import IngestService, check_source, parse_envelope
from core.ports import Clock
from core.tokens import PREFIX as TOKEN_PREFIX
from core.tokens import AuthError, InsufficientScope, Scope, authenticate

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 5_000_000  # "over 5 MB" -> 413
SIGNATURE_TOLERANCE = timedelta(minutes=5)
API_PREFIX = "/api/v1"
INGEST_PATH = f"{API_PREFIX}/ingest/snapshots"
BATCH_EXAMPLE = '{"source": "seatgeek", "snapshots": [{"event": {…}, "observed_at": "…"}]}'
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class WebDeps:
    """What the routes need; built by bot/bootstrap.py (tests pass fakes)."""

    sessions: async_sessionmaker[AsyncSession]
    ingest: IngestService
    clock: Clock
    ingest_secret: SecretStr | None = None  # HDT_INGEST_SECRET


DEPS = web.AppKey("deps", WebDeps)


class ApiError(Exception):
    """An error answer: raise it from any handler, the middleware renders it as JSON."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The JSON error body every route answers with: {"error": {"code", "message"}}."""
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}
# PostgreSQL's deadlock_detected and serialization_failure: a transaction rolled back.
_CONFLICT_STATES = frozenset({"40P01", "40001"})
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
_BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hdtickets"'}
# Query parameters that carry a token in other APIs (RFC 6750's access_token): refused.
_URL_TOKEN_NAMES = frozenset({"access_token", "token", "api_key", "apikey", "bearer"})


def _from_core(exc: HDTicketsError) -> ApiError:
    if isinstance(exc, InsufficientScope):
        challenge = f'Bearer error="insufficient_scope", scope="{exc.scope.value}"'
        return ApiError(403, "insufficient_scope", str(exc), {"WWW-Authenticate": challenge})
    if isinstance(exc, AuthError):
        return ApiError(401, "unauthorized", str(exc), _BEARER_CHALLENGE)
    if isinstance(exc, ValidationError):
        return ApiError(422, "invalid", str(exc))
    if isinstance(exc, NotFoundError):
        return ApiError(404, "not_found", str(exc))
    return ApiError(400, "bad_request", str(exc))


def _routing_hint(request: web.Request, exc: web.HTTPException) -> str | None:
    """For a route that does not exist, or a method it does not take: the one line that
    says so, with what to do instead; None for any other HTTP error."""
    method, path = request.method, request.path[:200]
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods - {"HEAD"})) or "none"
        return f"{path} does not take {method}; it takes {allowed}"
    if isinstance(exc, web.HTTPNotFound):
        return f"no route {method} {path}; the API's routes: GET {API_PREFIX}/openapi.json"
    return None


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure as a JSON error; never a traceback or an HTML page."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        # Refused before reading: waiting for a body that size would hold the connection.
        split = "; split the batch" if request.path == INGEST_PATH else ""
        return error_response(413, "payload_too_large", f"request body is over 5 MB{split}")
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except HDTicketsError as exc:
        err = _from_core(exc)
        return error_response(err.status, err.code, err.message, err.headers)
    except (web.RequestPayloadError, HttpProcessingError) as exc:  # e.g. bad gzip
        reason = _unreadable(exc)
        response = error_response(
            400, "bad_request", f"the request body could not be read: {reason}"
        )
        response.force_close()  # aiohttp drops the connection: say so, or a client reuses it
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        text = exc.text or ""
        message = exc.reason if not text or text.startswith(f"{exc.status}:") else text
        if message == exc.reason:  # the router's own: say what would have worked
            message = _routing_hint(request, exc) or message
        headers = {k: v for k in _KEPT_HEADERS if (v := exc.headers.get(k)) is not None}
        code = _HTTP_CODES.get(exc.status, f"http_{exc.status}")
        return error_response(exc.status, code, message, headers)
    except IntegrityError:  # a unique row another request wrote a moment before
        logger.warning("conflicting write in %s %s", request.method, request.path)
        return error_response(
            409, "conflict", "another request changed this at the same moment; try again"
        )
    except ConnectionResetError:  # the client went away mid-request: nobody to answer
        logger.info("client closed the connection during %s %s", request.method, request.path)
        return error_response(400, "bad_request", "the client closed the connection")
    except OperationalError as exc:
        if not database_locked(exc):
            return _unavailable(request, exc)
        return error_response(
            503, "busy", "the database is busy; try again in a few seconds", {"Retry-After": "5"}
        )
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) not in _CONFLICT_STATES:
            return _unavailable(request, exc)
        # PostgreSQL rolled this request back to let another one that locks the same
        # rows go on (two acks of sibling alerts at once): nothing of it was stored.
        logger.warning("conflicting write in %s %s: %s", request.method, request.path, exc.orig)
        return error_response(
            409, "conflict", "another request changed this at the same moment; try again"
        )
    except Exception as exc:
        return _unavailable(request, exc)


def _unavailable(request: web.Request, exc: Exception) -> web.Response:
    """A 503 when the database is away (call inside `except`), else `_internal`'s 500.

    An outage fails every request that touches the database: each gets one log line,
    not a traceback, and an answer that tells the sender to try again.
    """
    reason = database_unavailable(exc)
    if reason is None:
        return _internal(request)
    logger.warning("%s %s: %s", request.method, request.path, reason)
    return error_response(
        503,
        "database_unavailable",
        "the database is unavailable; try again in a few seconds",
        {"Retry-After": "5"},
    )


def _unreadable(exc: Exception) -> str:
    """Why a body could not be read, in the parser's words ("Can not decode
    content-encoding: gzip"): its errors print as "400, message:" and the words below."""
    for error in (exc.__cause__, exc):
        if isinstance(error, HttpProcessingError) and error.message.strip():
            return error.message.strip().splitlines()[0][:200]
    lines = (line.strip() for line in str(exc.__cause__ or exc).splitlines())
    words = [line for line in lines if line and not line.endswith(", message:")]
    return words[0][:200] if words else type(exc).__name__


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


def _internal(request: web.Request) -> web.Response:
    """A 500 for an unexpected failure (call inside `except`: the traceback is logged)."""
    logger.exception("unhandled error in %s %s", request.method, request.path)
    return error_response(500, "internal", "internal server error; see the server log")


class _ConnectionLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's per-connection log. A request it cannot parse (a NUL in a header, no
    HTTP at all) is refused with a 400 before any route sees it, and aiohttp logged that
    at ERROR with a traceback: a client's mistake read as a server failure. Here it is
    one line, at most a warning; anything else is logged as aiohttp logs it."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if not isinstance(exc, HttpProcessingError):
            self.logger.log(level, msg, *args, **kwargs)
            return
        remote = args[0] if args else "?"
        self.logger.log(
            min(level, logging.WARNING),
            "malformed HTTP request from %s refused with 400: %s",
            remote,
            clip(_unreadable(exc), 120).rstrip(":"),
        )


def build_web_app(deps: WebDeps) -> web.Application:
    """The aiohttp application with every route group registered."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[json_errors],
        handler_args={
            "auto_decompress": False,  # read_body decodes, or answers 415
            "logger": _ConnectionLog(logging.getLogger("aiohttp.server")),
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
                _BEARER_CHALLENGE,
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
                401, "unauthorized", "use Authorization: Bearer <token>", _BEARER_CHALLENGE
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
                _BEARER_CHALLENGE,
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
