"""Sending one chat reply: MarkdownV2 messages (a photo first), split, retried within a budget."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from adapters.telegram.errors import photo_refused
from adapters.telegram.render import MAX_CAPTION, reply_texts, text_units
from adapters.telegram.retry import Backoff, transient
from core.chat import Reply
from core.ports import Clock

logger = logging.getLogger(__name__)

REPLY_BUDGET_S = 30.0  # how long one reply may keep retrying before it is given up
REPLY_ATTEMPTS = 6
REPLY_BASE_S, REPLY_CAP_S = 1.0, 8.0

Send = Callable[[], Awaitable[object]]


async def send_reply(
    bot: Bot,
    chat_id: int | str,
    reply: Reply,
    keyboard: InlineKeyboardMarkup | None,
    *,
    since: datetime | None,
    clock: Clock,
    rng: random.Random,
) -> None:
    """Send a reply in MarkdownV2 with `keyboard` (a photo first when it has an image).

    A reply too long for one message goes as several, split between lines, with the
    keyboard on the last. Each message is retried on 429 (its retry_after), 5xx and
    network errors while the reply is within `REPLY_BUDGET_S` (counted from `since`,
    when its update arrived, else from now); then, or on a refusal (400, 403), the rest
    is given up and logged.
    """
    texts = reply_texts(reply)
    sends: list[Send] = []
    if reply.image is not None:
        caption = texts[0] if len(texts) == 1 and text_units(texts[0]) <= MAX_CAPTION else None
        sends.append(_photo_send(bot, chat_id, reply.image, caption, keyboard))
        if caption is not None:
            texts = []
    for n, text in enumerate(texts, start=1):
        sends.append(_text_send(bot, chat_id, text, keyboard if n == len(texts) else None))
    started = since or clock.now()
    for send in sends:
        if not await _send_retrying(send, chat_id, started, clock, rng):
            return  # the rest of a reply makes little sense without this part


async def _send_retrying(
    send: Send, chat_id: int | str, started: datetime, clock: Clock, rng: random.Random
) -> bool:
    """One message of a reply; False when it was given up (and logged)."""
    backoff = Backoff(rng, REPLY_BASE_S, REPLY_CAP_S)
    for attempt in range(1, REPLY_ATTEMPTS + 1):
        try:
            await send()
            return True
        except TelegramError as exc:
            retry = transient(exc) and attempt < REPLY_ATTEMPTS
            wait = backoff.next_wait(exc) if retry else 0.0
            spent = (clock.now() - started).total_seconds()
            if not retry or spent + wait > REPLY_BUDGET_S:
                logger.warning(
                    "telegram reply to chat %s given up attempt=%s: %s",
                    chat_id,
                    attempt,
                    exc.message,
                )
                return False
            await clock.sleep(wait)
    return False


def _text_send(
    bot: Bot, chat_id: int | str, text: str, keyboard: InlineKeyboardMarkup | None
) -> Send:
    return lambda: bot.send_message(
        chat_id, text, parse_mode=ParseMode.MARKDOWN_V2, reply_markup=keyboard
    )


def _photo_send(
    bot: Bot,
    chat_id: int | str,
    image: bytes,
    caption: str | None,
    keyboard: InlineKeyboardMarkup | None,
) -> Send:
    """A reply's image, with its caption and keyboard when it has one; when the chat refuses
    the photo (a group that lets no member send photos), the caption alone, as text."""

    async def send() -> object:
        try:
            return await bot.send_photo(
                chat_id,
                image,
                caption=caption,
                parse_mode=ParseMode.MARKDOWN_V2,
                reply_markup=keyboard if caption else None,
            )
        except BadRequest as exc:
            if not photo_refused(exc):
                raise
            logger.warning("telegram chat %s refused a reply's image: %s", chat_id, exc.message)
            if caption is None:
                return None  # the reply's text follows in its own messages
            return await _text_send(bot, chat_id, caption, keyboard)()

    return send
