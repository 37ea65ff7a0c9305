"""ConsoleChannel: alerts printed in the terminal, buttons as numbered choices."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import sys
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console

from adapters.console.render import Option, message_options, render_alert, render_update
from core.domain import Capability, ChannelKind, DeliveryReceipt, OutboundMessage

logger = logging.getLogger(__name__)

REMEMBERED_KEYS = 10_000
REMEMBERED_ALERTS = 20


def terminal_console() -> Console:
    """A console on stdout that prints what the terminal's encoding lacks (emoji, a dash
    under a non-UTF-8 locale) as "?" instead of failing: rich draws ASCII boxes there."""
    stream = sys.stdout
    utf = str(getattr(stream, "encoding", "utf-8")).lower().startswith("utf")
    if isinstance(stream, io.TextIOWrapper) and not utf and stream.errors == "strict":
        stream.reconfigure(errors="replace")
    return Console(highlight=False)


@dataclass(frozen=True, slots=True)
class PrintedAlert:
    """An alert the console printed, with the options its numbers map to."""

    message_id: str
    notification_id: int
    title: str
    options: tuple[Option, ...]


class NumberedMenu:
    """The numbered options printed last (an alert's buttons or a reply's choices).

    Shared by the channel and the console chat so "1" means what the person just saw.
    """

    def __init__(self) -> None:
        self._options: tuple[Option, ...] = ()
        self.source: str | None = None

    @property
    def options(self) -> tuple[Option, ...]:
        return self._options

    def show(self, options: Sequence[Option], source: str | None = None) -> None:
        """Make `options` the current menu (numbered from 1)."""
        self._options, self.source = tuple(options), source

    def clear_if(self, source: str) -> None:
        """Forget the menu if it came from `source` (e.g. an alert that changed)."""
        if self.source == source:
            self._options, self.source = (), None

    def pick(self, number: int) -> Option | None:
        """Return option `number` (1-based), or None if there is no such option."""
        if 1 <= number <= len(self._options):
            return self._options[number - 1]
        return None


class ConsoleChannel:
    """Prints alerts readably with rich; edits print an "updated" line.

    Idempotent on the idempotency key: a repeated send returns the first receipt and
    prints nothing.
    """

    name = "console"
    capabilities = Capability.BUTTONS | Capability.EDIT

    def __init__(self, console: Console | None = None, *, menu: NumberedMenu | None = None):
        self.console = console if console is not None else terminal_console()
        self.menu = menu if menu is not None else NumberedMenu()
        self.printed: deque[PrintedAlert] = deque(maxlen=REMEMBERED_ALERTS)
        self._receipts: OrderedDict[str, DeliveryReceipt] = OrderedDict()
        self._numbers = itertools.count(1)
        # Set while a console chat reads this terminal: only then can a number be typed.
        self.answerable = False

    async def run(self) -> None:
        """Nothing to connect to: wait until cancelled."""
        await asyncio.Event().wait()

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Print `message` (or an update line for an edit) and return its receipt."""
        seen = self._receipts.get(message.idempotency_key)
        if seen is not None:
            return seen
        if self.answerable and self.console.is_terminal:
            self.console.line()  # the person may be typing: start below their words
        edit_of = message.edit_of
        if edit_of is not None and edit_of.message_id:
            message_id = edit_of.message_id
            self.console.print(render_update(message, message_id))
            self.menu.clear_if(message_id)
        else:
            message_id = f"console-{next(self._numbers)}"
            options = tuple(message_options(message))
            self.console.print(render_alert(message, options, answerable=self.answerable))
            self.printed.append(
                PrintedAlert(message_id, message.notification_id, message.title, options)
            )
            if options and self.answerable:
                self.menu.show(options, source=message_id)
        receipt = DeliveryReceipt(
            channel=ChannelKind.CONSOLE, address=message.address, message_id=message_id
        )
        self._receipts[message.idempotency_key] = receipt
        while len(self._receipts) > REMEMBERED_KEYS:
            self._receipts.popitem(last=False)
        logger.debug("console printed notification_id=%s", message.notification_id)
        return receipt
