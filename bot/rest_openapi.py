"""The REST API's OpenAPI 3.1 document: each route's operation, bodies, answers and ingest."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bot.rest_alerts import MAX_REASON, MAX_SNOOZE_MINUTES
from bot.rest_base import MAX_ID, MAX_TEXT_FIELD, PREFIX
from bot.web import decode_json
from bot.web_errors import INGEST_PATH
from core import api_views
from core.ingest.schema import MAX_BATCH
from core.tokens import Scope

if TYPE_CHECKING:
    from bot.rest import Route

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_FIELD}
# A level as `core.command_values.parse_level` reads it: 1-5, or its name in any case.
_LEVEL: list[dict[str, Any]] = [
    {"type": "integer", "minimum": 1, "maximum": 5},
    {"type": "string", "description": "1-5, or low, normal, medium, high, critical"},
]
# Each body field as the routes check it; a value these allow may still be refused (an
# unknown time zone, a URL that resolves to a private address): 422 with the reason.
BODY_FIELDS: dict[str, dict[str, Any]] = {
    "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_SNOOZE_MINUTES},
    "below": {"type": "number", "minimum": 0.01, "exclusiveMaximum": 10_000_000},
    "reason": {"type": "string", "minLength": 1, "maxLength": MAX_REASON},
    "text": _TEXT,
    "token": _TEXT,
    "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217, e.g. GBP"},
    "url": {
        "type": "string",
        "minLength": 1,
        "maxLength": 500,
        "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s]",
    },
    "events": {"type": "array", "items": {"type": "string"}},
    "grace": {
        "type": "string",
        "pattern": "^(0|[0-9]+[smhdSMHD])$",
        "description": "a duration, e.g. 24h; at most 30d",
    },
    "channel_order": {"type": "array", "items": {"type": "string"}},
    "min_level_per_channel": {
        "description": "one level for every channel, or {channel: level} for those named",
        "anyOf": [*_LEVEL, {"type": "object", "additionalProperties": {"anyOf": _LEVEL}}],
    },
    "wake_for_critical": {"type": "boolean"},
    "timezone": {"type": "string"},
    "quiet_hours": {
        "description": '"23:00-07:00", {"start": "23:00", "end": "07:00"}, or null for off',
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "required": ["start", "end"],
                "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
                "additionalProperties": False,
            },
            {"type": "null"},
        ],
    },
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
# ?user= on a route that acts as one person (`Route.person`): an admin token must say whom.
_PERSON_USER = {
    "description": "the person to read or act for: an admin token must name one (without"
    " ?user=: 422); a person's token may name only its own person (anyone else: 403)",
    "schema": _ID,
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
    described = {**QUERY_PARAMETERS, "user": _PERSON_USER} if route.person else QUERY_PARAMETERS
    parameters += [{"name": n, "in": "query", **described[n]} for n in query]
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


def describe(routes: Iterable[Route]) -> dict[str, Any]:
    """An OpenAPI 3.1 description of `routes` and of ingest."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
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
