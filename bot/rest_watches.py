"""REST watches: list and detail (shaped by `core.api_views`); add, remove, pause and
resume run the chat's own commands (`bot.rest_chat.run_command`), so the API and a chat
change watches the same way."""

from __future__ import annotations

from aiohttp import web

from bot.rest_base import (
    PREFIX,
    VIA,
    RouteHandlers,
    json_object,
    path_id,
    text_field,
    visible_row,
)
from bot.rest_chat import reply_response, run_command
from bot.web_errors import ApiError
from core import api_views
from core.chat import CommandContext, Reply
from core.db.models import Watch
from core.domain import Platform
from core.errors import ValidationError
from core.handlers_watch import is_currency_code, priced_watch
from core.tokens import Scope

_CREATE = '{"text": "yankees under 80 qty 2"}'
# The fields the body may hold (others: 422); bot.rest declares the same in OpenAPI.
CREATE_FIELDS = ("text", "currency")


class WatchRoutes(RouteHandlers):
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
            item = await api_views.watch_detail(session, path_id(request), owner)
        return web.json_response(item)

    async def add_watch(self, request: web.Request) -> web.Response:
        """POST /watches {"text": "yankees under 80 qty 2"}: the chat `watch` command;
        an optional "currency" (ISO 4217, "GBP") is the max's, as if typed with it.

        201 when a watch was made; 200 when the words restated (or changed) one the person
        already has, or matched several events (numbered choices, nothing made).
        """
        caller = await self._caller(request, Scope.WRITE)
        user_id = await self._person(request, caller)
        body = await json_object(request, _CREATE, fields=CREATE_FIELDS)
        text = text_field(body, "text")
        if body.get("currency") is None:
            reply = await run_command(self._deps.handlers, user_id, f"watch {text}")
        else:
            reply = await self._add_priced(user_id, text, body["currency"])
        # The answer says whether this request made the watch: comparing the person's
        # watches before and after counted one made by a concurrent request too.
        return reply_response(reply, created=reply.created is not None)

    async def _add_priced(self, user_id: int, text: str, currency: object) -> Reply:
        """The `watch` command of `text` with its max in `currency` (`with_currency`)."""
        if not isinstance(currency, str) or not is_currency_code(currency):
            raise ApiError(
                422,
                "invalid",
                '"currency" must be a 3-letter ISO 4217 code, e.g. {"currency": "GBP"}',
            )
        try:
            command = priced_watch(f"watch {text}", currency, _CREATE)
        except ValidationError as exc:  # a chat command's error: a one-line reason
            raise ApiError(422, "invalid", str(exc)) from None
        ctx = CommandContext(user_id=user_id, platform=Platform.API.value, address=VIA)
        return await self._deps.handlers.handle(ctx, command)

    async def watch_command(self, request: web.Request) -> web.Response:
        """DELETE /watches/{id}, POST /watches/{id}/pause|resume: the chat commands."""
        caller = await self._caller(request, Scope.WRITE)
        watch_id = path_id(request)
        async with self._deps.sessions() as session:
            found = await session.get(Watch, watch_id)
        owner = await self._owner(request, caller)
        missing = f"watch {watch_id} not found; GET {PREFIX}/watches"
        watch = visible_row(found, owner, missing)
        verb = "unwatch" if request.method == "DELETE" else request.path.rsplit("/", 1)[-1]
        reply = await run_command(self._deps.handlers, watch.user_id, f"{verb} {watch_id}")
        if reply.is_error:  # removed by a concurrent request since the check above?
            async with self._deps.sessions() as session:
                again = await session.get(Watch, watch_id)
            visible_row(again, owner, missing)
        return reply_response(reply)
