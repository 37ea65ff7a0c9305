"""What every REST resource shares: its dependencies, who is asking, and request parsing.

Every route takes `Authorization: Bearer <token>` (`hdtickets tokens create`) and needs a
scope: `read` to look, `write` to act, `admin` to act for anyone (`?user=ID` narrows an
admin's view to one person). A person's token sees and changes only that person's rows.
Bad input raises `ApiError`, which answers `{"error": {"code", "message"}}` with a 4xx
status (see `bot.web`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.webhook.secrets import SecretBox
from adapters.webhook.ssrf import SsrfPolicy
from bot.web import decode_json, read_body, refuse_token_in_url
from bot.web_errors import API_PREFIX, ApiError
from core import api_views
from core.db.models import User, Watch, WebhookEndpoint
from core.domain import UNSTORABLE
from core.formatting import clip
from core.handlers import CommandHandlers
from core.ports import Clock
from core.tokens import Scope, authenticate

PREFIX = API_PREFIX
VIA = "api"
_BEARER = {"WWW-Authenticate": 'Bearer realm="hdtickets"'}
MAX_ID = 2**53  # the largest id a JSON number holds exactly
MAX_TEXT_FIELD = 1000  # `text_field`: a command or a button token


@dataclass(frozen=True, slots=True)
class RestDeps:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    handlers: CommandHandlers
    secrets: SecretBox  # webhook signing secrets, encrypted with HDT_SECRET_KEY
    ssrf: SsrfPolicy  # which webhook URLs are allowed (HDT_WEBHOOK_ALLOW_HOSTS)
    webhooks_changed: Callable[[], None] = lambda: None  # the engine's endpoint cache
    outbox_changed: Callable[[], None] = lambda: None  # wakes delivery (edits, resolves)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the token's person, and whether the token is an admin's."""

    user_id: int | None
    admin: bool

    def owner(self, request: web.Request) -> int | None:
        """Whose rows the request may see: the token's person, or (admin) ?user= or all.

        A person's token naming someone else with ?user= is refused: answering with the
        token's own rows, or acting as its own person, would pass them off as the other's.
        """
        wanted = request.query.get("user")
        if not self.admin:
            if wanted is not None and int_param(wanted, "user", "?user=3") != self.user_id:
                raise ApiError(
                    403,
                    "forbidden",
                    f"this token is user {self.user_id}'s and acts for no one else;"
                    " leave ?user= out, or use an admin token",
                )
            return self.user_id
        return None if wanted is None else int_param(wanted, "user", "?user=3")


class RouteHandlers:
    """The base of each resource's handlers: each one authenticates, then reads or acts in
    one transaction."""

    def __init__(self, deps: RestDeps) -> None:
        self._deps = deps

    async def _caller(self, request: web.Request, scope: Scope) -> Caller:
        refuse_token_in_url(request)
        header = request.headers.get("Authorization", "")
        kind, _, token = header.strip().partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "unauthorized",
                "use Authorization: Bearer <token> (hdtickets tokens create)",
                _BEARER,
            )
        async with self._deps.sessions() as session, session.begin():
            row = await authenticate(session, token.strip(), scope, self._deps.clock.now())
            admin = Scope.ADMIN.value in row.scopes
            if row.user_id is None and not admin:
                raise ApiError(
                    403,
                    "forbidden",
                    "this token belongs to no person; use a person's token or an admin token",
                )
            return Caller(row.user_id, admin)

    async def _owner(self, request: web.Request, caller: Caller) -> int | None:
        """`Caller.owner`, and a 404 when an admin names a person who does not exist."""
        owner = caller.owner(request)
        if caller.admin and owner is not None:
            async with self._deps.sessions() as session:
                if await session.get(User, owner) is None:
                    raise ApiError(
                        404, "not_found", f"there is no user {owner}; see hdtickets users list"
                    )
        return owner

    async def _person(self, request: web.Request, caller: Caller) -> int:
        """The person a write acts as: the token's, or (admin) the one named by ?user=."""
        owner = await self._owner(request, caller)
        if owner is None:
            raise ApiError(422, "invalid", "say whom this is for with ?user=ID, e.g. ?user=3")
        return owner


def int_param(text: str, name: str, example: str, low: int = 1, high: int = MAX_ID) -> int:
    """A whole number from low to high (by default an id), or a 422 naming `example`."""
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 16 and low <= int(value) <= high):
        wanted = (
            "an id (a whole number)" if high == MAX_ID else f"a whole number from {low} to {high}"
        )
        raise ApiError(422, "invalid", f"{name} must be {wanted}, e.g. {example}")
    return int(value)


def limit_param(request: web.Request) -> int:
    """?limit= of a listing: 50 when absent, at most `api_views.MAX_LIMIT`."""
    return int_param(request.query.get("limit", "50"), "limit", "?limit=20", 1, api_views.MAX_LIMIT)


def path_id(request: web.Request) -> int:
    """The {id} of the path; the example is this path with 12 in its place."""
    given = request.match_info["id"]
    return int_param(given, "id", request.path.replace(f"/{given}", "/12", 1))


async def json_object(
    request: web.Request,
    example: str,
    *,
    optional: bool = False,
    fields: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The request body as a JSON object ({} when `optional` and the body is empty).

    With `fields`, any other key answers 422: a misspelt optional field ("curency") would
    otherwise be dropped without a word, and the request done without it."""
    raw = await read_body(request)
    if optional and not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "body is not UTF-8 encoded JSON") from None
    body = decode_json(text, example)
    if not isinstance(body, dict):
        raise ApiError(422, "invalid", f"the body must be a JSON object, e.g. {example}")
    if fields is not None and (unknown := sorted(set(body) - set(fields))):
        known = ", ".join(f'"{name}"' for name in fields)
        raise ApiError(
            422,
            "invalid",
            f"unknown field {clip(unknown[0], 30)!r} (known: {known}), e.g. {example}",
        )
    return body


def text_field(body: Mapping[str, Any], key: str) -> str:
    """body[key] as storable text of 1-MAX_TEXT_FIELD characters, stripped."""
    value = body.get(key)
    if isinstance(value, str) and UNSTORABLE.search(value):
        raise ApiError(422, "invalid", f'"{key}" holds a NUL or a lone surrogate; send plain text')
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT_FIELD:
        raise ApiError(
            422,
            "invalid",
            f'"{key}" must be a string of 1-{MAX_TEXT_FIELD} characters, e.g. {{"{key}": "…"}}',
        )
    return value.strip()


_Row = TypeVar("_Row", Watch, WebhookEndpoint)


def visible_row(row: _Row | None, owner: int | None, missing: str) -> _Row:
    """`row` if it exists, is not removed and `owner` may see it (None: anyone's); else a
    404 saying `missing`."""
    if row is None or row.removed_at is not None or owner not in (None, row.user_id):
        raise ApiError(404, "not_found", missing)
    return row
