"""Chat command handlers: one parsed command or one button press -> one change -> a Reply.

`CommandHandlers` is what every chat adapter (console, Telegram, Slack, Discord) calls.
Each call runs in one transaction, records the person's activity for presence, and
publishes watch changes to the in-memory index only after the commit. People never
see a traceback: bad input and unknown ids come back as a one-line `Reply.error`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import handlers_alerts, handlers_market, handlers_phone, handlers_prefs, handlers_watch
from core.actions import ActionSigner, ActionToken, TokenError
from core.chat import (
    CommandContext,
    MarketInsight,
    MarketInsightProvider,
    Reply,
    WatchChange,
    WatchIndexHook,
)
from core.commands import (
    AckCommand,
    AlertsCommand,
    BoughtCommand,
    Command,
    CommandError,
    ContactAddCommand,
    HelpCommand,
    LinkCommand,
    MarketCommand,
    MuteCommand,
    PauseCommand,
    PhoneCodeCommand,
    PhoneCommand,
    PrefsCommand,
    QuietCommand,
    ResumeCommand,
    SnoozeCommand,
    TzCommand,
    UnwatchCommand,
    WatchCommand,
    WatchesCommand,
    parse,
)
from core.contacts import PhoneKeys
from core.domain import ActionKind, ActivityKind
from core.errors import NotFoundError, ValidationError
from core.ports import Clock
from core.presence import record_activity
from core.scoring import DEFAULT_WEIGHTS
from core.sync import mark_settings_changed
from core.turn import Turn

__all__ = [
    "CommandContext",
    "CommandHandlers",
    "MarketInsight",
    "MarketInsightProvider",
    "Reply",
    "WatchChange",
    "WatchIndexHook",
]

logger = logging.getLogger(__name__)

_ALERT_BUTTONS = {
    ActionKind.ACK,
    ActionKind.SNOOZE,
    ActionKind.SNOOZE_CHEAPER,
    ActionKind.MUTE,
    ActionKind.BOUGHT,
}


class CommandHandlers:
    """Acts on chat commands and button presses for every platform.

    Args:
        sessions: the session factory.
        clock: the injected clock (the only source of "now").
        rng: the injected random source (token nonces).
        signer: signs and verifies button action tokens.
        index_hook: told about committed watch changes (the rules' WatchIndex).
        market: forecast sentence and chart for `market`, when a predictor is wired.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        rng: random.Random,
        signer: ActionSigner,
        index_hook: WatchIndexHook | None = None,
        market: MarketInsightProvider | None = None,
        phones: PhoneKeys | None = None,
        on_commit: Callable[[], None] | None = None,
        person_hook: Callable[[int], None] | None = None,
        weights: Sequence[float] = DEFAULT_WEIGHTS,
    ) -> None:
        """`on_commit` runs after every command that committed (it may have queued
        messages, such as the in-place edits of an acknowledged alert): delivery's wake-up.
        `person_hook` is told the person after each of their committed commands that
        change what the engine keeps cached about them (`quiet`, `tz`, `prefs`, `phone`).
        `weights` are the configured factor weights (the engine's), for alerts a command
        scores again (a changed watch's)."""
        self._sessions = sessions
        self._on_commit = on_commit
        self._person_hook = person_hook
        self._clock = clock
        self._rng = rng
        self._signer = signer
        self._index_hook = index_hook
        self._market = market
        self.phones = phones
        self._weights = tuple(weights)

    async def handle_text(self, ctx: CommandContext, text: str) -> Reply:
        """Parse what the person typed and handle it; bad input gets a one-line error."""
        try:
            command = parse(text)
        except CommandError as exc:
            await self._record_only(ctx, ActivityKind.MESSAGE)
            return Reply.error(str(exc))
        return await self.handle(ctx, command)

    async def handle(self, ctx: CommandContext, command: Command) -> Reply:
        """Handle one parsed command in one transaction."""
        settings = isinstance(command, _SETTINGS) and not _only_shows(command)
        return await self._run(
            ctx, ActivityKind.COMMAND, lambda turn: _dispatch(turn, command), settings=settings
        )

    async def change_settings(
        self, ctx: CommandContext, commands: Sequence[PrefsCommand | QuietCommand | TzCommand]
    ) -> Reply:
        """Apply several settings commands in one transaction, all or none (REST PATCH
        /preferences): the chat's own handlers store each, so both change them alike."""

        async def work(turn: Turn) -> Reply:
            lines: list[str] = []
            for command in commands:
                reply = await _dispatch(turn, command)
                if reply.is_error:  # rolls back the ones already applied
                    raise ValidationError(reply.lines[0])
                lines += reply.lines
            return Reply(lines=tuple(lines))

        return await self._run(ctx, ActivityKind.COMMAND, work, settings=True)

    async def handle_button(self, ctx: CommandContext, token: str) -> Reply:
        """Verify a button's action token and apply it; forged or expired ones change nothing."""
        try:
            action = self._signer.verify(token, now=self._clock.now())
        except TokenError as exc:
            await self._record_only(ctx, ActivityKind.BUTTON)
            return Reply.error(f"Sorry, {exc}. Nothing was changed.")
        return await self._run(ctx, ActivityKind.BUTTON, lambda turn: _press(turn, action))

    async def _run(
        self,
        ctx: CommandContext,
        kind: ActivityKind,
        work: Callable[[Turn], Awaitable[Reply]],
        *,
        settings: bool = False,
    ) -> Reply:
        """Run `work` in one transaction; `settings`: it changes what the engine caches
        about the person, who is then marked changed (`users.settings_changed_at`, read
        by other processes' `core.sync`) and, after the commit, told to `person_hook`."""
        now = self._clock.now()
        async with self._sessions() as session:
            turn = Turn(session, ctx, now, self._signer, self._rng, self._market)
            turn.phones = self.phones
            turn.weights = self._weights
            try:
                async with session.begin():
                    reply = await work(turn)
                    await record_activity(session, ctx.user_id, ctx.platform, kind, now)
                    if settings:
                        await mark_settings_changed(session, ctx.user_id, now)
            except (ValidationError, NotFoundError) as exc:
                async with session.begin():
                    await record_activity(session, ctx.user_id, ctx.platform, kind, now)
                return Reply.error(str(exc))
        if settings and self._person_hook is not None:
            self._person_hook(ctx.user_id)
        if self._on_commit is not None:
            self._on_commit()
        self._publish(turn)
        return reply

    async def _record_only(self, ctx: CommandContext, kind: ActivityKind) -> None:
        async with self._sessions() as session, session.begin():
            await record_activity(session, ctx.user_id, ctx.platform, kind, self._clock.now())

    def _publish(self, turn: Turn) -> None:
        if self._index_hook is None:
            return
        for watch, change in turn.changes:
            self._index_hook(watch, change)


async def _dispatch(turn: Turn, command: Command) -> Reply:
    match command:
        case WatchCommand():
            return await handlers_watch.watch(turn, command)
        case WatchesCommand():
            return await handlers_watch.watches(turn)
        case UnwatchCommand(watch_id=watch_id):
            return await handlers_watch.unwatch(turn, watch_id)
        case PauseCommand(watch_id=None):
            return await handlers_watch.set_all_active(turn, False)
        case ResumeCommand(watch_id=None):
            return await handlers_watch.set_all_active(turn, True)
        case PauseCommand(watch_id=int(watch_id)):
            return await handlers_watch.set_active(turn, watch_id, False)
        case ResumeCommand(watch_id=int(watch_id)):
            return await handlers_watch.set_active(turn, watch_id, True)
        case AlertsCommand(page=page):
            return await handlers_alerts.alerts(turn, page)
        case AckCommand(alert_id=alert_id):
            return await handlers_alerts.act(turn, alert_id, ActionKind.ACK)
        case SnoozeCommand(alert_id=alert_id, duration=duration, below=below):
            kind = ActionKind.SNOOZE if below is None else ActionKind.SNOOZE_CHEAPER
            return await handlers_alerts.act(
                turn, alert_id, kind, snooze_for=duration, snooze_below=below
            )
        case MuteCommand(alert_id=alert_id):
            return await handlers_alerts.act(turn, alert_id, ActionKind.MUTE)
        case BoughtCommand(alert_id=alert_id):
            return await handlers_alerts.act(turn, alert_id, ActionKind.BOUGHT)
        case MarketCommand():
            return await handlers_market.market(turn, command)
        case PrefsCommand():
            return await handlers_prefs.prefs(turn, command)
        case QuietCommand():
            return await handlers_prefs.quiet(turn, command)
        case TzCommand():
            return await handlers_prefs.tz(turn, command)
        case PhoneCommand() | PhoneCodeCommand() | ContactAddCommand():
            return await handlers_phone.phone(turn, command)
        case LinkCommand():
            return handlers_prefs.not_yet("account linking")
        case HelpCommand(topic=topic, welcome=welcome):
            return handlers_prefs.help_reply(topic, welcome=welcome)
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


# Commands that change what the engine caches about the person (see `_run`).
_SETTINGS = (
    PrefsCommand,
    QuietCommand,
    TzCommand,
    PhoneCommand,
    PhoneCodeCommand,
    ContactAddCommand,
)


def _only_shows(command: Command) -> bool:
    """`prefs`, `quiet` or `tz` alone: it shows the setting and changes nothing."""
    match command:
        case PrefsCommand(setting=None) | QuietCommand(show=True) | TzCommand(zone=None):
            return True
    return False


async def _press(turn: Turn, token: ActionToken) -> Reply:
    if token.action in _ALERT_BUTTONS:
        return await handlers_alerts.press(turn, token.action, token.target_id)
    if token.action is ActionKind.PAUSE_WATCH:
        return await handlers_watch.set_active(turn, token.target_id, False)
    if token.action is ActionKind.REMOVE_WATCH:
        return await handlers_watch.unwatch(turn, token.target_id)
    return Reply.error("That button has nothing to do here; type help for the commands.")
