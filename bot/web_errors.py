"""What a failed request answers: ApiError, the JSON error body and the json_errors middleware.

Every error, including a crash, answers `{"error": {"code": "…", "message": "…"}}`; a
database that is away is a 503 in one log line, a request aiohttp cannot parse one warning.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from core.db.engine import database_locked, database_unavailable
from core.errors import HDTicketsError, NotFoundError, ValidationError
from core.formatting import clip
from core.tokens import AuthError, InsufficientScope

logger = logging.getLogger(__name__)

# The body limit and the paths the error answers name (`bot.web` serves them).
MAX_BODY_BYTES = 5_000_000  # "over 5 MB" -> 413
API_PREFIX = "/api/v1"
INGEST_PATH = f"{API_PREFIX}/ingest/snapshots"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hdtickets"'}


def _from_core(exc: HDTicketsError) -> ApiError:
    if isinstance(exc, InsufficientScope):
        challenge = f'Bearer error="insufficient_scope", scope="{exc.scope.value}"'
        return ApiError(403, "insufficient_scope", str(exc), {"WWW-Authenticate": challenge})
    if isinstance(exc, AuthError):
        return ApiError(401, "unauthorized", str(exc), BEARER_CHALLENGE)
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


def _internal(request: web.Request) -> web.Response:
    """A 500 for an unexpected failure (call inside `except`: the traceback is logged)."""
    logger.exception("unhandled error in %s %s", request.method, request.path)
    return error_response(500, "internal", "internal server error; see the server log")


class ConnectionLog(logging.LoggerAdapter[logging.Logger]):
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
