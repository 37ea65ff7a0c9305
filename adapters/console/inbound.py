"""ConsoleChat: talk to the bot in the terminal as the local person "you".

Lines come from a stream (stdin by default); each becomes a command for
`CommandHandlers`, and the reply is printed. A number picks from the options printed
last: a reply's choices and buttons, or the buttons of the latest alert.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import logging
import os
import sys
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.channel import ConsoleChannel, NumberedMenu, terminal_console
from adapters.console.render import Option, render_reply, reply_options
from core.chat import CommandContext, Reply
from core.db.engine import (
    READ_ONLY_ADVICE,
    database_locked,
    database_read_only,
    database_unavailable,
)
from core.domain import Platform
from core.handlers import CommandHandlers
from core.ports import Clock
from core.users import ensure_user

logger = logging.getLogger(__name__)

CONSOLE_EXTERNAL_ID = "local"
CONSOLE_ADDRESS = "local"
CONSOLE_NAME = "you"
QUIT_WORDS = {"quit", "exit", ":q"}


async def console_user(sessions: async_sessionmaker[AsyncSession], clock: Clock) -> int:
    """Return the id of the local person with the console identity, creating them once."""
    async with sessions() as session, session.begin():
        user = await ensure_user(
            session,
            Platform.CONSOLE.value,
            CONSOLE_EXTERNAL_ID,
            display_name=CONSOLE_NAME,
            dm_address=CONSOLE_ADDRESS,
            now=clock.now(),
        )
        return user.id


def database_busy(exc: BaseException) -> str | None:
    """What to tell the person when `exc` says the database is busy (another process
    holds SQLite's lock past its timeout) or away; None for any other error."""
    if database_locked(exc):
        return "The database is busy (another process is writing to it); try again in a moment."
    if database_read_only(exc):
        return f"The database is read-only here; {READ_ONLY_ADVICE}."
    reason = database_unavailable(exc)
    return None if reason is None else f"Cannot reach the database: {reason}; try again soon."


class _FdLines:
    """Lines from a pipe or terminal, read when the event loop says it is readable."""

    def __init__(self, fd: int, encoding: str = "utf-8") -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._buffer = ""
        self._loop.add_reader(fd, self._readable)  # raises for regular files

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self._buffer += self._decoder.decode(data, final=not data)
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._queue.put_nowait(line)
        if not data:
            if self._buffer:
                self._queue.put_nowait(self._buffer)
            self._queue.put_nowait(None)
            self.close()

    async def get(self) -> str | None:
        return await self._queue.get()

    def close(self) -> None:
        self._loop.remove_reader(self._fd)


class ConsoleChat:
    """Reads lines, hands them to the command handlers as the local person, prints replies.

    Args:
        handlers: the platform-neutral command handlers.
        sessions: to find or create the local person.
        clock: the injected clock.
        channel: the console channel, whose numbered menu is shared (alerts' buttons).
        stream: where lines come from; stdin when None.
        console: where replies go; the channel's console when None.
        chart_dir: where price charts are saved for the person to open (a terminal shows
            no images); `hdtickets-charts` in the system's temporary directory when None.
    """

    def __init__(
        self,
        handlers: CommandHandlers,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        channel: ConsoleChannel | None = None,
        stream: TextIO | None = None,
        console: Console | None = None,
        chart_dir: Path | None = None,
    ) -> None:
        self._handlers = handlers
        self._chart_dir = chart_dir or Path(tempfile.gettempdir()) / "hdtickets-charts"
        self._sessions = sessions
        self._clock = clock
        self._stream = stream if stream is not None else sys.stdin
        self.console = console or (channel.console if channel else terminal_console())
        self.menu = channel.menu if channel is not None else NumberedMenu()
        if channel is not None:
            channel.answerable = True  # its alerts' buttons can now be typed as numbers
        self._ctx: CommandContext | None = None
        self._asking = False  # the menu is a reply's question ("which one?"): its choices

    async def context(self) -> CommandContext:
        """The local person's command context (created on first use)."""
        if self._ctx is None:
            user_id = await console_user(self._sessions, self._clock)
            self._ctx = CommandContext(
                user_id=user_id,
                platform=Platform.CONSOLE.value,
                address=CONSOLE_ADDRESS,
                is_admin=True,
            )
        return self._ctx

    async def run(self) -> None:
        """Serve the chat until end of input, "quit", or cancellation."""
        try:
            await self.context()
        except Exception as exc:  # a busy database: each line tries again
            if database_busy(exc) is None:
                raise
            self._failed(exc)
        self.console.print("HDTickets chat — type [bold]help[/bold] for commands, quit to leave.")
        async for line in self._lines():
            if line.strip().casefold() in QUIT_WORDS:
                break
            try:
                await self.handle_line(line)
            except Exception as exc:  # the loop edge: one bad line never ends the chat
                self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        """Say that a line failed: why, when the database is busy; else log the traceback."""
        said = database_busy(exc)
        if said is None:
            logger.exception("console chat line failed user_id=%s", self._ctx_id())
            said = "Something went wrong; it has been logged."
        else:  # told to the person here; a traceback would only bury it
            logger.info("console chat line failed user_id=%s: %s", self._ctx_id(), exc)
        self.console.print(Text(said, style="red"))

    def _ctx_id(self) -> int | None:
        return self._ctx.user_id if self._ctx else None

    async def handle_line(self, line: str) -> Reply | None:
        """Handle one line; returns the reply printed (None for blank lines)."""
        text = line.strip()
        if not text:
            return None
        ctx = await self.context()
        number = unicodedata.normalize("NFKC", text).removeprefix("#").rstrip(".)")
        picked = number.isdecimal() and number.isascii()  # a number is a choice, any length
        if picked:
            option = self.menu.pick(int(number)) if len(number) <= 6 else None
            if option is None:
                count = len(self.menu.options)
                hint = (
                    f"choose 1 to {count}"
                    if count
                    else "there is nothing to choose from now, e.g. type watches for a list"
                )
                shown = number if len(number) <= 12 else number[:12] + "…"
                reply = Reply.error(f"No option {shown}: {hint}.")
            else:
                reply = await self._pick(ctx, option)
        else:
            reply = await self._handlers.handle_text(ctx, text)
        self.show(reply, typed=not picked)
        return reply

    async def _pick(self, ctx: CommandContext, option: Option) -> Reply:
        if option.token:
            return await self._handlers.handle_button(ctx, option.token)
        if option.command:
            return await self._handlers.handle_text(ctx, option.command)
        return Reply(lines=(f"Open {option.url}" if option.url else option.label,))

    def show(self, reply: Reply, *, typed: bool = True) -> None:
        """Print a reply; its options (if any) become the numbered menu.

        A reply without options to a typed command also retires the menu of an earlier
        reply ("2" after it must not press an older list's button); one to a number keeps
        it, so several buttons of one list can be pressed in turn. A refused line (a typo)
        while the bot asks which one keeps the choices open, with a hint.
        """
        options = reply_options(reply)
        chart = self._save_chart(reply.image) if reply.image is not None else None
        self.console.print(render_reply(reply, options, chart=chart))
        if options:
            self.menu.show(options, source="reply")
            self._asking = bool(reply.choices)
        elif typed and reply.is_error and self._asking and self.menu.source == "reply":
            count = len(self.menu.options)
            numbers = "1" if count == 1 else f"1-{count}"
            self.console.print(Text(f"Still choosing: type {numbers}, or a command.", style="dim"))
        elif typed:
            self.menu.clear_if("reply")

    def _save_chart(self, png: bytes) -> str:
        """Write a chart where the person can open it; its path, or why it could not be."""
        path = self._chart_dir / f"chart-{hashlib.sha256(png).hexdigest()[:12]}.png"
        try:
            self._chart_dir.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        except OSError as exc:
            logger.warning("could not save a chart to %s: %s", path, exc)
            return f"price chart not saved ({exc.strerror or exc})"
        return f"price chart: {path}"

    async def _lines(self) -> AsyncIterator[str]:
        fd_lines = self._fd_lines()
        if fd_lines is not None:
            try:
                while (line := await fd_lines.get()) is not None:
                    yield line
            finally:
                fd_lines.close()
            return
        while line := await asyncio.to_thread(self._stream.readline):
            yield line

    def _fd_lines(self) -> _FdLines | None:
        try:
            fd = self._stream.fileno()
            # the terminal's encoding: "björk" typed under a Latin-1 locale is one byte ö
            return _FdLines(fd, getattr(self._stream, "encoding", None) or "utf-8")
        except (OSError, ValueError, AttributeError):  # in-memory stream or a regular file
            return None


__all__ = ["CONSOLE_ADDRESS", "CONSOLE_EXTERNAL_ID", "ConsoleChat", "console_user"]
