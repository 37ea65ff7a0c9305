"""REST reads about the person: preferences, activity and analytics (shaped by
`core.api_views`). Nothing here writes; preferences change with the chat's prefs, quiet
and tz commands (POST /commands)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bot.rest_base import RouteHandlers, int_param, limit_param
from core import api_views
from core.tokens import Scope


class PersonRoutes(RouteHandlers):
    async def preferences(self, request: web.Request) -> web.Response:
        """GET /preferences (change them with the chat's prefs, quiet and tz commands)."""
        caller = await self._caller(request, Scope.READ)
        user_id = await self._person(request, caller)
        async with self._deps.sessions() as session:
            return web.json_response(await api_views.preferences(session, user_id))

    async def activity(self, request: web.Request) -> web.Response:
        caller = await self._caller(request, Scope.READ)
        user_id = await self._person(request, caller)
        limit = limit_param(request)
        async with self._deps.sessions() as session:
            return web.json_response(await api_views.activity(session, user_id, limit))

    async def analytics(self, request: web.Request) -> web.Response:
        """GET /analytics?days=7: alerts by level and status, messages by channel and status."""
        caller = await self._caller(request, Scope.READ)
        days = int_param(request.query.get("days", "7"), "days", "?days=30", 1, 366)
        since = self._deps.clock.now() - timedelta(days=days)
        owner = await self._owner(request, caller)
        async with self._deps.sessions() as session:
            body = await api_views.analytics(session, owner, since)
        return web.json_response(body)
