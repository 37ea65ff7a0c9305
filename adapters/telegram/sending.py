"""One alert message through the Bot API: posted (a chart photo, else text) or edited in place."""

from __future__ import annotations

import logging

from telegram import Bot, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated

from adapters.telegram.errors import photo_refused
from adapters.telegram.render import AlertMessage, alert_text
from core.domain import OutboundMessage

logger = logging.getLogger(__name__)


async def post_alert(
    bot: Bot,
    address: str,
    message: OutboundMessage,
    rendered: AlertMessage,
    chart: bytes | None,
) -> tuple[Message, bool]:
    """Send the alert: a photo with its chart, else (or when the chat refuses the photo)
    text. Returns the message and whether it is a photo."""
    if chart is not None:
        try:
            photo = await bot.send_photo(
                address,
                chart,
                caption=rendered.text,
                parse_mode=ParseMode.MARKDOWN_V2,
                reply_markup=rendered.keyboard,
            )
            return photo, True
        except BadRequest as exc:
            if not photo_refused(exc):
                raise
            logger.warning(
                "telegram chat %s refused the chart (%s); sending notification_id=%s as text",
                address,
                exc.message,
                message.notification_id,
            )
    text = alert_text(message) if rendered.chart is not None else rendered.text
    sent = await bot.send_message(
        address, text, parse_mode=ParseMode.MARKDOWN_V2, reply_markup=rendered.keyboard
    )
    return sent, False


async def edit_alert(
    bot: Bot, chat: str, message_id: int, text: str, *, is_photo: bool, notification_id: int
) -> str | None:
    """Edit a sent alert's text (a photo's caption); the group's new chat id when it was
    upgraded to a supergroup, the message out of reach. Raises SDK errors (call inside
    `translated`) but for an edit that has nothing to do (`_nothing_to_edit`)."""
    try:
        if is_photo:
            await bot.edit_message_caption(
                chat, message_id, caption=text, parse_mode=ParseMode.MARKDOWN_V2
            )
        else:
            await bot.edit_message_text(text, chat, message_id, parse_mode=ParseMode.MARKDOWN_V2)
    except ChatMigrated as exc:
        # The message is in the group's history from before its upgrade, which
        # no chat id reaches any more; failing over would only repeat it elsewhere.
        return str(exc.new_chat_id)
    except BadRequest as exc:
        if not _nothing_to_edit(exc, chat, message_id, notification_id):
            raise
    return None


def _nothing_to_edit(exc: BadRequest, chat: str, message_id: int, notification_id: int) -> bool:
    """Whether an edit's 400 leaves nothing to do: the message already says it, or the person
    deleted it (failing over would send the change elsewhere, about a message they removed)."""
    text = exc.message.lower()
    if "message to edit not found" in text:
        logger.info(
            "telegram message %s in chat %s is gone (deleted); its edit is skipped "
            "notification_id=%s",
            message_id,
            chat,
            notification_id,
        )
        return True
    return "not modified" in text
