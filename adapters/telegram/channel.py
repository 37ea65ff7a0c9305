"""TelegramChannel: the PTB Application under our lifecycle, and alerts out through the Bot API.

`run()` is the channel's task in the process TaskGroup: it initializes and starts the
Application (never `run_polling`/`run_webhook`), publishes the command menu, registers
the webhook (webhook mode) or runs our own getUpdates loop (polling mode), and stops and
shuts the Application down in `finally`. Updates from either source go to the
Application's update queue and on to `TelegramInbound`.

Telegram being briefly away never ends the task: start-up calls and getUpdates are
retried (`retry`: a 429's retry_after exactly, else capped backoff with jitter) while
`state()` says "down". A refused token, or a start-up call Telegram refuses (a 400 on
setWebhook, say), stops the channel but not the process: it logs why, stays "down" and
waits to be cancelled, and its sends fail as permanent so alerts fail over.

`send()` renders an alert (a photo with a chart for levels 4-5 when the payload has a
price history; text alone when the chat refuses the photo, as a group that lets no
member send photos does), edits an earlier message in place when given its receipt (removing the
keyboard), and maps SDK errors to core delivery errors. Idempotent per process on the
idempotency key.

A group upgraded to a supergroup has a new chat id, and Telegram refuses the old one
(ChatMigrated, naming the new id). A send that meets this is made again, once, to the
new id, and the receipt names it; the inbound side then moves what is stored for the
group (`TelegramInbound.move_chat`), so the next alerts go there directly. Without an
inbound side each send to the old id is redirected this way, with a warning. A message
sent before the upgrade stays in the old group's history, where it cannot be edited:
its edit is skipped with a warning rather than failing over to another chat. So is the
edit of a message the person deleted (logged at info), and one that changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import BotCommand, Update
from telegram.constants import UpdateType
from telegram.error import ChatMigrated, TelegramError
from telegram.ext import Application, TypeHandler
from telegram.request import HTTPXRequest

from adapters.telegram.errors import translated
from adapters.telegram.inbound import TelegramInbound
from adapters.telegram.render import (
    AlertMessage,
    PriceChart,
    render_alert,
    render_update,
)
from adapters.telegram.retry import Backoff, fatal, transient
from adapters.telegram.sending import edit_alert, post_alert
from core.command_help import SPECS
from core.domain import Capability, ChannelKind, DeliveryReceipt, OutboundMessage
from core.ports import Clock

logger = logging.getLogger(__name__)

# Draws an alert's chart as PNG bytes (bot/ gives it ml.charts).
ChartRenderer = Callable[[PriceChart], Awaitable[bytes]]
ALLOWED_UPDATES = [UpdateType.MESSAGE, UpdateType.CALLBACK_QUERY, UpdateType.MY_CHAT_MEMBER]
REMEMBERED_KEYS = 20_000
PHOTO = "photo"
# What reading an update the SDK does not expect raises (ArithmeticError, OSError: a `date`
# no datetime can hold).
UNREADABLE = (AttributeError, KeyError, TypeError, ValueError, ArithmeticError, OSError)


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    """What the channel needs from settings (HDT_TELEGRAM_*, HDT_PUBLIC_URL)."""

    token: str
    api_url: str = "https://api.telegram.org/bot"
    webhook_url: str | None = None  # set: webhook mode; None: polling mode
    webhook_secret: str | None = None
    poll_timeout_s: int = 25
    request_timeout_s: float = 10.0
    retry_base_s: float = 1.0  # start-up and getUpdates retries: the first wait's ceiling
    retry_cap_s: float = 60.0  # ... and the longest wait (a 429's retry_after excepted)


class TelegramChannel:
    """Satisfies core.ports.Channel for Telegram; see the module docstring."""

    name = ChannelKind.TELEGRAM.value
    capabilities = Capability.BUTTONS | Capability.EDIT | Capability.RICH_TEXT | Capability.IMAGES

    def __init__(
        self,
        config: TelegramConfig,
        inbound: TelegramInbound | None,
        clock: Clock,
        *,
        chart: ChartRenderer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._inbound = inbound
        self._clock = clock
        self._chart = chart
        self._rng = rng if rng is not None else random.Random()
        self._receipts: OrderedDict[str, DeliveryReceipt] = OrderedDict()
        # In webhook mode updates arrive over HTTP, so web-only processes run it too.
        self.serves_http = config.webhook_url is not None
        self._state = "starting"
        self.ready = asyncio.Event()  # set once serving
        self.stopped = asyncio.Event()  # set when Telegram refused us for good (see run)
        timeout = config.request_timeout_s
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder()
            .token(config.token)
            .base_url(config.api_url)
            .request(
                HTTPXRequest(
                    connection_pool_size=64,
                    read_timeout=timeout,
                    write_timeout=timeout,
                    connect_timeout=timeout,
                )
            )
            .get_updates_request(HTTPXRequest(read_timeout=config.poll_timeout_s + timeout))
            .updater(None)
            .concurrent_updates(64)
            .build()
        )
        if inbound is not None:
            self.application.add_handler(TypeHandler(Update, inbound.on_update))
        self.bot = self.application.bot

    def state(self) -> str:
        """For /readyz: "ok" once serving, else "starting" or "down"."""
        return self._state

    # --- the task -------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until cancelled (see the module docstring)."""
        app = self.application
        try:
            await self._serve()
        except TelegramError as exc:  # refused, not failed: waiting cannot fix it
            self._state = "down"
            logger.error(
                "telegram channel stopped; the rest of the process goes on: %s", _why_stopped(exc)
            )
            self.stopped.set()
            await asyncio.Event().wait()
        finally:
            self._state = "down"
            if app.running:
                await app.stop()
            await app.shutdown()
            await self.bot.shutdown()  # when start-up never got through getMe

    async def _serve(self) -> None:
        app = self.application
        await self._retrying("getMe", app.initialize)
        await app.start()
        await self._retrying("setMyCommands", self.publish_commands)
        if self.config.webhook_url:
            await self._retrying("setWebhook", self._register_webhook)
            logger.info("telegram webhook registered at %s", self.config.webhook_url)
            self._serving()
            await asyncio.Event().wait()
        else:
            await self._retrying("deleteWebhook", self.bot.delete_webhook)
            self._serving()
            await self._poll()

    def _serving(self) -> None:
        self._state = "ok"
        self.ready.set()

    def _backoff(self) -> Backoff:
        return Backoff(self._rng, self.config.retry_base_s, self.config.retry_cap_s)

    async def _retrying(self, method: str, call: Callable[[], Awaitable[object]]) -> None:
        """Run one start-up call until it works; transient failures wait and try again."""
        backoff = self._backoff()
        while True:
            try:
                await call()
                return
            except TelegramError as exc:
                if not transient(exc):
                    raise
                self._state = "down"
                wait = backoff.next_wait(exc)
                logger.warning(
                    "telegram %s failed attempt=%s, retrying in %.1f s: %s",
                    method,
                    backoff.attempt,
                    wait,
                    exc.message,
                )
                await self._clock.sleep(wait)

    async def publish_commands(self) -> None:
        """setMyCommands from core.command_help.SPECS (the menu people see after /)."""
        commands = [BotCommand(spec.name, spec.summary[:256]) for spec in SPECS]
        await self.bot.set_my_commands(commands)

    async def _register_webhook(self) -> None:
        await self.bot.set_webhook(
            self.config.webhook_url or "",
            secret_token=self.config.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
        )

    async def _poll(self) -> None:
        """Our getUpdates loop: long-poll, queue each update, confirm it with the offset.

        Any failure but a refused token waits and polls again (a 429 its retry_after). An
        update the SDK cannot read is skipped with a warning, as the webhook drops it.
        """
        offset: int | None = None
        backoff = self._backoff()
        while True:
            try:
                updates, offset = await self._get_updates(offset)
            except TelegramError as exc:
                if fatal(exc):
                    raise
                self._state = "down"
                wait = backoff.next_wait(exc)
                logger.warning(
                    "telegram getUpdates failed attempt=%s, retrying in %.1f s: %s",
                    backoff.attempt,
                    wait,
                    exc.message,
                )
                await self._clock.sleep(wait)
                continue
            backoff.reset()
            self._state = "ok"
            for update in updates:
                await self.application.update_queue.put(update)

    async def _get_updates(self, offset: int | None) -> tuple[Sequence[Update], int | None]:
        """One getUpdates: the updates the SDK reads, and the offset that confirms the batch.

        When the SDK cannot read the batch, it is read again update by update (`_read_each`).
        """
        try:
            updates = await self.bot.get_updates(
                offset=offset,
                timeout=self.config.poll_timeout_s,
                allowed_updates=ALLOWED_UPDATES,
            )
        except UNREADABLE:
            return await self._read_each(offset)
        return updates, updates[-1].update_id + 1 if updates else offset

    async def _read_each(self, offset: int | None) -> tuple[Sequence[Update], int | None]:
        """The same batch as JSON, each update read alone: one the SDK cannot read is skipped
        with a warning (the offset moves past it, or it would come back on every poll)."""
        # `_post` is what `get_updates` calls before reading; no long poll, the batch is there.
        batch = await self.bot._post(
            "getUpdates",
            {"offset": offset, "timeout": 0, "allowed_updates": ALLOWED_UPDATES},
        )
        updates: list[Update] = []
        for data in batch:
            offset = int(data["update_id"]) + 1
            try:
                updates.append(Update.de_json(data, self.bot))
            except UNREADABLE as exc:
                logger.warning(
                    "telegram update %s skipped: not a shape the SDK reads (%s: %s)",
                    data["update_id"],
                    type(exc).__name__,
                    exc,
                )
        return updates, offset

    async def enqueue(self, data: Mapping[str, Any]) -> None:
        """Queue one update received by the webhook (already authenticated)."""
        update = Update.de_json(dict(data), self.bot)
        await self.application.update_queue.put(update)

    # --- sending --------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Send or edit one alert message; raises only core delivery errors."""
        seen = self._receipts.get(message.idempotency_key)
        if seen is not None:
            return seen
        edit_of = message.edit_of
        if edit_of is not None and edit_of.message_id:
            receipt = await self._edit(message, edit_of)
        else:
            receipt = await self._send_new(message)
        self._receipts[message.idempotency_key] = receipt
        while len(self._receipts) > REMEMBERED_KEYS:
            self._receipts.popitem(last=False)
        return receipt

    async def _send_new(self, message: OutboundMessage) -> DeliveryReceipt:
        rendered = render_alert(message)
        chart = await self._draw(message, rendered)
        address = message.address
        with translated("send", message.notification_id):
            try:
                sent, is_photo = await post_alert(self.bot, address, message, rendered, chart)
            except ChatMigrated as exc:
                address = str(exc.new_chat_id)
                logger.warning(
                    "telegram group %s was upgraded to supergroup %s; sending "
                    "notification_id=%s there",
                    message.address,
                    address,
                    message.notification_id,
                )
                # A second ChatMigrated leaves `translated` as ChatMoved (permanent).
                sent, is_photo = await post_alert(self.bot, address, message, rendered, chart)
        if address != message.address:
            await self._moved(message.address, address, message.notification_id)
        return DeliveryReceipt(
            channel=ChannelKind.TELEGRAM,
            address=address,
            message_id=str(sent.message_id),
            detail=PHOTO if is_photo else None,
        )

    async def _moved(self, old: str, new: str, notification_id: int) -> None:
        """Tell the inbound side a group moved, so later alerts go to `new` directly."""
        if self._inbound is None:
            return
        try:
            await self._inbound.move_chat(old, new)
        except Exception:  # the alert went out; the next send meets the move again
            logger.exception(
                "telegram: moving group %s to %s failed notification_id=%s",
                old,
                new,
                notification_id,
            )

    async def _draw(self, message: OutboundMessage, rendered: AlertMessage) -> bytes | None:
        if rendered.chart is None or self._chart is None:
            return None
        try:
            return await self._chart(rendered.chart)
        except Exception:  # a chart is a nicety: the alert goes out without it
            logger.exception("chart failed notification_id=%s", message.notification_id)
            return None

    async def _edit(self, message: OutboundMessage, edit_of: DeliveryReceipt) -> DeliveryReceipt:
        is_photo = edit_of.detail == PHOTO
        text = render_update(message, caption=is_photo)
        chat, message_id = edit_of.address or message.address, int(edit_of.message_id or 0)
        with translated("edit", message.notification_id):
            moved_to = await edit_alert(
                self.bot,
                chat,
                message_id,
                text,
                is_photo=is_photo,
                notification_id=message.notification_id,
            )
        if moved_to is not None:
            logger.warning(
                "telegram group %s was upgraded to supergroup %s; its message %s can no longer "
                "be edited notification_id=%s",
                chat,
                moved_to,
                message_id,
                message.notification_id,
            )
            await self._moved(chat, moved_to, message.notification_id)
        return DeliveryReceipt(
            channel=ChannelKind.TELEGRAM,
            address=chat,
            message_id=str(message_id),
            detail=edit_of.detail,
        )


def _why_stopped(exc: TelegramError) -> str:
    """One line for the log; never the refused token (PTB puts it in InvalidToken's text)."""
    if fatal(exc):
        return (
            "Telegram refused the bot token; set HDT_TELEGRAM_BOT_TOKEN to the one @BotFather gave"
        )
    return f"Telegram refused a start-up call ({type(exc).__name__}: {exc.message})"


__all__ = ["ChartRenderer", "PriceChart", "TelegramChannel", "TelegramConfig"]
