"""REST about the person: preferences (read and change), activity and analytics (shaped by
`core.api_views`). PATCH /preferences turns each field into the chat's own prefs, quiet or
tz command (`core.command_settings`), so the API and a chat accept and refuse the same
values with the same reasons, and stores them with the chat's handlers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.rest_base import VIA, RouteHandlers, int_param, json_object, limit_param
from bot.web_errors import ApiError
from core import api_views
from core.chat import CommandContext
from core.command_settings import parse_prefs, parse_quiet, parse_tz
from core.command_types import PrefsCommand, QuietCommand, TzCommand
from core.command_values import CommandError
from core.domain import Platform
from core.tokens import Scope

Setting = PrefsCommand | QuietCommand | TzCommand

# Each field as GET /preferences names it, and an example of it. Those the chat's
# handlers re-time held messages for (time zone, quiet hours, digest) come last, so the
# last re-timing sees every change.
EXAMPLES = {
    "channel_order": '{"channel_order": ["telegram", "console"]}',
    "min_level_per_channel": '{"min_level_per_channel": {"telegram": 4, "sms": "critical"}}',
    "wake_for_critical": '{"wake_for_critical": true}',
    "timezone": '{"timezone": "America/New_York"}',
    "quiet_hours": '{"quiet_hours": "23:00-07:00"}',
    "digest": '{"digest": "daily"}',
}
PATCH_EXAMPLE = '{"digest": "daily", "quiet_hours": "23:00-07:00", "timezone": "Europe/London"}'
PREFERENCE_FIELDS = tuple(EXAMPLES)  # what PATCH may hold (others: 422), as bot.rest declares


class PersonRoutes(RouteHandlers):
    async def preferences(self, request: web.Request) -> web.Response:
        """GET /preferences (PATCH changes them, as the chat's prefs, quiet and tz do)."""
        caller = await self._caller(request, Scope.READ)
        user_id = await self._person(request, caller)
        async with self._deps.sessions() as session:
            return web.json_response(await api_views.preferences(session, user_id))

    async def change_preferences(self, request: web.Request) -> web.Response:
        """PATCH /preferences {"digest": "daily", ...}: any fields GET shows that the chat
        can set; one bad field stores none. Answers the new preferences, as GET does."""
        caller = await self._caller(request, Scope.WRITE)
        user_id = await self._person(request, caller)
        body = await json_object(request, PATCH_EXAMPLE, fields=PREFERENCE_FIELDS)
        commands = [cmd for field in EXAMPLES if field in body for cmd in _commands(field, body)]
        if commands:
            ctx = CommandContext(user_id=user_id, platform=Platform.API.value, address=VIA)
            reply = await self._deps.handlers.change_settings(ctx, commands)
            if reply.is_error:
                raise ApiError(422, "invalid", reply.lines[0])
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


def _commands(field: str, body: dict[str, Any]) -> list[Setting]:
    """The chat commands that set `field` to body[field], or a 422 with the chat's reason
    (or the JSON type wanted) and this field's example."""
    value = body[field]
    try:
        return _PARSERS[field](value)
    except CommandError as exc:
        example = EXAMPLES[field]
        if field == "timezone":  # the chat's example may suggest the zone meant ("EST")
            example = json.dumps({field: exc.example.rsplit(" ", 1)[-1]})
        raise ApiError(422, "invalid", f'"{field}": {exc.reason}, e.g. {example}') from None
    except _WrongType as exc:
        raise ApiError(422, "invalid", f'"{field}" must be {exc}, e.g. {EXAMPLES[field]}') from None


class _WrongType(Exception):
    """A JSON value of a type the field never takes; the message says what it takes."""


def _words(value: object, wanted: str) -> list[str]:
    """A string as the words a person would type after the command (a number as its
    digits); any other JSON type is refused with `wanted`."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, int) and not isinstance(value, bool):
        return [str(value)]
    raise _WrongType(wanted)


def _channel_order(value: object) -> list[Setting]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise _WrongType("a list of channel names")
    return [_setting(parse_prefs(["channels", *value]))]


def _min_levels(value: object) -> list[Setting]:
    """One level for every channel ("high", 4), or {channel: level} for each named one."""
    wanted = "a level (1-5 or low..critical), or {channel: level}"
    if not isinstance(value, dict):
        return [_setting(parse_prefs(["level", *_words(value, wanted)]))]
    return [
        _setting(parse_prefs(["level", channel, *_words(level, wanted)]))
        for channel, level in value.items()
    ]


def _wake(value: object) -> list[Setting]:
    words = (
        ["on" if value else "off"] if isinstance(value, bool) else _words(value, "true or false")
    )
    return [_setting(parse_prefs(["wake", *words]))]


def _quiet(value: object) -> list[Setting]:
    """null (off), "23:00-07:00", or {"start", "end"} as GET shows them."""
    wanted = 'a range like "23:00-07:00", or null for off'
    if value is None:
        return [_setting(parse_quiet(["off"]))]
    if isinstance(value, dict) and set(value) == {"start", "end"}:
        start, end = value["start"], value["end"]
        if isinstance(start, str) and isinstance(end, str):
            return [_setting(parse_quiet([f"{start}-{end}"]))]
    if isinstance(value, dict):
        raise _WrongType(wanted)
    return [_setting(parse_quiet(_words(value, wanted)))]


def _setting(command: object) -> Setting:
    """The parsers' result, typed (they return any command)."""
    assert isinstance(command, PrefsCommand | QuietCommand | TzCommand)
    return command


_PARSERS: dict[str, Callable[[object], list[Setting]]] = {
    "channel_order": _channel_order,
    "min_level_per_channel": _min_levels,
    "wake_for_critical": _wake,
    "timezone": lambda value: [_setting(parse_tz(_words(value, "a zone such as Europe/London")))],
    "quiet_hours": _quiet,
    "digest": lambda value: [
        _setting(parse_prefs(["digest", *_words(value, '"hourly" or "daily"')]))
    ],
}
