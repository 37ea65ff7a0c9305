"""TelegramInbound: one PTB Update -> one core command or button press -> a reply.

Messages become `CommandHandlers.handle_text` calls (`/watch@our_bot yankees` ->
`watch yankees`; `/start <payload>` -> `link <payload>`); a photo's caption counts as
its text, and other non-text messages in a private chat get a one-line hint. Button
presses carry callback data made by `render` (a signed token, a command, or a cached
choice) and are answered at once with a short toast; when Telegram refuses the toast
(a query too old, a 429), or the answer is too long for one, it comes as a message too;
a press whose handling fails is still answered (a "try again" toast), or the button spins.
Every handled update records the person's presence. One chat's updates are handled one
at a time, in the order they came.

In groups the chat is the destination and `getChatMember` says whether the person is an
admin; when Telegram cannot say, a refused command is answered "could not confirm"
rather than "admins only". Only commands are looked at: small talk creates nobody and
costs no API call. An anonymous admin (the message comes from GroupAnonymousBot on
behalf of the group itself) acts as the group: an admin whose identity is the group's.

When a group is upgraded to a supergroup it gets a new chat id: the service messages
saying so (`migrate_to_chat_id` in the old group, `migrate_from_chat_id` in the new one)
move everything stored for the old id to the new one (`core.chat_moves`; twice is
harmless). `TelegramChannel` calls `move_chat` too when a send finds the group moved.

When the bot is removed from a group (a `my_chat_member` update: its status now "left"
or "kicked"), the group's active watches pause and their owners are told in private
(`core.group_gone`), as when a send there finds the bot gone.

Replies are sent directly (not through the outbox); 429s, 5xx and network errors are
retried for up to `replies.REPLY_BUDGET_S`, and a reply too long for one message goes as several.
A reply's image a chat refuses (a group that lets no member send photos) is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, CallbackQuery, Chat, ChatMemberUpdated, Message, Update, User
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from adapters.telegram.memory import ChoiceCache, UsedTokens
from adapters.telegram.render import (
    CACHED_PREFIX,
    COMMAND_PREFIX,
    TOKEN_PREFIX,
    command_data,
    reply_keyboard,
)
from adapters.telegram.replies import send_reply
from core.actions import ActionSigner, TokenError
from core.chat import Choice, CommandContext, Reply
from core.chat_moves import MovedChat, move_chat
from core.domain import ActivityKind, ChannelKind, Platform
from core.group_gone import GroupGone, group_gone
from core.handlers import CommandHandlers
from core.ports import Clock
from core.presence import record_activity
from core.users import ensure_user, find_identity

logger = logging.getLogger(__name__)

PLATFORM = Platform.TELEGRAM.value
ADMIN_TTL = timedelta(minutes=1)
MAX_TOAST = 190
REPLAYED = "This button was already used; nothing was changed."
EXPIRED_CHOICE = "This choice has expired; please type the command again."
NOT_TEXT = "I only read text: send me a command, e.g. help"
PRESS_FAILED = "Sorry, something went wrong with this button; please try again."
UNCONFIRMED = "Telegram could not confirm your admin rights just now; please try again."
_ADMINS = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
_GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)
_REMOVED = {ChatMemberStatus.LEFT, ChatMemberStatus.BANNED}  # "left", "kicked"


@dataclass(frozen=True, slots=True)
class _Who:
    user_id: int
    ctx: CommandContext
    admin_unknown: bool = False  # a group, and getChatMember failed


class TelegramInbound:
    """Turns updates into core calls and sends the replies; see the module docstring."""

    def __init__(
        self,
        handlers: CommandHandlers,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        signer: ActionSigner,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._handlers = handlers
        self._sessions = sessions
        self._clock = clock
        self._signer = signer
        self._rng = rng if rng is not None else random.Random()
        self.used = UsedTokens(clock)
        self.choices = ChoiceCache(clock)
        self._admins: dict[tuple[int, int], tuple[bool, datetime]] = {}
        self._chats: dict[int, tuple[asyncio.Lock, int]] = {}  # chat -> its turn, updates in it

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The PTB handler callback: one update, never raising (the loop edge).

        PTB runs updates concurrently; one chat's are handled one at a time, in the order
        they came (a batch after an outage holds several), so each is answered in turn.
        """
        chat = update.effective_chat.id if update.effective_chat is not None else None
        arrived = self._clock.now()  # a reply's retry budget counts the wait for its turn
        async with self._chat_turn(chat):
            try:
                if update.callback_query is not None:
                    await self.press(update.callback_query, update.get_bot(), since=arrived)
                elif update.message is not None:
                    await self.message(update.message, update.get_bot(), since=arrived)
                elif update.my_chat_member is not None:
                    await self.member_changed(update.my_chat_member)
            except Exception:
                logger.exception("telegram update failed update_id=%s", update.update_id)

    @contextlib.asynccontextmanager
    async def _chat_turn(self, chat: int | None) -> AsyncIterator[None]:
        """Wait for the chat's earlier updates (FIFO: asyncio.Lock wakes in order)."""
        if chat is None:
            yield
            return
        lock, waiting = self._chats.get(chat, (asyncio.Lock(), 0))
        self._chats[chat] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._chats[chat]
            if waiting > 1:
                self._chats[chat] = (lock, waiting - 1)
            else:
                del self._chats[chat]

    # --- messages -------------------------------------------------------------------------

    async def message(
        self, message: Message, bot: Bot, *, since: datetime | None = None
    ) -> Reply | None:
        """Handle one message; returns the reply sent (None when nothing was said)."""
        chat = message.chat
        if message.migrate_to_chat_id is not None:  # the old group's last word
            await self.move_chat(chat.id, message.migrate_to_chat_id)
            return None
        if message.migrate_from_chat_id is not None:  # the new supergroup's first
            await self.move_chat(message.migrate_from_chat_id, chat.id)
            return None
        is_group = chat.type in _GROUPS
        written = message.text or message.caption or ""
        text = command_text(written, bot.username) if written.strip() else None
        if is_group and not written.lstrip().startswith("/"):
            text = None  # small talk: not for us
        hint = not is_group and not written.strip() and message.effective_attachment is not None
        if text is None and not hint:
            # Small talk, a command for another bot, media in a group, a service message:
            # say nothing, and neither create anyone nor ask Telegram who they are.
            await self._record_known(message.from_user)
            return None
        if is_group and _from_the_group(message):
            who = await self._group_itself(chat)
        elif message.from_user is None or message.from_user.is_bot:
            return None
        else:
            who = await self._who(message.from_user, chat.id, is_group, bot)
        if text is None:  # a sticker, voice note, location... in a private chat
            await self._record(who.user_id, ActivityKind.MESSAGE)
            reply = Reply.error(NOT_TEXT)
        else:
            reply = _confirmed(who, await self._handlers.handle_text(who.ctx, text))
        await self.send_reply(bot, chat.id, reply, since=since)
        return reply

    # --- buttons --------------------------------------------------------------------------

    async def press(
        self, query: CallbackQuery, bot: Bot, *, since: datetime | None = None
    ) -> Reply:
        """Handle one button press: a toast at once, a message when there is more to say
        (or when the toast could not be shown)."""
        chat = query.message.chat if query.message is not None else None
        chat_id = chat.id if chat is not None else query.from_user.id
        is_group = chat is not None and chat.type in _GROUPS
        try:
            who = await self._who(query.from_user, chat_id, is_group, bot)
            reply = _confirmed(who, await self._pressed(who, query.data or ""))
        except Exception:
            # Telegram spins the button until it is answered; `on_update` logs the failure.
            await self._toast(query, PRESS_FAILED)
            raise
        first = reply.lines[0] if reply.lines else "Done."
        shown = await self._toast(query, first) and len(first) <= MAX_TOAST
        if not shown or reply.choices or reply.buttons or reply.image or len(reply.lines) > 1:
            await self.send_reply(bot, chat_id, reply, since=since)
        return reply

    async def _toast(self, query: CallbackQuery, text: str) -> bool:
        """answerCallbackQuery (a text too long for a toast cut with "…"); False when
        Telegram refused it (too old, a 429, a 5xx)."""
        if len(text) > MAX_TOAST:
            text = text[: MAX_TOAST - 1] + "…"
        try:
            await query.answer(text=text, show_alert=False)
        except TelegramError as exc:
            logger.warning("telegram answerCallbackQuery failed: %s", exc.message)
            return False
        return True

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

    async def send_reply(
        self, bot: Bot, chat_id: int | str, reply: Reply, *, since: datetime | None = None
    ) -> None:
        """Send a reply with its keyboard (buttons by `choice_data`): see `replies.send_reply`
        (split into messages, retried for up to `REPLY_BUDGET_S` from `since`)."""
        keyboard = reply_keyboard(reply, self.choice_data)
        await send_reply(
            bot, chat_id, reply, keyboard, since=since, clock=self._clock, rng=self._rng
        )

    # --- a group upgraded to a supergroup --------------------------------------------------

    async def move_chat(self, old: int | str, new: int | str) -> MovedChat:
        """Point the group's watches, identity and unsent alerts at its new chat id."""
        async with self._sessions() as session, session.begin():
            moved = await move_chat(
                session, ChannelKind.TELEGRAM.value, str(old), str(new), self._clock.now()
            )
        if moved.total:
            logger.info(
                "telegram group %s is now supergroup %s: moved %d watches, %d identities, "
                "%d unsent messages",
                old,
                new,
                moved.watches,
                moved.identities,
                moved.notifications,
            )
        return moved

    # --- the bot removed from a group -----------------------------------------------------

    async def member_changed(self, changed: ChatMemberUpdated) -> GroupGone | None:
        """The bot's own status in a chat changed: removed from a group ("left", "kicked"),
        its watches pause and their owners are told (`core.group_gone`). None: not a
        removal from a group."""
        chat = changed.chat
        if chat.type not in _GROUPS or changed.new_chat_member.status not in _REMOVED:
            return None
        async with self._sessions() as session, session.begin():
            gone = await group_gone(
                session, ChannelKind.TELEGRAM.value, str(chat.id), self._clock.now(),
                title=chat.title,
            )  # fmt: skip
        if gone.watches:
            logger.info(
                "telegram bot removed from group %s: paused %d watches, closed %d alerts, "
                "cancelled %d queued messages, told %d owners",
                chat.id, gone.watches, gone.alerts, gone.cancelled, gone.told,
            )  # fmt: skip
        return gone

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
        ctx = CommandContext(user_id, PLATFORM, str(chat_id), is_group, bool(is_admin))
        return _Who(user_id, ctx, admin_unknown=is_admin is None)

    async def _group_itself(self, chat: Chat) -> _Who:
        """An anonymous admin: Telegram vouches they administer `chat`, not who they are,
        so they act as the group (an identity of its own, never reachable directly)."""
        async with self._sessions() as session, session.begin():
            user = await ensure_user(
                session,
                PLATFORM,
                str(chat.id),
                display_name=chat.title or str(chat.id),
                dm_address=None,
                now=self._clock.now(),
            )
            user_id = user.id
        return _Who(user_id, CommandContext(user_id, PLATFORM, str(chat.id), True, True))

    async def _is_admin(self, bot: Bot, chat_id: int, user_id: int) -> bool | None:
        """Whether the person administers the group; None when Telegram could not say."""
        now = self._clock.now()
        known = self._admins.get((chat_id, user_id))
        if known is not None and known[1] > now:
            return known[0]
        try:
            member = await bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            logger.warning("telegram getChatMember failed chat=%s: %s", chat_id, exc.message)
            return None
        admin = member.status in _ADMINS
        self._admins[(chat_id, user_id)] = (admin, now + ADMIN_TTL)
        return admin

    async def _record(self, user_id: int, kind: ActivityKind) -> None:
        async with self._sessions() as session, session.begin():
            await record_activity(session, user_id, PLATFORM, kind, self._clock.now())

    async def _record_known(self, sender: User | None) -> None:
        """Presence for someone we already know; a stranger's message creates nobody."""
        if sender is None or sender.is_bot:
            return
        async with self._sessions() as session, session.begin():
            identity = await find_identity(session, PLATFORM, str(sender.id))
            if identity is not None:
                await record_activity(
                    session, identity.user_id, PLATFORM, ActivityKind.MESSAGE, self._clock.now()
                )


def _from_the_group(message: Message) -> bool:
    """Sent by an anonymous admin: on behalf of the group itself (GroupAnonymousBot).

    A linked channel's posts or a member writing as their own channel carry another
    chat as `sender_chat`, and are not this.
    """
    return message.sender_chat is not None and message.sender_chat.id == message.chat.id


def _confirmed(who: _Who, reply: Reply) -> Reply:
    """A refusal while Telegram could not say whether the person is an admin is most
    likely "admins only" said to an admin: say we could not check instead."""
    if who.admin_unknown and reply.is_error:
        return Reply.error(UNCONFIRMED)
    return reply


def command_text(text: str, bot_username: str | None) -> str | None:
    """What to hand to the command parser, or None when the message is not for us.

    `/watch@our_bot yankees` -> `watch yankees`; `/start abc` -> `link abc` (a deep-link
    payload); a command addressed to another bot -> None; plain text -> as written.
    """
    stripped = text.strip()
    if not stripped.startswith("/"):
        return stripped
    head, *tail = stripped.split(maxsplit=1)  # any whitespace: "/watch@bot\nyankees"
    rest = tail[0] if tail else ""
    name, _, target = head[1:].partition("@")
    if target and bot_username and target.casefold() != bot_username.casefold():
        return None
    name = name.casefold()
    rest = rest.strip()
    if name == "start":
        return f"link {rest}" if rest else "help"
    return f"{name} {rest}".strip()
