"""REST alerts: list, detail, timeline, and the alert actions (ack, snooze, mute, bought,
resolve).

Reads are shaped by `core.api_views`; actions go through the same code as the chat's
buttons (`core.alerts.apply_action`, `core.alerts.resolve`), so a button and an API call
do the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.rest_base import VIA, RouteHandlers, int_param, json_object, limit_param, path_id
from bot.web_errors import ApiError
from core import api_views
from core.alerts import apply_action, resolve
from core.db.models import Alert
from core.domain import UNSTORABLE, ActionKind
from core.tokens import Scope

ACTIONS = {
    "ack": ActionKind.ACK,
    "snooze": ActionKind.SNOOZE,
    "mute": ActionKind.MUTE,
    "bought": ActionKind.BOUGHT,
}
MAX_SNOOZE_MINUTES = 30 * 24 * 60
MAX_REASON = 500  # characters of a resolve's reason
_SNOOZE_EXAMPLE = '{"minutes": 120} or {"below": 40}'
# The fields each body may hold (others: 422); bot.rest declares the same in OpenAPI.
SNOOZE_FIELDS = ("minutes", "below")
RESOLVE_FIELDS = ("reason",)


class AlertRoutes(RouteHandlers):
    async def list_alerts(self, request: web.Request) -> web.Response:
        caller = await self._caller(request, Scope.READ)
        status = api_views.check_status(request.query.get("status"))
        limit = limit_param(request)
        cursor = request.query.get("before")
        before = None if cursor is None else int_param(cursor, "before", "?before=120&limit=50")
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
            item = await api_views.alert_detail(session, path_id(request), owner)
        return web.json_response(item)

    async def timeline(self, request: web.Request) -> web.Response:
        caller = await self._caller(request, Scope.READ)
        alert_id = path_id(request)
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session:
            entries = await api_views.alert_timeline(session, alert_id, owner)
        return web.json_response({"alert_id": alert_id, "timeline": entries})

    async def act(self, request: web.Request) -> web.Response:
        """POST /alerts/{id}/ack|snooze|mute|bought; snooze takes {"minutes"} or {"below"}."""
        caller = await self._caller(request, Scope.WRITE)
        alert_id = path_id(request)
        action = ACTIONS[request.path.rsplit("/", 1)[-1]]
        body = await json_object(request, _SNOOZE_EXAMPLE, optional=True)
        until, below = None, None
        now = self._deps.clock.now()
        allowed = set(SNOOZE_FIELDS) if action is ActionKind.SNOOZE else set()
        if unknown := sorted(set(body) - allowed):
            takes = _SNOOZE_EXAMPLE if allowed else "no body, e.g. {}"
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
            if below is not None and alert.price is not None and below >= alert.price:
                raise ApiError(  # the rule `apply_action` states, in the API's words
                    422,
                    "invalid",
                    f"below {below:g} is not under the alert's price {alert.price:g},"
                    f' e.g. {{"below": {round(alert.price * 0.9)}}}',
                )
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
        alert_id = path_id(request)
        body = await json_object(
            request, '{"reason": "sold out"}', optional=True, fields=RESOLVE_FIELDS
        )
        reason = body.get("reason", "resolved by an admin")
        text = " ".join(reason.split()) if isinstance(reason, str) else ""
        if not text or len(text) > MAX_REASON or UNSTORABLE.search(text):
            raise ApiError(
                422,
                "invalid",
                f'reason must be 1-{MAX_REASON} characters of text, e.g. {{"reason": "sold out"}}',
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


def _snooze_terms(body: Mapping[str, Any]) -> tuple[int | None, float | None]:
    """(minutes, None), (None, below) or (None, None) for the default hour."""
    minutes, below = body.get("minutes"), body.get("below")
    if minutes is not None and below is not None:
        raise ApiError(422, "invalid", f"give minutes or below, not both, e.g. {_SNOOZE_EXAMPLE}")
    if minutes is not None:
        # JSON has one number type: 120.0 is the whole number 120, as JSON Schema's
        # "integer" (the OpenAPI document's) takes it.
        if isinstance(minutes, float) and minutes.is_integer():
            minutes = int(minutes)
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int)
            or not 1 <= minutes <= MAX_SNOOZE_MINUTES
        ):
            raise ApiError(
                422,
                "invalid",
                f"minutes must be a whole number from 1 to {MAX_SNOOZE_MINUTES},"
                f" e.g. {_SNOOZE_EXAMPLE}",
            )
        return minutes, None
    if below is not None:
        # Whole cents, as the chat's "snooze 12 under 19.99" stores it: 0.004 is no price,
        # and 19.999 is 20, which must then be under the current price like a typed 20.
        cents = round(below, 2) if isinstance(below, int | float) else None
        if isinstance(below, bool) or cents is None or not 0.01 <= cents < 1e7:
            raise ApiError(
                422,
                "invalid",
                f"below must be a price of at least 0.01 and under 10,000,000,"
                f" e.g. {_SNOOZE_EXAMPLE}",
            )
        return None, float(cents)
    return 60, None
