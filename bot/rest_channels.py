"""REST channels: the person's chats, phones and emergency contacts (masked; managed
by the chat's `phone` and `contact add`) and webhook endpoints, and adding, testing and
removing an endpoint (the same steps as `hdtickets webhooks`, from `bot.webhook_admin`)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import false, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rest_base import (
    PREFIX,
    Caller,
    RouteHandlers,
    json_object,
    path_id,
    text_field,
    visible_row,
)
from bot.web_errors import ApiError
from bot.webhook_admin import (
    add_endpoint,
    endpoint_json,
    parse_events,
    parse_grace,
    queue_test,
    remove_endpoint,
    rotate_secret,
)
from core import api_views
from core.db.locks import lock_name
from core.db.models import WebhookEndpoint
from core.errors import ValidationError
from core.formatting import iso
from core.tokens import Scope

_REMOVE = f"DELETE {PREFIX}/channels/webhooks/{{id}}"
_ROTATE = f"POST {PREFIX}/channels/webhooks/{{id}}/rotate"
# A client that lost the answer holding the secret (a timeout) finds the URL taken.
_REPLACE = f"{_REMOVE}, or get a new secret for it: {_ROTATE}"
# The API has no route to enable an endpoint (the CLI's `hdtickets webhooks enable`).
_ENABLE = (
    "an admin can enable it (hdtickets webhooks enable {id}), or remove it"
    f" ({_REMOVE}) and add it again, e.g. POST {PREFIX}/channels/webhooks"
)
WEBHOOK_EXAMPLE = '{"url": "https://hooks.example.com/hdt", "events": ["alert.triggered"]}'
ROTATE_EXAMPLE = '{"grace": "24h"}'
# The fields each body may hold (others: 422); bot.rest declares the same in OpenAPI.
WEBHOOK_FIELDS = ("url", "events")
ROTATE_FIELDS = ("grace",)


class ChannelRoutes(RouteHandlers):
    async def channels(self, request: web.Request) -> web.Response:
        """GET /channels: the person's chats, contact points and webhook endpoints (admin:
        every contact point and endpoint)."""
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
            contacts = await api_views.contact_points(session, owner)
        return web.json_response({"chats": chats, "contact_points": contacts, "webhooks": hooks})

    async def add_webhook(self, request: web.Request) -> web.Response:
        """POST /channels/webhooks {"url", "events"}: the secret is in the answer, once."""
        caller = await self._caller(request, Scope.WRITE)
        body = await json_object(request, WEBHOOK_EXAMPLE, fields=WEBHOOK_FIELDS)
        url = text_field(body, "url")
        events = body.get("events", ["*"])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ApiError(
                422, "invalid", f'"events" must be a list of names, e.g. {WEBHOOK_EXAMPLE}'
            )
        types = parse_events(events, WEBHOOK_EXAMPLE)
        now = self._deps.clock.now()
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session, session.begin():
            await _adding_lock(session, owner)
            added = await add_endpoint(
                session, self._deps.secrets, self._deps.ssrf, url, types, owner, now, _REPLACE
            )
            item = endpoint_json(added.endpoint, now)
        self._deps.webhooks_changed()
        return web.json_response({"endpoint": item, "secret": added.secret}, status=201)

    async def test_webhook(self, request: web.Request) -> web.Response:
        """POST /channels/webhooks/{id}/test: queue a "test" delivery."""
        caller = await self._caller(request, Scope.WRITE)
        async with self._deps.sessions() as session, session.begin():
            endpoint = await self._owned_endpoint(session, request, caller)
            queued = await queue_test(session, endpoint, self._deps.clock.now(), _ENABLE)
        return web.json_response({"notification_id": queued, "status": "pending"}, status=202)

    async def rotate_webhook(self, request: web.Request) -> web.Response:
        """POST /channels/webhooks/{id}/rotate {"grace": "24h"}: a new signing secret, in
        the answer once; older ones keep signing beside it for the grace period."""
        caller = await self._caller(request, Scope.WRITE)
        body = await json_object(request, ROTATE_EXAMPLE, optional=True, fields=ROTATE_FIELDS)
        grace = body.get("grace", "24h")
        if not isinstance(grace, str):
            raise ApiError(
                422, "invalid", f'"grace" must be a duration text, e.g. {ROTATE_EXAMPLE}'
            )
        try:
            period = parse_grace(grace, ROTATE_EXAMPLE)
        except ValidationError as exc:
            raise ApiError(422, "invalid", str(exc)) from None
        now = self._deps.clock.now()
        async with self._deps.sessions() as session, session.begin():
            endpoint = await self._owned_endpoint(session, request, caller, lock=True)
            secret = rotate_secret(endpoint, self._deps.secrets, now, period)
            item = endpoint_json(endpoint, now)
        self._deps.webhooks_changed()
        answer = {"endpoint": item, "secret": secret, "older_secrets_until": iso(now + period)}
        return web.json_response(answer)

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

    async def _owned_endpoint(
        self, session: AsyncSession, request: web.Request, caller: Caller, *, lock: bool = False
    ) -> WebhookEndpoint:
        """The caller's endpoint named in the path; `lock`: read for update (two rotations
        at once each read the secrets, and the later write dropped the other's new one)."""
        endpoint_id = path_id(request)
        endpoint = await session.get(
            WebhookEndpoint, endpoint_id, with_for_update=lock, populate_existing=lock
        )
        owner = await self._owner(request, caller)
        missing = f"webhook endpoint {endpoint_id} not found; GET {PREFIX}/channels"
        return visible_row(endpoint, owner, missing)


async def _adding_lock(session: AsyncSession, owner: int | None) -> None:
    """One owner's endpoint additions take turns until the transaction ends: two requests
    adding one URL at once (a client retrying after a timeout) each found it new and
    both added it, so alerts went out twice. PostgreSQL: a named lock; SQLite: its write
    lock, which a locking read takes (`core.db.engine`), even one that finds nothing."""
    await lock_name(session, f"webhook endpoints of {owner}")
    await session.execute(select(WebhookEndpoint.id).where(false()).with_for_update())
