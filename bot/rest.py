"""The REST API under /api/v1 (DESIGN.md §9): the route table, its OpenAPI description
(built by `bot.rest_openapi`), and `add_rest_routes`, which registers every route in one place.

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

from bot.rest_alerts import ACTIONS, RESOLVE_FIELDS, SNOOZE_FIELDS, AlertRoutes
from bot.rest_base import PREFIX, RestDeps
from bot.rest_channels import (
    ROTATE_EXAMPLE,
    ROTATE_FIELDS,
    WEBHOOK_EXAMPLE,
    WEBHOOK_FIELDS,
    ChannelRoutes,
)
from bot.rest_chat import COMMAND_FIELDS, CommandRoutes
from bot.rest_openapi import describe
from bot.rest_person import PATCH_EXAMPLE, PREFERENCE_FIELDS, PersonRoutes
from bot.rest_watches import CREATE_FIELDS, WatchRoutes
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


# --- routes (their OpenAPI description: `bot.rest_openapi`) -----------------------------------

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
    person: bool = False  # acts as one person: an admin token must name them (?user=)


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
        person=True,
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
        person=True,
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
        person=True,
    ),
    Route(
        "GET",
        "/activity",
        lambda r: r.person.activity,
        Scope.READ,
        "Your presence per platform and latest activity; ?limit=50",
        query=("limit",),
        person=True,
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
        person=True,
    ),
    Route("GET", "/openapi.json", lambda r: _openapi, None, "This document"),
)


def openapi_document() -> dict[str, Any]:
    """An OpenAPI 3.1 description of the routes above and of ingest."""
    return describe(ROUTES)


def add_rest_routes(app: web.Application, deps: RestDeps) -> None:
    """Register every route of `ROUTES` under /api/v1."""
    routes = RestRoutes.build(deps)
    for route in ROUTES:
        if route.method == "GET":  # HEAD too, as for every GET
            app.router.add_get(PREFIX + route.path, route.handler(routes))
        else:
            app.router.add_route(route.method, PREFIX + route.path, route.handler(routes))
