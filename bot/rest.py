"""The REST API under /api/v1 (DESIGN.md §9): the route table, its OpenAPI description,
and `add_rest_routes`, which registers every route in one place.

The handlers live by resource: `bot.rest_alerts` (alerts and their actions),
`bot.rest_watches`, `bot.rest_chat` (any chat command), `bot.rest_person` (preferences,
activity, analytics) and `bot.rest_channels` (chats, contact points and webhook
endpoints); what they share (`RestDeps`, authentication and scopes, parsing) is in
`bot.rest_base`. Writes go
through the same code as the chat (`core.alerts.apply_action`, `CommandHandlers`), so a
button, a chat command and an API call do the same thing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.rest_alerts import (
    ACTIONS,
    MAX_REASON,
    MAX_SNOOZE_MINUTES,
    RESOLVE_FIELDS,
    SNOOZE_FIELDS,
    AlertRoutes,
)
from bot.rest_base import MAX_ID, MAX_TEXT_FIELD, PREFIX, RestDeps
from bot.rest_channels import (
    ROTATE_EXAMPLE,
    ROTATE_FIELDS,
    WEBHOOK_EXAMPLE,
    WEBHOOK_FIELDS,
    ChannelRoutes,
)
from bot.rest_chat import COMMAND_FIELDS, CommandRoutes
from bot.rest_person import PATCH_EXAMPLE, PREFERENCE_FIELDS, PersonRoutes
from bot.rest_watches import CREATE_FIELDS, WatchRoutes
from bot.web import INGEST_PATH, decode_json
from core import api_views
from core.ingest.schema import MAX_BATCH
from core.tokens import Scope

__all__ = ["ROUTES", "RestDeps", "Route", "add_rest_routes", "openapi_document"]


@dataclass(frozen=True, slots=True)
class RestRoutes:
    """Every resource's handlers, built on the same dependencies."""

    alerts: AlertRoutes
    watches: WatchRoutes
    commands: CommandRoutes
    person: PersonRoutes
    channels: ChannelRoutes

    @classmethod
    def build(cls, deps: RestDeps) -> RestRoutes:
        return cls(
            AlertRoutes(deps),
            WatchRoutes(deps),
            CommandRoutes(deps),
            PersonRoutes(deps),
            ChannelRoutes(deps),
        )


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


# --- routes and their OpenAPI description ---------------------------------------------------

Handler = Callable[[RestRoutes], Callable[[web.Request], Awaitable[web.StreamResponse]]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    scope: Scope | None
    summary: str
    body: str | None = None  # an example JSON body (one that may be left out, but for `needs_body`)
    query: tuple[str, ...] = ()  # query parameters, beside ?user= (`QUERY_PARAMETERS`)
    statuses: tuple[int, ...] = (200,)  # what a success answers
    needs_body: bool = False
    fields: tuple[str, ...] = ()  # every field the body may hold (`BODY_FIELDS`); others: 422
    required: tuple[str, ...] = ()


ROUTES = (
    Route(
        "GET",
        "/alerts",
        lambda r: r.alerts.list_alerts,
        Scope.READ,
        "Alerts, newest first; ?status=active|open|acknowledged|snoozed|resolved|expired,"
        " ?limit=50, ?before=ID (the next page: the answer's `next` link)",
        query=("status", "limit", "before"),
    ),
    Route(
        "GET",
        "/alerts/{id}",
        lambda r: r.alerts.get_alert,
        Scope.READ,
        "One alert: state, factors and reasons, forecast, escalation, event",
    ),
    Route(
        "GET",
        "/alerts/{id}/timeline",
        lambda r: r.alerts.timeline,
        Scope.READ,
        "Every decision and message of one alert, oldest first",
    ),
    *(
        Route(
            "POST",
            f"/alerts/{{id}}/{name}",
            lambda r: r.alerts.act,
            Scope.WRITE,
            f"{name.capitalize()} an alert (as its button does)",
            '{"minutes": 120}' if name == "snooze" else "{}",
            fields=SNOOZE_FIELDS if name == "snooze" else (),
        )
        for name in ACTIONS
    ),
    Route(
        "POST",
        "/alerts/{id}/resolve",
        lambda r: r.alerts.resolve,
        Scope.ADMIN,
        "Resolve an alert: pending sends cancelled, webhooks told",
        '{"reason": "sold out"}',
        fields=RESOLVE_FIELDS,
    ),
    Route("GET", "/watches", lambda r: r.watches.list_watches, Scope.READ, "Watches not removed"),
    Route("GET", "/watches/{id}", lambda r: r.watches.get_watch, Scope.READ, "One watch"),
    Route(
        "POST",
        "/watches",
        lambda r: r.watches.add_watch,
        Scope.WRITE,
        "Add a watch in the chat's words (several matching events: numbered choices); an"
        ' optional "currency" (ISO 4217) is its max\'s',
        '{"text": "any arsenal under 80 qty 2", "currency": "GBP"}',
        statuses=(201, 200),
        needs_body=True,
        fields=CREATE_FIELDS,
        required=("text",),
    ),
    Route(
        "DELETE", "/watches/{id}", lambda r: r.watches.watch_command, Scope.WRITE, "Remove a watch"
    ),
    *(
        Route(
            "POST",
            f"/watches/{{id}}/{verb}",
            lambda r: r.watches.watch_command,
            Scope.WRITE,
            f"{verb.capitalize()} a watch",
        )
        for verb in ("pause", "resume")
    ),
    Route(
        "GET",
        "/preferences",
        lambda r: r.person.preferences,
        Scope.READ,
        "Your settings: time zone, quiet hours, channel order, digest, learning, chats",
    ),
    Route(
        "PATCH",
        "/preferences",
        lambda r: r.person.change_preferences,
        Scope.WRITE,
        "Change any of channel_order, min_level_per_channel, digest, wake_for_critical,"
        " quiet_hours (null: off) and timezone, as the chat's prefs, quiet and tz commands"
        " do; one bad field changes nothing. Answers the new settings, as GET does",
        PATCH_EXAMPLE,
        needs_body=True,
        fields=PREFERENCE_FIELDS,
    ),
    Route(
        "GET",
        "/activity",
        lambda r: r.person.activity,
        Scope.READ,
        "Your presence per platform and latest activity; ?limit=50",
        query=("limit",),
    ),
    Route(
        "GET",
        "/analytics",
        lambda r: r.person.analytics,
        Scope.READ,
        "Alerts by level and status, messages by channel and status; ?days=7",
        query=("days",),
    ),
    Route(
        "GET",
        "/channels",
        lambda r: r.channels.channels,
        Scope.READ,
        "Your chats, phones and emergency contacts (numbers masked) and webhook endpoints"
        " (never their secrets)",
    ),
    Route(
        "POST",
        "/channels/webhooks",
        lambda r: r.channels.add_webhook,
        Scope.WRITE,
        "Add a webhook endpoint; the answer holds its signing secret, shown once",
        WEBHOOK_EXAMPLE,
        statuses=(201,),
        needs_body=True,
        fields=WEBHOOK_FIELDS,
        required=("url",),
    ),
    Route(
        "POST",
        "/channels/webhooks/{id}/test",
        lambda r: r.channels.test_webhook,
        Scope.WRITE,
        "Queue a test delivery to a webhook endpoint",
        statuses=(202,),
    ),
    Route(
        "POST",
        "/channels/webhooks/{id}/rotate",
        lambda r: r.channels.rotate_webhook,
        Scope.WRITE,
        "A new signing secret for a webhook endpoint, shown once; older ones keep signing"
        " beside it for the grace period (default 24h, at most 30d)",
        ROTATE_EXAMPLE,
        fields=ROTATE_FIELDS,
    ),
    Route(
        "DELETE",
        "/channels/webhooks/{id}",
        lambda r: r.channels.remove_webhook,
        Scope.WRITE,
        "Remove a webhook endpoint: queued deliveries cancelled, sent ones kept",
    ),
    Route(
        "POST",
        "/commands",
        lambda r: r.commands.command,
        Scope.WRITE,
        "Run any chat command, or press a button by its token",
        '{"text": "alerts"}',
        needs_body=True,
        fields=COMMAND_FIELDS,
    ),
    Route("GET", "/openapi.json", lambda r: _openapi, None, "This document"),
)


_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_FIELD}
# Each body field as the routes check it; a value these allow may still be refused (an
# unknown time zone, a URL that resolves to a private address): 422 with the reason.
BODY_FIELDS: dict[str, dict[str, Any]] = {
    "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_SNOOZE_MINUTES},
    "below": {"type": "number", "minimum": 0.01, "exclusiveMaximum": 10_000_000},
    "reason": {"type": "string", "minLength": 1, "maxLength": MAX_REASON},
    "text": _TEXT,
    "token": _TEXT,
    "currency": {"type": "string", "description": "ISO 4217, e.g. GBP"},
    "url": {"type": "string", "minLength": 1, "maxLength": 500},
    "events": {"type": "array", "items": {"type": "string"}},
    "grace": {"type": "string", "description": "a duration, e.g. 24h; at most 30d"},
    "channel_order": {"type": "array", "items": {"type": "string"}},
    "min_level_per_channel": {"description": "a level (1-5 or low..critical) or {channel: level}"},
    "wake_for_critical": {"type": "boolean"},
    "timezone": {"type": "string"},
    "quiet_hours": {"description": '"23:00-07:00", {"start", "end"}, or null for off'},
    "digest": {"type": "string", "enum": ["hourly", "daily"]},
}
# Fields that exclude each other, by path.
_EXCLUSIVE = {"/alerts/{id}/snooze": ("minutes", "below"), "/commands": ("text", "token")}
QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "status": {
        "description": "active: open, acknowledged or snoozed",
        "schema": {"type": "string", "enum": list(api_views.ALERT_STATUSES)},
    },
    "limit": {
        "description": "how many at most",
        "schema": {"type": "integer", "minimum": 1, "maximum": api_views.MAX_LIMIT, "default": 50},
    },
    "before": {"description": "only smaller ids: the last id of the page before", "schema": _ID},
    "days": {"schema": {"type": "integer", "minimum": 1, "maximum": 366, "default": 7}},
    "user": {
        "description": "an admin token: the person to read or act for; a person's token may"
        " name only its own person (anyone else: 403)",
        "schema": _ID,
    },
}
_ERRORS = {
    400: "the body is not JSON, or could not be read",
    401: "no token, an unknown or a revoked one, or a token in the URL",
    403: "the token lacks the scope, belongs to no person, or names someone else",
    404: "no such row, or not yours; or no such person (?user=)",
    409: "another request wrote the same rows at the same moment; send it again",
    413: "a body over 5 MB",
    415: "a Content-Encoding other than identity, gzip or deflate",
    422: "a bad value or field, or an action that does not apply",
    503: "the database is busy or unavailable; Retry-After says when to try again",
}
_SUCCESS = {200: "OK", 201: "Created", 202: "Accepted (queued)"}
# Ingest's envelope, as `core.ingest.parse_envelope` and `check_source` take it; each
# snapshot is checked on its own (a bad one is in the answer's `rejected`, not a 422).
_BATCH = {
    "type": "object",
    "required": ["source", "snapshots"],
    "properties": {
        "source": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
        "snapshots": {"type": "array", "maxItems": MAX_BATCH, "items": {"type": "object"}},
    },
}
_BATCH_EXAMPLE = {
    "source": "seatgeek",
    "snapshots": [
        {
            "event": {
                "external_id": "E1",
                "name": "Rockies at Giants",
                "starts_at": "2030-06-01T19:05:00Z",
            },
            "observed_at": "2030-05-20T17:01:00Z",
            "min_price": 28.0,
        }
    ],
}
_INGEST_REPORT = {
    "type": "object",
    "required": ["accepted", "duplicates", "rejected"],
    "properties": {
        "accepted": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "rejected": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"index": {"type": "integer"}, "error": {"type": "string"}},
            },
        },
    },
}


def _error(status: int) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": _ERRORS[status], "content": {"application/json": {"schema": schema}}}


def _body_schema(route: Route) -> dict[str, Any]:
    """A route's body: a JSON object (anything else: 422) of its fields and no others."""
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if route.fields:
        schema["properties"] = {name: BODY_FIELDS[name] for name in route.fields}
    if route.required:
        schema["required"] = list(route.required)
    if (pair := _EXCLUSIVE.get(route.path)) is not None:
        schema["not"] = {"required": list(pair)}
        if route.path == "/commands":  # one of them is needed
            schema["anyOf"] = [{"required": [name]} for name in pair]
    return schema


def _operation(route: Route) -> dict[str, Any]:
    """One route's OpenAPI operation: its parameters, body, scope and every answer."""
    names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
    parameters = [{"name": n, "in": "path", "required": True, "schema": _ID} for n in names]
    query = (*route.query, "user") if route.scope in (Scope.READ, Scope.WRITE) else route.query
    parameters += [{"name": n, "in": "query", **QUERY_PARAMETERS[n]} for n in query]
    json_answer = {"application/json": {"schema": {"type": "object"}}}
    operation: dict[str, Any] = {
        "summary": route.summary,
        "parameters": parameters,
        "responses": {
            str(status): {"description": _SUCCESS[status], "content": json_answer}
            for status in route.statuses
        },
    }
    if route.scope is None:
        return operation
    operation["security"] = [{"bearer": [route.scope.value]}]
    errors = [401, 403, 413, 422, 503]
    if route.body is not None:
        example = decode_json(route.body)
        content = {"application/json": {"schema": _body_schema(route), "example": example}}
        operation["requestBody"] = {"required": route.needs_body, "content": content}
        errors += [400, 415]
    if names or "user" in query:
        errors.append(404)
    if route.method != "GET":
        errors.append(409)
    operation["responses"].update({str(status): _error(status) for status in sorted(errors)})
    return operation


def openapi_document() -> dict[str, Any]:
    """An OpenAPI 3.1 description of the routes above and of ingest."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = _operation(route)
    ingest_errors = {str(status): _error(status) for status in (400, 401, 403, 413, 415, 422, 503)}
    paths[INGEST_PATH] = {
        "post": {
            "summary": "Ingest market snapshots (Standard Webhooks signature or `ingest` scope)",
            "security": [{"bearer": ["ingest"]}, {"standardWebhooks": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _BATCH, "example": _BATCH_EXAMPLE}},
            },
            "responses": {
                "202": {
                    "description": "Accepted; each bad snapshot is in `rejected` with its reason",
                    "content": {"application/json": {"schema": _INGEST_REPORT}},
                },
                **ingest_errors,
            },
        }
    }
    error = {
        "type": "object",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "HDTickets Alerts", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {**error, "required": ["code", "message"]}},
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "standardWebhooks": {"type": "apiKey", "in": "header", "name": "webhook-signature"},
            },
        },
    }


def add_rest_routes(app: web.Application, deps: RestDeps) -> None:
    """Register every route of `ROUTES` under /api/v1."""
    routes = RestRoutes.build(deps)
    for route in ROUTES:
        if route.method == "GET":  # HEAD too, as for every GET
            app.router.add_get(PREFIX + route.path, route.handler(routes))
        else:
            app.router.add_route(route.method, PREFIX + route.path, route.handler(routes))
