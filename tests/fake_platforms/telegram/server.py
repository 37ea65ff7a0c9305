"""FakeBotApi: the Telegram Bot API on loopback, for the real python-telegram-bot to talk to.

    async with FakeBotApi() as api:
        bot = Bot(api.token, base_url=api.base_url)
        api.push(api.text_update(user=7, text="/watch yankees"))   # getUpdates or webhook
        ...
        assert api.unexpected == []

Updates are built like Telegram's: `text_update` (given an impossible `date`, one the SDK
cannot read), `media_update` (a sticker, a photo with a caption...), `anonymous_update`
(an anonymous group admin), `press`, `migration_updates` (the two service messages of
a group upgraded to a supergroup) and `member_update` (the bot added to or removed from a
group). As Telegram does, updates of a type the bot's `allowed_updates` leave out are
dropped (kept in `dropped`).

Answers have the real shapes (`{"ok": true, "result": ...}` or `{"ok": false,
"error_code", "description", "parameters"}`): 429 with `parameters.retry_after` beyond
the flood limits (limits.py), 403 "Forbidden: bot was blocked by the user" for chats in
`blocked`, 400 "not enough rights to send photos to the chat" for sendPhoto to chats in
`no_photos` (a group whose permissions keep members, the bot too, from sending photos),
400 "group chat was upgraded to a supergroup chat" with
`parameters.migrate_to_chat_id` for any call naming a chat in `migrated` (see `migrate`),
400 "can't parse entities" for MarkdownV2 the entity parser refuses, 400 for
callback data over 64 bytes, too-long texts (counted in UTF-16 units, as Telegram
counts them), edits that change nothing or find no message (one the person deleted, say:
see `delete`). Any other method or path is answered 404 and kept in `unexpected`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fake_platforms.telegram.limits import FloodLimits
from tests.fake_platforms.telegram.markdown import EntityError, parse

BOT_ID = 7_000_001
GROUP_ANONYMOUS_BOT = 1_087_968_824  # Telegram's sender of anonymous admins' messages
MEDIA: dict[str, dict[str, Any]] = {
    "sticker": {"sticker": {"file_id": "s1", "file_unique_id": "su1", "width": 512,
                            "height": 512, "is_animated": False, "is_video": False,
                            "type": "regular", "emoji": "👍"}},
    "voice": {"voice": {"file_id": "v1", "file_unique_id": "vu1", "duration": 3}},
    "location": {"location": {"latitude": 33.4, "longitude": -112.1}},
    "photo": {"photo": [{"file_id": "p1", "file_unique_id": "pu1", "width": 90, "height": 90}]},
}  # fmt: skip
KNOWN = {
    "getMe", "getUpdates", "setWebhook", "deleteWebhook", "sendMessage", "sendPhoto",
    "editMessageText", "editMessageReplyMarkup", "editMessageCaption", "answerCallbackQuery",
    "setMyCommands", "getChatMember", "getChatAdministrators",
}  # fmt: skip
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None,
                 parameters: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after
        self.parameters = dict(parameters or {})
        if retry_after is not None:
            self.parameters["retry_after"] = retry_after


@dataclass(frozen=True, slots=True)
class ApiCall:
    method: str
    params: Mapping[str, Any]
    status: int
    at: float


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent, as it stands now (edits applied)."""

    chat_id: str
    message_id: int
    raw: str  # the text or caption as sent (MarkdownV2 source)
    plain: str  # what the person sees
    keyboard: list[list[dict[str, Any]]] | None
    photo: bool = False
    edits: int = 0
    deleted: bool = False  # by the person (`FakeBotApi.delete`)
    history: list[str] = field(default_factory=list)

    def buttons(self) -> list[dict[str, Any]]:
        return [button for row in self.keyboard or [] for button in row]

    def as_json(self, date: int) -> dict[str, Any]:
        chat_type = "supergroup" if self.chat_id.startswith("-") else "private"
        out: dict[str, Any] = {
            "message_id": self.message_id,
            "date": date,
            "chat": {"id": int(self.chat_id), "type": chat_type},
            "from": _bot_user(),
        }
        if self.photo:
            out["photo"] = [
                {
                    "file_id": f"p{self.message_id}",
                    "file_unique_id": f"u{self.message_id}",
                    "width": 640,
                    "height": 320,
                }
            ]
            out["caption"] = self.plain
        else:
            out["text"] = self.plain
        if self.keyboard:
            out["reply_markup"] = {"inline_keyboard": self.keyboard}
        return out


def _bot_user() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "HDTickets", "username": "hdtickets_bot"}


class FakeBotApi:
    """An aiohttp server standing in for api.telegram.org; see the module docstring."""

    def __init__(
        self, token: str = "7000001:TEST-token", *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.token = token
        self.clock = clock
        self.calls: list[ApiCall] = []
        self.unexpected: list[str] = []
        self.messages: dict[tuple[str, int], SentMessage] = {}
        self.sent: list[SentMessage] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.commands: list[dict[str, str]] = []
        self.webhook: dict[str, Any] | None = None
        self.admins: dict[str, set[int]] = {}
        self.blocked: set[str] = set()
        self.no_photos: set[str] = set()  # groups whose members (the bot too) may not send photos
        self.migrated: dict[str, int] = {}  # old group chat id -> its supergroup's id
        # The update types the bot asked for (getUpdates, setWebhook); None: not said yet.
        self.allowed_updates: list[str] | None = None
        self.dropped: list[dict[str, Any]] = []  # updates of a type the bot did not ask for
        self.http_429 = 0
        self.limits = FloodLimits(clock)
        self._script: dict[str, deque[ApiError]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self.last_update_id = 0  # the id `push` gave the latest update
        self._message_ids = itertools.count(100)
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What HDT_TELEGRAM_API_URL is set to (the token is appended by the SDK)."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def __aenter__(self) -> FakeBotApi:
        app = web.Application(client_max_size=20_000_000)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._client = aiohttp.ClientSession(trust_env=False)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- scripting ------------------------------------------------------------------------

    def fail(self, method: str, status: int, description: str, *, retry_after: int | None = None,
             times: int = 1) -> None:  # fmt: skip
        """Answer the next `times` calls of `method` with this error."""
        queue = self._script.setdefault(method, deque())
        queue.extend(ApiError(status, description, retry_after) for _ in range(times))

    def migrate(self, old: int, new: int) -> None:
        """Upgrade group `old` to supergroup `new`: calls naming `old` are refused from now
        on, as Telegram refuses them (no update is sent; see `migration_updates`)."""
        self.migrated[str(old)] = new

    def delete(self, message: SentMessage) -> None:
        """The person deletes one of the bot's messages: from now on its edits are refused as
        Telegram refuses them (400 "Bad Request: message to edit not found")."""
        del self.messages[(message.chat_id, message.message_id)]
        message.deleted = True

    def make_admin(self, chat_id: int | str, user_id: int) -> None:
        self.admins.setdefault(str(chat_id), set()).add(user_id)

    async def push(self, update: Mapping[str, Any]) -> int:
        """Give the bot an update: POSTed to its webhook when one is set, else queued."""
        body = {"update_id": next(self._update_ids), **update}
        self.last_update_id = body["update_id"]
        if self.webhook is not None and not self._allows(body):
            self.dropped.append(body)
            return 0
        if self.webhook is None:
            async with self._arrived:
                self._updates.append(body)
                self._arrived.notify_all()
            return 0
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(self.webhook["secret_token"])
        assert self._client is not None
        async with self._client.post(self.webhook["url"], data=json.dumps(body),
                                     headers=headers) as response:  # fmt: skip
            return response.status

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 5.0) -> None:
        """Wait (bounded) until `predicate()` holds after some call arrived."""
        async with asyncio.timeout(within_s), self._arrived:
            await self._arrived.wait_for(predicate)

    def calls_of(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def chat(self, chat_id: int | str) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == str(chat_id)]

    # --- update builders ------------------------------------------------------------------

    @staticmethod
    def user(user_id: int, first_name: str = "Ada", username: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            out["username"] = username
        return out

    def text_update(self, *, user: int, text: str, chat: int | None = None, name: str = "Ada",
                    title: str = "Fans", chat_type: str = "supergroup",
                    date: int | None = None) -> dict[str, Any]:  # fmt: skip
        """A message from `user` in a private chat, or in group `chat` (a negative id), sent
        now or at `date` (Unix time; one no datetime can hold makes an update the SDK
        cannot read, as a probe's can be)."""
        chat_id = chat if chat is not None else user
        chat_json: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": name}
        if chat_id < 0:
            chat_json = {"id": chat_id, "type": chat_type, "title": title}
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()) if date is None else date,
            "chat": chat_json,
            "from": self.user(user, name),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"message": message}

    def media_update(self, *, user: int, kind: str, caption: str | None = None,
                     chat: int | None = None) -> dict[str, Any]:  # fmt: skip
        """A message without text: a `MEDIA` kind ("sticker", "photo"...), maybe captioned."""
        update = self.text_update(user=user, text="", chat=chat)
        message = update["message"]
        del message["text"]
        message.update(MEDIA[kind])
        if caption is not None:
            message["caption"] = caption
            if caption.startswith("/"):
                length = len(caption.split()[0])
                message["caption_entities"] = [
                    {"type": "bot_command", "offset": 0, "length": length}
                ]
        return update

    def anonymous_update(self, *, chat: int, text: str, title: str = "Fans") -> dict[str, Any]:
        """A group message from an anonymous admin: GroupAnonymousBot, on behalf of the group."""
        update = self.text_update(user=GROUP_ANONYMOUS_BOT, text=text, chat=chat, title=title)
        message = update["message"]
        message["from"] = {"id": GROUP_ANONYMOUS_BOT, "is_bot": True, "first_name": "Group",
                           "username": "GroupAnonymousBot"}  # fmt: skip
        message["sender_chat"] = dict(message["chat"])
        return update

    def migration_updates(self, *, old: int, new: int, user: int,
                          title: str = "Fans") -> list[dict[str, Any]]:  # fmt: skip
        """The two service messages of group `old` upgraded to supergroup `new` by `user`:
        `migrate_to_chat_id` in the old group, then `migrate_from_chat_id` in the new one."""
        last = self.text_update(user=user, text="", chat=old, title=title, chat_type="group")
        first = self.text_update(user=user, text="", chat=new, title=title)
        del last["message"]["text"], first["message"]["text"]
        last["message"]["migrate_to_chat_id"] = new
        first["message"]["migrate_from_chat_id"] = old
        return [last, first]

    def member_update(self, *, chat: int, status: str, by: int, title: str = "Fans",
                      was: str = "member") -> dict[str, Any]:  # fmt: skip
        """A my_chat_member update: the bot's own status in group `chat` changed from `was`
        to `status` ("left", "kicked", "member"...) by `by` (who removed or added it)."""
        return {
            "my_chat_member": {
                "chat": {"id": chat, "type": "supergroup", "title": title},
                "from": self.user(by),
                "date": int(time.time()),
                "old_chat_member": _bot_member(was),
                "new_chat_member": _bot_member(status),
            }
        }

    def press(self, *, user: int, message: SentMessage, data: str,
              name: str = "Ada") -> dict[str, Any]:  # fmt: skip
        """A callback_query update: `user` pressed the button with `data` under `message`."""
        return {
            "callback_query": {
                "id": f"cq{next(self._message_ids)}",
                "from": self.user(user, name),
                "chat_instance": f"ci{message.chat_id}",
                "message": message.as_json(int(time.time())),
                "data": data,
            }
        }

    # --- the API --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith(prefix):
            if request.path.startswith("/bot"):
                return _error(401, "Unauthorized")
            self.unexpected.append(f"{request.method} {request.path}")
            return _error(404, "Not Found")
        method = request.path[len(prefix) :]
        if method not in KNOWN:
            self.unexpected.append(method)
            return _error(404, "Not Found")
        params = await _params(request)
        try:
            scripted = self._script.get(method)
            if scripted:
                raise scripted.popleft()
            moved_to = self.migrated.get(str(params.get("chat_id")))
            if moved_to is not None:
                raise ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                               parameters={"migrate_to_chat_id": moved_to})  # fmt: skip
            result = await getattr(self, "_" + _snake(method))(params)
            status = 200
            response = web.json_response({"ok": True, "result": result})
        except ApiError as exc:
            status = exc.status
            if status == 429:
                self.http_429 += 1
            response = _error(exc.status, exc.description, exc.parameters)
        async with self._arrived:
            self.calls.append(ApiCall(method, params, status, self.clock()))
            self._arrived.notify_all()
        return response

    async def _get_me(self, params: Mapping[str, Any]) -> Any:
        return {**_bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}  # fmt: skip

    async def _get_updates(self, params: Mapping[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")  # fmt: skip
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        self._allow(params)
        async with self._arrived:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if not self._updates and timeout > 0:
                try:
                    async with asyncio.timeout(timeout):
                        await self._arrived.wait_for(lambda: bool(self._updates))
                except TimeoutError:
                    pass
            self.dropped += [u for u in self._updates if not self._allows(u)]
            self._updates = [u for u in self._updates if self._allows(u)]
            limit = int(params.get("limit") or 100)
            return list(self._updates[:limit])

    async def _set_webhook(self, params: Mapping[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if not url.startswith(("https://", "http://127.0.0.1")):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(
                400, "Bad Request: bad webhook: secret token contains unallowed characters"
            )
        self.webhook = {"url": url, "secret_token": secret}
        self._allow(params)
        return True

    def _allow(self, params: Mapping[str, Any]) -> None:
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"] or [])

    def _allows(self, update: Mapping[str, Any]) -> bool:
        """Whether Telegram would deliver `update` (an empty list: all but the opt-in types)."""
        kind = next(k for k in update if k != "update_id")
        if not self.allowed_updates:
            return kind not in ("chat_member", "message_reaction", "message_reaction_count")
        return kind in self.allowed_updates

    async def _delete_webhook(self, params: Mapping[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _set_my_commands(self, params: Mapping[str, Any]) -> Any:
        commands = params.get("commands") or []
        for command in commands:
            if not _COMMAND_NAME.match(command.get("command", "")):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = list(commands)
        return True

    async def _answer_callback_query(self, params: Mapping[str, Any]) -> Any:
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.callback_answers.append(dict(params))
        return True

    async def _get_chat_member(self, params: Mapping[str, Any]) -> Any:
        chat, user = str(params["chat_id"]), int(params["user_id"])
        if user in self.admins.get(chat, set()):
            return _admin(user)
        return {"status": "member", "user": self.user(user)}

    async def _get_chat_administrators(self, params: Mapping[str, Any]) -> Any:
        return [_admin(user) for user in sorted(self.admins.get(str(params["chat_id"]), set()))]

    async def _send_message(self, params: Mapping[str, Any]) -> Any:
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        return self._new_message(params, text, 4096, photo=False)

    async def _send_photo(self, params: Mapping[str, Any]) -> Any:
        if not params.get("photo"):
            raise ApiError(400, "Bad Request: there is no photo in the request")
        if str(params["chat_id"]) in self.no_photos:
            raise ApiError(400, "Bad Request: not enough rights to send photos to the chat")
        return self._new_message(params, str(params.get("caption") or ""), 1024, photo=True)

    def _new_message(self, params: Mapping[str, Any], text: str, limit: int, *, photo: bool) -> Any:
        chat = str(params["chat_id"])
        plain, keyboard = self._check(params, text, limit, "caption" if photo else "text")
        self._flood(chat)
        message = SentMessage(chat, next(self._message_ids), text, plain, keyboard, photo)
        self.messages[(chat, message.message_id)] = message
        self.sent.append(message)
        return message.as_json(int(time.time()))

    async def _edit_message_text(self, params: Mapping[str, Any]) -> Any:
        return self._edit(params, str(params.get("text") or ""), 4096, field="text")

    async def _edit_message_caption(self, params: Mapping[str, Any]) -> Any:
        return self._edit(params, str(params.get("caption") or ""), 1024, field="caption")

    async def _edit_message_reply_markup(self, params: Mapping[str, Any]) -> Any:
        return self._edit(params, None, 0, field="markup")

    def _edit(self, params: Mapping[str, Any], text: str | None, limit: int, *, field: str) -> Any:
        chat = str(params["chat_id"])
        message = self.messages.get((chat, int(params["message_id"])))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if field == "text" and message.photo:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if field == "caption" and not message.photo:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        raw = message.raw if text is None else text
        plain, keyboard = self._check(params, raw, limit or 4096, field)
        if text is None:
            plain = message.plain
        if raw == message.raw and keyboard == message.keyboard:
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                                "content and reply markup are exactly the same as a current "
                                "content and reply markup of the message")  # fmt: skip
        self._flood(chat)
        message.history.append(message.plain)
        message.raw, message.plain, message.keyboard = raw, plain, keyboard
        message.edits += 1
        return message.as_json(int(time.time()))

    def _check(self, params: Mapping[str, Any], text: str, limit: int,
               field: str) -> tuple[str, list[list[dict[str, Any]]] | None]:  # fmt: skip
        chat = str(params["chat_id"])
        if chat in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        plain = text
        if params.get("parse_mode") == "MarkdownV2":
            try:
                plain = parse(text)
            except EntityError as exc:
                raise ApiError(400, str(exc)) from None
        if len(plain.encode("utf-16-le")) // 2 > limit:  # UTF-16 units, as Telegram counts
            what = "message caption" if field == "caption" else "message"
            raise ApiError(400, f"Bad Request: {what} is too long")
        markup = params.get("reply_markup")
        keyboard = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        for button in [b for row in keyboard or [] for b in row]:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if data is None and not str(button.get("url", "")).startswith(("https://", "http://")):
                raise ApiError(400, "Bad Request: inline keyboard button URL is invalid")
        return plain, keyboard or None

    def _flood(self, chat: str) -> None:
        wait = self.limits.check(chat)
        if wait is not None:
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)


def _bot_member(status: str) -> dict[str, Any]:
    """The bot as a ChatMember of `status`, with the fields that status carries."""
    if status == "administrator":
        return {**_admin(BOT_ID), "user": _bot_user()}
    member: dict[str, Any] = {"user": _bot_user(), "status": status}
    if status == "kicked":
        member["until_date"] = 0  # for ever
    return member


def _admin(user: int) -> dict[str, Any]:
    rights = (
        "can_manage_chat",
        "can_delete_messages",
        "can_manage_video_chats",
        "can_restrict_members",
        "can_promote_members",
        "can_change_info",
        "can_invite_users",
        "can_post_stories",
        "can_edit_stories",
        "can_delete_stories",
    )
    return {
        "status": "administrator",
        "user": FakeBotApi.user(user),
        "can_be_edited": False,
        "is_anonymous": False,
        **dict.fromkeys(rights, True),
    }


def _error(status: int, description: str,
           parameters: Mapping[str, Any] | None = None) -> web.Response:  # fmt: skip
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = dict(parameters)
    return web.json_response(body, status=status)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


async def _params(request: web.Request) -> dict[str, Any]:
    """Form or multipart fields; values that are JSON (objects, arrays) decoded."""
    out: dict[str, Any] = {}
    if request.content_type == "application/json":
        return dict(await request.json())
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            out[key] = value.file.read()
            continue
        text = str(value)
        if text[:1] in "[{":
            try:
                out[key] = json.loads(text)
                continue
            except ValueError:
                pass
        out[key] = text
    return out
