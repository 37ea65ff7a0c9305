"""TelegramInbound: one PTB Update -> one core command or button press -> a reply.

Messages become `CommandHandlers.handle_text` calls (`/watch@our_bot yankees` ->
`watch yankees`; `/start <payload>` -> `link <payload>`); button presses carry callback
data made by `render` (a signed token, a command, or a cached choice) and are answered
at once with a short toast. Every update records the person's presence. In groups the
chat is the destination and `getChatMember` says whether the person is an admin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, CallbackQuery, Message, Update, User
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import RetryAfter, TelegramError
from telegram.ext import ContextTypes

from adapters.telegram.errors import retry_after_seconds
from adapters.telegram.memory import ChoiceCache, UsedTokens
from adapters.telegram.render import (
    CACHED_PREFIX,
    COMMAND_PREFIX,
    MAX_CAPTION,
    TOKEN_PREFIX,
    command_data,
    reply_keyboard,
    reply_text,
)
from core.actions import ActionSigner, TokenError
from core.chat import Choice, CommandContext, Reply
from core.domain import ActivityKind, Platform
from core.handlers import CommandHandlers
from core.ports import Clock
from core.presence import record_activity
from core.users import ensure_user

logger = logging.getLogger(__name__)

PLATFORM = Platform.TELEGRAM.value
ADMIN_TTL = timedelta(minutes=1)
MAX_TOAST = 190
REPLAYED = "This button was already used; nothing was changed."
EXPIRED_CHOICE = "This choice has expired; please type the command again."
_ADMINS = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}


@dataclass(frozen=True, slots=True)
class _Who:
    user_id: int
    ctx: CommandContext


class TelegramInbound:
    """Turns updates into core calls and sends the replies; see the module docstring."""

    def __init__(
        self,
        handlers: CommandHandlers,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        signer: ActionSigner,
    ) -> None:
        self._handlers = handlers
        self._sessions = sessions
        self._clock = clock
        self._signer = signer
        self.used = UsedTokens(clock)
        self.choices = ChoiceCache(clock)
        self._admins: dict[tuple[int, int], tuple[bool, datetime]] = {}

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The PTB handler callback: one update, never raising (the loop edge)."""
        try:
            if update.callback_query is not None:
                await self.press(update.callback_query, update.get_bot())
            elif update.message is not None and update.message.text:
                await self.message(update.message, update.get_bot())
        except Exception:
            logger.exception("telegram update failed update_id=%s", update.update_id)

    # --- messages -------------------------------------------------------------------------

    async def message(self, message: Message, bot: Bot) -> Reply | None:
        """Handle one text message; returns the reply sent (None when nothing was said)."""
        sender = message.from_user
        if sender is None or sender.is_bot:
            return None
        is_group = message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
        text = command_text(message.text or "", bot.username)
        if is_group and not (message.text or "").lstrip().startswith("/"):
            text = None
        who = await self._who(sender, message.chat.id, is_group, bot)
        if text is None:  # a group's small talk, or a command for another bot
            await self._record(who.user_id, ActivityKind.MESSAGE)
            return None
        reply = await self._handlers.handle_text(who.ctx, text)
        await self.send_reply(bot, message.chat.id, reply)
        return reply

    # --- buttons --------------------------------------------------------------------------

    async def press(self, query: CallbackQuery, bot: Bot) -> Reply:
        """Handle one button press: a toast at once, a message when there is more to say."""
        chat = query.message.chat if query.message is not None else None
        chat_id = chat.id if chat is not None else query.from_user.id
        is_group = chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
        who = await self._who(query.from_user, chat_id, is_group, bot)
        reply = await self._pressed(who, query.data or "")
        toast = reply.lines[0] if reply.lines else "Done."
        await query.answer(text=toast[:MAX_TOAST], show_alert=False)
        if reply.choices or reply.buttons or reply.image or len(reply.lines) > 1:
            await self.send_reply(bot, chat_id, reply)
        return reply

    async def _pressed(self, who: _Who, data: str) -> Reply:
        if data.startswith(TOKEN_PREFIX):
            return await self._token(who, data[len(TOKEN_PREFIX) :])
        if data.startswith(COMMAND_PREFIX):
            return await self._handlers.handle_text(who.ctx, data[len(COMMAND_PREFIX) :])
        if data.startswith(CACHED_PREFIX):
            command = self.choices.get(data[len(CACHED_PREFIX) :])
            if command is not None:
                return await self._handlers.handle_text(who.ctx, command)
            await self._record(who.user_id, ActivityKind.BUTTON)
            return Reply.error(EXPIRED_CHOICE)
        await self._record(who.user_id, ActivityKind.BUTTON)
        return Reply.error("Sorry, this button is not valid. Nothing was changed.")

    async def _token(self, who: _Who, token: str) -> Reply:
        try:
            verified = self._signer.verify(token, now=self._clock.now())
        except TokenError:
            return await self._handlers.handle_button(who.ctx, token)  # says why, politely
        if not self.used.claim(token, verified.expires_at):
            await self._record(who.user_id, ActivityKind.BUTTON)
            return Reply.error(REPLAYED)
        reply = await self._handlers.handle_button(who.ctx, token)
        if reply.is_error:
            self.used.release(token)  # nothing changed: a later press may still work
        return reply

    def choice_data(self, choice: Choice) -> str | None:
        """Callback data for a choice: its token, its command, or a cached short id."""
        if choice.token:
            return TOKEN_PREFIX + choice.token
        if not choice.command:
            return None
        return command_data(choice.command) or CACHED_PREFIX + self.choices.put(choice.command)

    # --- replies --------------------------------------------------------------------------

    async def send_reply(self, bot: Bot, chat_id: int | str, reply: Reply) -> None:
        """Send a reply in MarkdownV2 with its keyboard (a photo when it has an image).

        Replies are answers to the person, sent directly; a 429 is waited out once.
        """
        text = reply_text(reply)
        keyboard = reply_keyboard(reply, self.choice_data)
        for attempt in (1, 2):
            try:
                if reply.image:
                    caption = text if len(text) <= MAX_CAPTION else None
                    await bot.send_photo(
                        chat_id,
                        reply.image,
                        caption=caption,
                        parse_mode=ParseMode.MARKDOWN_V2,
                        reply_markup=keyboard if caption else None,
                    )
                    if caption:
                        return
                    reply = Reply(reply.lines, reply.choices, reply.buttons, None, reply.is_error)
                await bot.send_message(
                    chat_id, text, parse_mode=ParseMode.MARKDOWN_V2, reply_markup=keyboard
                )
                return
            except RetryAfter as exc:
                if attempt == 2:
                    raise
                await self._clock.sleep(retry_after_seconds(exc))
            except TelegramError as exc:
                logger.warning("telegram reply to chat %s failed: %s", chat_id, exc.message)
                return

    # --- who is talking -------------------------------------------------------------------

    async def _who(self, sender: User, chat_id: int, is_group: bool, bot: Bot) -> _Who:
        async with self._sessions() as session, session.begin():
            user = await ensure_user(
                session,
                PLATFORM,
                str(sender.id),
                display_name=sender.full_name or sender.username or str(sender.id),
                dm_address=None if is_group else str(chat_id),
                now=self._clock.now(),
            )
            user_id = user.id
        is_admin = await self._is_admin(bot, chat_id, sender.id) if is_group else False
        ctx = CommandContext(user_id, PLATFORM, str(chat_id), is_group, is_admin)
        return _Who(user_id, ctx)

    async def _is_admin(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        now = self._clock.now()
        known = self._admins.get((chat_id, user_id))
        if known is not None and known[1] > now:
            return known[0]
        try:
            member = await bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            logger.warning("telegram getChatMember failed chat=%s: %s", chat_id, exc.message)
            return False
        admin = member.status in _ADMINS
        self._admins[(chat_id, user_id)] = (admin, now + ADMIN_TTL)
        return admin

    async def _record(self, user_id: int, kind: ActivityKind) -> None:
        async with self._sessions() as session, session.begin():
            await record_activity(session, user_id, PLATFORM, kind, self._clock.now())


def command_text(text: str, bot_username: str | None) -> str | None:
    """What to hand to the command parser, or None when the message is not for us.

    `/watch@our_bot yankees` -> `watch yankees`; `/start abc` -> `link abc` (a deep-link
    payload); a command addressed to another bot -> None; plain text -> as written.
    """
    stripped = text.strip()
    if not stripped.startswith("/"):
        return stripped
    head, _, rest = stripped.partition(" ")
    name, _, target = head[1:].partition("@")
    if target and bot_username and target.casefold() != bot_username.casefold():
        return None
    name = name.casefold()
    rest = rest.strip()
    if name == "start":
        return f"link {rest}" if rest else "help"
    return f"{name} {rest}".strip()
