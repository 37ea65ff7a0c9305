"""The neutral conversation types every chat platform shares.

An adapter turns a platform update into a `CommandContext` plus text or a button token,
hands it to `core.handlers.CommandHandlers`, and renders the `Reply` its own way: lines
of plain text, numbered choices (each re-issues a command or presses a token), rows of
buttons, and an optional image.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from core.domain import Button, WatchSpec


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who is talking, and where.

    Attributes:
        user_id: the person (users.id), found or created by `core.users.ensure_user`.
        platform: a `core.domain.Platform` value ("telegram", "console", ...).
        address: the chat the command came from (DM or group); replies go there.
        is_group: the chat is shared; watches created here alert the group.
        is_admin: the person may change the group's watches (ignored outside groups).
    """

    user_id: int
    platform: str
    address: str
    is_group: bool = False
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class Choice:
    """One numbered option: either a command to run as if typed, or an action token."""

    label: str
    command: str | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot answers, before any platform formatting.

    Attributes:
        lines: plain-text lines; the first is a summary fit for a toast.
        choices: numbered options (ambiguous input, follow-ups).
        buttons: rows of buttons carrying signed action tokens (or URLs).
        image: PNG bytes (a price chart) where the platform shows images.
        is_error: the input was refused; `lines[0]` says why and gives an example.
        created: the id of the row this answer made (a new watch), for APIs that say
            201; None when nothing was made (a restated watch is updated).
    """

    lines: tuple[str, ...]
    choices: tuple[Choice, ...] = ()
    buttons: tuple[tuple[Button, ...], ...] = ()
    image: bytes | None = None
    is_error: bool = False
    created: int | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def all_buttons(self) -> tuple[Button, ...]:
        """Every button, row after row."""
        return tuple(button for row in self.buttons for button in row)

    @classmethod
    def error(cls, message: str) -> Reply:
        return cls(lines=(message,), is_error=True)


class WatchChange(StrEnum):
    """What happened to a watch; pause and resume are UPDATED with `active` set."""

    CREATED = "created"
    UPDATED = "updated"
    REMOVED = "removed"


class WatchIndexHook(Protocol):
    """Keeps the in-memory watch index (core.rules) current after a committed change.

    Called with the watch as the matcher sees it for CREATED and UPDATED, and with
    the watch id for REMOVED.
    """

    def __call__(self, watch: WatchSpec | int, change: WatchChange) -> None: ...


@dataclass(frozen=True, slots=True)
class MarketInsight:
    """The forecast for one event in words, and a price-history chart if one was drawn."""

    sentence: str | None
    chart_png: bytes | None = None


class MarketInsightProvider(Protocol):
    """Hides the predictor and chart drawing behind `market`. Reference: bot wiring of ml."""

    async def insight(self, event_id: int, *, now: datetime) -> MarketInsight | None:
        """Return the forecast sentence (and chart) for `event_id`, or None if unknown."""
        ...
