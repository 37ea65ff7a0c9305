"""REST chat commands: POST /commands runs any chat command or presses a button by its
token, through the same `CommandHandlers` as every chat, so a chat command and an API
call do the same thing; the reply comes back as JSON."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.rest_base import VIA, RouteHandlers, json_object, text_field
from bot.web_errors import ApiError
from core.chat import CommandContext, Reply
from core.domain import Platform
from core.handlers import CommandHandlers
from core.tokens import Scope

# The fields the body may hold (others: 422); bot.rest declares the same in OpenAPI.
COMMAND_FIELDS = ("text", "token")


class CommandRoutes(RouteHandlers):
    async def command(self, request: web.Request) -> web.Response:
        """POST /commands {"text": "alerts"} or {"token": "<a button's token>"}."""
        caller = await self._caller(request, Scope.WRITE)
        user_id = await self._person(request, caller)
        body = await json_object(request, '{"text": "watches"}', fields=COMMAND_FIELDS)
        if "text" in body and "token" in body:  # which one did the client mean?
            raise ApiError(
                422, "invalid", 'send "text" or "token", not both, e.g. {"text": "watches"}'
            )
        ctx = _context(user_id)
        if "token" in body:
            reply = await self._deps.handlers.handle_button(ctx, text_field(body, "token"))
        else:
            reply = await self._deps.handlers.handle_text(ctx, text_field(body, "text"))
        return reply_response(reply)


async def run_command(handlers: CommandHandlers, user_id: int, text: str) -> Reply:
    """Run one chat command as `user_id`, on the API's platform."""
    return await handlers.handle_text(_context(user_id), text)


def _context(user_id: int) -> CommandContext:
    return CommandContext(user_id=user_id, platform=Platform.API.value, address=VIA)


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


def reply_response(reply: Reply, *, created: bool = False) -> web.Response:
    """The reply as JSON (201 when `created`), or a 422 with its first line if an error."""
    if reply.is_error:
        raise ApiError(422, "invalid", reply.lines[0] if reply.lines else "not understood")
    return web.json_response(reply_json(reply), status=201 if created else 200)
