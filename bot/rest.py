"""The REST API under /api/v1 (DESIGN.md §9): alerts, watches, chat commands, OpenAPI.

Every route takes `Authorization: Bearer <token>` (`hdtickets tokens create`) and needs a
scope: `read` to look, `write` to act, `admin` to act for anyone (`?user=ID` narrows an
admin's view to one person). A person's token sees and changes only that person's rows.
Writes go through the same code as the chat (`core.alerts.apply_action`,
`CommandHandlers`), so a button, a chat command and an API call do the same thing.
Errors answer `{"error": {"code", "message"}}` with a 4xx status (see `bot.web`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.webhook.secrets import SecretBox
from adapters.webhook.ssrf import SsrfPolicy
from bot.web import INGEST_PATH, ApiError, decode_json
from bot.webhook_admin import (
    add_endpoint,
    endpoint_json,
    parse_events,
    queue_test,
    remove_endpoint,
)
from core import api_views
from core.alerts import apply_action, resolve
from core.chat import CommandContext, Reply
from core.db.models import Alert, User, Watch, WebhookEndpoint
from core.domain import UNSTORABLE, ActionKind, Platform
from core.handlers import CommandHandlers
from core.ports import Clock
from core.tokens import Scope, authenticate

PREFIX = "/api/v1"
VIA = "api"
_BEARER = {"WWW-Authenticate": 'Bearer realm="hdtickets"'}
_ACTIONS = {
    "ack": ActionKind.ACK,
    "snooze": ActionKind.SNOOZE,
    "mute": ActionKind.MUTE,
    "bought": ActionKind.BOUGHT,
}
MAX_SNOOZE_MINUTES = 30 * 24 * 60
_WEBHOOK_EXAMPLE = '{"url": "https://hooks.example.com/hdt", "events": ["alert.triggered"]}'


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
        """Whose rows the request may see: the token's person, or (admin) ?user= or all."""
        if not self.admin:
            return self.user_id
        wanted = request.query.get("user")
        return None if wanted is None else _int(wanted, "user", "?user=3")


_MAX_ID = 2**53


def _int(text: str, name: str, example: str, low: int = 1, high: int = _MAX_ID) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 16 and low <= int(value) <= high):
        wanted = (
            "an id (a whole number)" if high == _MAX_ID else f"a whole number from {low} to {high}"
        )
        raise ApiError(422, "invalid", f"{name} must be {wanted}, e.g. {example}")
    return int(value)


def _path_id(request: web.Request) -> int:
    """The {id} of the path; the example is this path with 12 in its place."""
    given = request.match_info["id"]
    return _int(given, "id", request.path.replace(f"/{given}", "/12", 1))


async def _json_object(
    request: web.Request, example: str, *, optional: bool = False
) -> dict[str, Any]:
    """The request body as a JSON object ({} when `optional` and the body is empty)."""
    raw = await request.read()
    if optional and not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "body is not UTF-8 encoded JSON") from None
    body = decode_json(text, example)
    if not isinstance(body, dict):
        raise ApiError(422, "invalid", f"the body must be a JSON object, e.g. {example}")
    return body


class RestRoutes:
    """The handlers; each one authenticates, then reads or acts in one transaction."""

    def __init__(self, deps: RestDeps) -> None:
        self._deps = deps

    async def _caller(self, request: web.Request, scope: Scope) -> Caller:
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

    # --- alerts ---------------------------------------------------------------------------

    async def list_alerts(self, request: web.Request) -> web.Response:
        caller = await self._caller(request, Scope.READ)
        status = api_views.check_status(request.query.get("status"))
        limit = _int(request.query.get("limit", "50"), "limit", "?limit=20", 1, api_views.MAX_LIMIT)
        cursor = request.query.get("before")
        before = None if cursor is None else _int(cursor, "before", "?before=120&limit=50")
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session:
            items = await api_views.list_alerts(session, owner, status, limit, before)
        # A full page may have more after it: the link to the next one (same filters).
        more = len(items) == limit
        following = str(request.rel_url.update_query(before=items[-1]["id"])) if more else None
        return web.json_response({"alerts": items, "next": following})

    async def get_alert(self, request: web.Request) -> web.Response:
        caller = await self._caller(request, Scope.READ)
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session:
            item = await api_views.alert_detail(session, _path_id(request), owner)
        return web.json_response(item)

    async def timeline(self, request: web.Request) -> web.Response:
        caller = await self._caller(request, Scope.READ)
        alert_id = _path_id(request)
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session:
            entries = await api_views.alert_timeline(session, alert_id, owner)
        return web.json_response({"alert_id": alert_id, "timeline": entries})

    async def act(self, request: web.Request) -> web.Response:
        """POST /alerts/{id}/ack|snooze|mute|bought; snooze takes {"minutes"} or {"below"}."""
        caller = await self._caller(request, Scope.WRITE)
        alert_id = _path_id(request)
        action = _ACTIONS[request.path.rsplit("/", 1)[-1]]
        body = await _json_object(request, '{"minutes": 120} or {"below": 40}', optional=True)
        until, below = None, None
        now = self._deps.clock.now()
        allowed = {"minutes", "below"} if action is ActionKind.SNOOZE else set()
        if unknown := sorted(set(body) - allowed):
            takes = '{"minutes": 120} or {"below": 40}' if allowed else "no body, e.g. {}"
            raise ApiError(422, "invalid", f"unknown field {unknown[0]!r}; this takes {takes}")
        if action is ActionKind.SNOOZE:
            minutes, below = _snooze_terms(body)
            if below is not None:
                action = ActionKind.SNOOZE_CHEAPER
            else:
                until = now + timedelta(minutes=minutes or 60)
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session, session.begin():
            alert = await api_views.owned_alert(session, alert_id, owner)
            changed = await apply_action(
                session,
                alert_id,
                action,
                user_id=alert.user_id,
                via=VIA,
                now=now,
                snooze_until=until,
                snooze_below=below,
            )
            item = await api_views.alert_detail(session, changed.id, None)
        self._deps.outbox_changed()
        return web.json_response(item)

    async def resolve(self, request: web.Request) -> web.Response:
        """POST /alerts/{id}/resolve {"reason": "sold out"} (admin)."""
        await self._caller(request, Scope.ADMIN)
        alert_id = _path_id(request)
        body = await _json_object(request, '{"reason": "sold out"}', optional=True)
        reason = body.get("reason", "resolved by an admin")
        text = " ".join(reason.split()) if isinstance(reason, str) else ""
        if not text or len(text) > 500 or UNSTORABLE.search(text):
            raise ApiError(
                422,
                "invalid",
                'reason must be 1-500 characters of text, e.g. {"reason": "sold out"}',
            )
        now = self._deps.clock.now()
        async with self._deps.sessions() as session, session.begin():
            alert = await session.get(Alert, alert_id, with_for_update=True)
            if alert is None:
                raise ApiError(404, "not_found", f"alert {alert_id} not found")
            await resolve(session, alert, f"{text} (via {VIA})", now)
            item = await api_views.alert_detail(session, alert_id, None)
        self._deps.outbox_changed()
        return web.json_response(item)

    # --- watches and commands ----------------------------------------------------------------

    async def list_watches(self, request: web.Request) -> web.Response:
        caller = await self._caller(request, Scope.READ)
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session:
            items = await api_views.list_watches(session, owner)
        return web.json_response({"watches": items})

    async def get_watch(self, request: web.Request) -> web.Response:
        caller = await self._caller(request, Scope.READ)
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session:
            item = await api_views.watch_detail(session, _path_id(request), owner)
        return web.json_response(item)

    async def add_watch(self, request: web.Request) -> web.Response:
        """POST /watches {"text": "yankees under 80 qty 2"}: the chat `watch` command.

        201 when a watch was made; 200 when the words restated (or changed) one the person
        already has, or matched several events (numbered choices, nothing made).
        """
        caller = await self._caller(request, Scope.WRITE)
        user_id = await self._person(request, caller)
        text = _text(await _json_object(request, '{"text": "yankees under 80 qty 2"}'), "text")
        reply = await self._run(user_id, f"watch {text}")
        # The answer says whether this request made the watch: comparing the person's
        # watches before and after counted one made by a concurrent request too.
        return _reply_response(reply, created=reply.created is not None)

    async def watch_command(self, request: web.Request) -> web.Response:
        """DELETE /watches/{id}, POST /watches/{id}/pause|resume: the chat commands."""
        caller = await self._caller(request, Scope.WRITE)
        watch_id = _path_id(request)
        async with self._deps.sessions() as session:
            watch = await session.get(Watch, watch_id)
        owner = await self._owner(request, caller)
        if watch is None or watch.removed_at is not None or owner not in (None, watch.user_id):
            raise ApiError(404, "not_found", f"watch {watch_id} not found; GET {PREFIX}/watches")
        verb = "unwatch" if request.method == "DELETE" else request.path.rsplit("/", 1)[-1]
        return _reply_response(await self._run(watch.user_id, f"{verb} {watch_id}"))

    async def command(self, request: web.Request) -> web.Response:
        """POST /commands {"text": "alerts"} or {"token": "<a button's token>"}."""
        caller = await self._caller(request, Scope.WRITE)
        user_id = await self._person(request, caller)
        body = await _json_object(request, '{"text": "watches"}')
        ctx = _context(user_id)
        if "token" in body:
            reply = await self._deps.handlers.handle_button(ctx, _text(body, "token"))
        else:
            reply = await self._deps.handlers.handle_text(ctx, _text(body, "text"))
        return _reply_response(reply)

    # --- the person: preferences, activity, analytics --------------------------------------

    async def preferences(self, request: web.Request) -> web.Response:
        """GET /preferences (change them with the chat's prefs, quiet and tz commands)."""
        caller = await self._caller(request, Scope.READ)
        user_id = await self._person(request, caller)
        async with self._deps.sessions() as session:
            return web.json_response(await api_views.preferences(session, user_id))

    async def activity(self, request: web.Request) -> web.Response:
        caller = await self._caller(request, Scope.READ)
        user_id = await self._person(request, caller)
        limit = _int(request.query.get("limit", "50"), "limit", "?limit=20", 1, api_views.MAX_LIMIT)
        async with self._deps.sessions() as session:
            return web.json_response(await api_views.activity(session, user_id, limit))

    async def analytics(self, request: web.Request) -> web.Response:
        """GET /analytics?days=7: alerts by level and status, messages by channel and status."""
        caller = await self._caller(request, Scope.READ)
        days = _int(request.query.get("days", "7"), "days", "?days=30", 1, 366)
        since = self._deps.clock.now() - timedelta(days=days)
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session:
            body = await api_views.analytics(session, owner, since)
        return web.json_response(body)

    # --- channels: chats and webhook endpoints --------------------------------------------

    async def channels(self, request: web.Request) -> web.Response:
        """GET /channels: the person's chats and their webhook endpoints (admin: all)."""
        caller = await self._caller(request, Scope.READ)
        owner = await self._owner(request, caller)
        now = self._deps.clock.now()
        async with self._deps.sessions() as session:
            chats = (await api_views.preferences(session, owner))["chats"] if owner else []
            query = (
                select(WebhookEndpoint)
                .where(WebhookEndpoint.removed_at.is_(None))
                .order_by(WebhookEndpoint.id)
            )
            if owner is not None:
                query = query.where(WebhookEndpoint.user_id == owner)
            hooks = [endpoint_json(e, now) for e in await session.scalars(query)]
        return web.json_response({"chats": chats, "webhooks": hooks})

    async def add_webhook(self, request: web.Request) -> web.Response:
        """POST /channels/webhooks {"url", "events"}: the secret is in the answer, once."""
        caller = await self._caller(request, Scope.WRITE)
        body = await _json_object(request, _WEBHOOK_EXAMPLE)
        url = _text(body, "url")
        events = body.get("events", ["*"])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ApiError(
                422, "invalid", f'"events" must be a list of names, e.g. {_WEBHOOK_EXAMPLE}'
            )
        types = parse_events(events, _WEBHOOK_EXAMPLE)
        now = self._deps.clock.now()
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session, session.begin():
            added = await add_endpoint(
                session, self._deps.secrets, self._deps.ssrf, url, types, owner, now
            )
            item = endpoint_json(added.endpoint, now)
        self._deps.webhooks_changed()
        return web.json_response({"endpoint": item, "secret": added.secret}, status=201)

    async def _owned_endpoint(
        self, session: AsyncSession, request: web.Request, caller: Caller
    ) -> WebhookEndpoint:
        endpoint_id = _path_id(request)
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        owner = await self._owner(request, caller)
        if (
            endpoint is None
            or endpoint.removed_at is not None
            or owner not in (None, endpoint.user_id)
        ):
            raise ApiError(
                404, "not_found", f"webhook endpoint {endpoint_id} not found; GET {PREFIX}/channels"
            )
        return endpoint

    async def test_webhook(self, request: web.Request) -> web.Response:
        """POST /channels/webhooks/{id}/test: queue a "test" delivery."""
        caller = await self._caller(request, Scope.WRITE)
        async with self._deps.sessions() as session, session.begin():
            endpoint = await self._owned_endpoint(session, request, caller)
            queued = await queue_test(session, endpoint, self._deps.clock.now())
        return web.json_response({"notification_id": queued, "status": "pending"}, status=202)

    async def remove_webhook(self, request: web.Request) -> web.Response:
        """DELETE /channels/webhooks/{id}: the endpoint goes and its queued deliveries are
        cancelled; what it was sent stays in the alerts' timelines."""
        caller = await self._caller(request, Scope.WRITE)
        async with self._deps.sessions() as session, session.begin():
            endpoint = await self._owned_endpoint(session, request, caller)
            removed = endpoint.id
            await remove_endpoint(session, endpoint, self._deps.clock.now())
        self._deps.webhooks_changed()
        return web.json_response({"removed": removed})

    async def _run(self, user_id: int, text: str) -> Reply:
        return await self._deps.handlers.handle_text(_context(user_id), text)

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document())


def _context(user_id: int) -> CommandContext:
    return CommandContext(user_id=user_id, platform=Platform.API.value, address=VIA)


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if isinstance(value, str) and UNSTORABLE.search(value):
        raise ApiError(422, "invalid", f'"{key}" holds a NUL or a lone surrogate; send plain text')
    if not isinstance(value, str) or not value.strip() or len(value) > 1000:
        raise ApiError(
            422, "invalid", f'"{key}" must be a string of 1-1000 characters, e.g. {{"{key}": "…"}}'
        )
    return value.strip()


def _snooze_terms(body: Mapping[str, Any]) -> tuple[int | None, float | None]:
    """(minutes, None), (None, below) or (None, None) for the default hour."""
    minutes, below = body.get("minutes"), body.get("below")
    example = '{"minutes": 120} or {"below": 40}'
    if minutes is not None and below is not None:
        raise ApiError(422, "invalid", f"give minutes or below, not both, e.g. {example}")
    if minutes is not None:
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int)
            or not 1 <= minutes <= MAX_SNOOZE_MINUTES
        ):
            raise ApiError(
                422,
                "invalid",
                f"minutes must be a whole number from 1 to {MAX_SNOOZE_MINUTES}, e.g. {example}",
            )
        return minutes, None
    if below is not None:
        if isinstance(below, bool) or not isinstance(below, int | float) or not 0 < below < 1e7:
            raise ApiError(
                422,
                "invalid",
                f"below must be a price above 0 and under 10,000,000, e.g. {example}",
            )
        return None, float(below)
    return 60, None


def reply_json(reply: Reply) -> dict[str, Any]:
    """A chat reply for an API client: lines, numbered choices and buttons (with tokens)."""
    return {
        "lines": list(reply.lines),
        "choices": [
            {"number": i, "label": c.label, "command": c.command, "token": c.token}
            for i, c in enumerate(reply.choices, start=1)
        ],
        "buttons": [
            {"label": b.label, "token": b.token, "url": b.url} for b in reply.all_buttons()
        ],
    }


def _reply_response(reply: Reply, *, created: bool = False) -> web.Response:
    if reply.is_error:
        raise ApiError(422, "invalid", reply.lines[0] if reply.lines else "not understood")
    return web.json_response(reply_json(reply), status=201 if created else 200)


# --- routes and their OpenAPI description ---------------------------------------------------

Handler = Callable[[RestRoutes], Callable[[web.Request], Awaitable[web.StreamResponse]]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    scope: Scope | None
    summary: str
    body: str | None = None  # an example JSON body


ROUTES = (
    Route(
        "GET",
        "/alerts",
        lambda r: r.list_alerts,
        Scope.READ,
        "Alerts, newest first; ?status=active|open|acknowledged|snoozed|resolved|expired,"
        " ?limit=50, ?before=ID (the next page: the answer's `next` link)",
    ),
    Route(
        "GET",
        "/alerts/{id}",
        lambda r: r.get_alert,
        Scope.READ,
        "One alert: state, factors and reasons, forecast, escalation, event",
    ),
    Route(
        "GET",
        "/alerts/{id}/timeline",
        lambda r: r.timeline,
        Scope.READ,
        "Every decision and message of one alert, oldest first",
    ),
    *(
        Route(
            "POST",
            f"/alerts/{{id}}/{name}",
            lambda r: r.act,
            Scope.WRITE,
            f"{name.capitalize()} an alert (as its button does)",
            '{"minutes": 120}' if name == "snooze" else None,
        )
        for name in _ACTIONS
    ),
    Route(
        "POST",
        "/alerts/{id}/resolve",
        lambda r: r.resolve,
        Scope.ADMIN,
        "Resolve an alert: pending sends cancelled, webhooks told",
        '{"reason": "sold out"}',
    ),
    Route("GET", "/watches", lambda r: r.list_watches, Scope.READ, "Watches not removed"),
    Route("GET", "/watches/{id}", lambda r: r.get_watch, Scope.READ, "One watch"),
    Route(
        "POST",
        "/watches",
        lambda r: r.add_watch,
        Scope.WRITE,
        "Add a watch in the chat's words (several matching events: numbered choices)",
        '{"text": "yankees under 80 qty 2"}',
    ),
    Route("DELETE", "/watches/{id}", lambda r: r.watch_command, Scope.WRITE, "Remove a watch"),
    *(
        Route(
            "POST",
            f"/watches/{{id}}/{verb}",
            lambda r: r.watch_command,
            Scope.WRITE,
            f"{verb.capitalize()} a watch",
        )
        for verb in ("pause", "resume")
    ),
    Route(
        "GET",
        "/preferences",
        lambda r: r.preferences,
        Scope.READ,
        "Your settings: time zone, quiet hours, channel order, digest, learning, chats"
        " (change them with the prefs, quiet and tz commands)",
    ),
    Route(
        "GET",
        "/activity",
        lambda r: r.activity,
        Scope.READ,
        "Your presence per platform and latest activity; ?limit=50",
    ),
    Route(
        "GET",
        "/analytics",
        lambda r: r.analytics,
        Scope.READ,
        "Alerts by level and status, messages by channel and status; ?days=7",
    ),
    Route(
        "GET",
        "/channels",
        lambda r: r.channels,
        Scope.READ,
        "Your chats and webhook endpoints (never their secrets)",
    ),
    Route(
        "POST",
        "/channels/webhooks",
        lambda r: r.add_webhook,
        Scope.WRITE,
        "Add a webhook endpoint; the answer holds its signing secret, shown once",
        _WEBHOOK_EXAMPLE,
    ),
    Route(
        "POST",
        "/channels/webhooks/{id}/test",
        lambda r: r.test_webhook,
        Scope.WRITE,
        "Queue a test delivery to a webhook endpoint",
    ),
    Route(
        "DELETE",
        "/channels/webhooks/{id}",
        lambda r: r.remove_webhook,
        Scope.WRITE,
        "Remove a webhook endpoint: queued deliveries cancelled, sent ones kept",
    ),
    Route(
        "POST",
        "/commands",
        lambda r: r.command,
        Scope.WRITE,
        "Run any chat command, or press a button by its token",
        '{"text": "alerts"}',
    ),
    Route("GET", "/openapi.json", lambda r: r.openapi, None, "This document"),
)


def openapi_document() -> dict[str, Any]:
    """An OpenAPI 3.1 description of the routes above and of ingest."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "responses": {
                "200": {"description": "JSON"},
                "4XX": {"description": '{"error": {"code": "…", "message": "…"}}'},
            },
        }
        if route.scope is not None:
            operation["security"] = [{"bearer": [route.scope.value]}]
        if route.body is not None:
            operation["requestBody"] = {
                "content": {"application/json": {"example": decode_json(route.body)}}
            }
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = operation
    paths[INGEST_PATH] = {
        "post": {
            "summary": "Ingest market snapshots (Standard Webhooks signature or `ingest` scope)",
            "security": [{"bearer": ["ingest"]}, {"standardWebhooks": []}],
            "responses": {"202": {"description": '{"accepted", "duplicates", "rejected"}'}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "HDTickets Alerts", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "standardWebhooks": {"type": "apiKey", "in": "header", "name": "webhook-signature"},
            }
        },
    }


def add_rest_routes(app: web.Application, deps: RestDeps) -> None:
    """Register every route of `ROUTES` under /api/v1."""
    routes = RestRoutes(deps)
    for route in ROUTES:
        if route.method == "GET":  # HEAD too, as for every GET
            app.router.add_get(PREFIX + route.path, route.handler(routes))
        else:
            app.router.add_route(route.method, PREFIX + route.path, route.handler(routes))
