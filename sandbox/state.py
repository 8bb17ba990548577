"""The sandbox's in-memory world: the bot, users, chats, messages, files, updates, webhook.

This is a test double of Telegram's servers, so everything lives in memory and is lost on
restart. Methods raise `ApiError` with Telegram's status codes and wording; the HTTP layers
(`botapi`, `control`) only parse input and format output.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import mimetypes
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox import formatting, media
from sandbox.ratelimit import Limits, RateLimiter

Json = dict[str, Any]

NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message")
QUERY_TOO_OLD = ("Bad Request: query is too old and response timeout expired or query ID is "
                 "invalid")
WEBHOOK_CONFLICT = ("Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first")
POLL_CONFLICT = ("Conflict: terminated by other getUpdates request; make sure that only one bot "
                 "instance is running")
# Update types Telegram leaves out unless asked for by name in allowed_updates.
OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
# Methods that send a new message and count against the rate limits.
SENDING_METHODS = {"sendmessage", "sendphoto", "senddocument", "sendlocation", "sendmediagroup",
                   "sendvenue", "sendcontact"}


class ApiError(Exception):
    """A Bot API error: HTTP status = error_code, Telegram's description."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> Json:
        body: Json = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


class Signal:
    """Wakes every waiter on each change; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait_for(self, predicate: Callable[[], bool], within: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if self._event is None:
                self._event = asyncio.Event()
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass
        return True


@dataclass
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    role: str | None = None  # a label for the chat page (coordinator, citizen…); Telegram has none
    blocked: bool = False
    started: bool = True  # has pressed Start; a bot cannot write first to one who has not
    note: str | None = None  # the chat page's longer label (e.g. the role and unit they are bound to)
    home: Json | None = None  # {latitude, longitude}: where the page puts its location pin for them

    def to_tg(self) -> Json:
        user: Json = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if (value := getattr(self, key)) is not None:
                user[key] = value
        return user

    def to_json(self) -> Json:
        return {**self.to_tg(), "role": self.role, "blocked": self.blocked,
                "started": self.started, "note": self.note, "home": self.home}


@dataclass
class Chat:
    id: int
    type: str  # private | group | supergroup
    title: str | None = None
    user: User | None = None  # the other side of a private chat
    members: list[int] = field(default_factory=list)
    messages: dict[int, Json] = field(default_factory=dict)
    meta: dict[int, Json] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: Json | None = None
    seq: int = 0  # sandbox-wide change counter at this chat's last change
    instance: str = field(default_factory=lambda: str(secrets.randbelow(10**18)))

    def to_tg(self) -> Json:
        if self.user is not None:
            chat = {"id": self.id, "type": "private", **{
                k: v for k, v in self.user.to_tg().items()
                if k in ("first_name", "last_name", "username")}}
            return chat
        return {"id": self.id, "type": self.type, "title": self.title}

    @property
    def is_group(self) -> bool:
        return self.type != "private"


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    kind: str  # photo | document | voice
    mime_type: str | None = None
    file_name: str | None = None

    def to_tg(self) -> Json:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                "file_size": len(self.data), "file_path": self.file_path}


@dataclass
class CallbackQuery:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answer: Json | None = None


@dataclass
class Webhook:
    url: str
    secret_token: str | None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class Fault:
    """Injected trouble for the next `remaining` Bot API calls (of `methods`, or any)."""

    kind: str  # error | hang | 429
    remaining: int
    seconds: float = 0.0
    retry_after: int = 1
    status: int = 500
    methods: frozenset[str] | None = None

    def to_json(self) -> Json:
        return {"kind": self.kind, "remaining": self.remaining, "seconds": self.seconds,
                "retry_after": self.retry_after, "status": self.status,
                "methods": sorted(self.methods) if self.methods else None}


@dataclass
class Stats:
    sent_per_chat: Counter[int] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0  # 429s the rate limiter served
    rate_limited_per_chat: Counter[int] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    updates_created: int = 0
    webhook_delivered: int = 0
    webhook_failed: int = 0

    def to_json(self) -> Json:
        return {
            "sent_total": sum(self.sent_per_chat.values()),
            "sent_per_chat": {str(k): v for k, v in self.sent_per_chat.items()},
            "calls": dict(self.calls),
            "rate_limited_429": self.rate_limited,
            "rate_limited_per_chat": {str(k): v for k, v in self.rate_limited_per_chat.items()},
            "injected": dict(self.injected),
            "total_429": self.rate_limited + self.injected["429"],
            "updates_created": self.updates_created,
            "webhook_delivered": self.webhook_delivered,
            "webhook_failed": self.webhook_failed,
        }


_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class Sandbox:
    """All state of one sandboxed bot and its users."""

    def __init__(self, *, token: str, bot_username: str, bot_first_name: str = "GridLink",
                 rate_limits: bool = False, now: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.token = token
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 1
        self.bot: Json = {"id": self.bot_id, "is_bot": True, "first_name": bot_first_name,
                          "username": bot_username}
        self.now = now
        self.monotonic = monotonic
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.photo_sets: dict[str, list[Json]] = {}
        self.updates: list[Json] = []
        self.next_update_id = 100_000_001
        self.allowed_updates: list[str] | None = None
        self.callbacks: dict[str, CallbackQuery] = {}
        self.webhook: Webhook | None = None
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self.rate_limits = rate_limits
        self.limiter = RateLimiter()
        self.faults: list[Fault] = []
        self.stats = Stats()
        self.changed = Signal()
        self.seq = 0
        self._user_ids = itertools.count(1_000_001)
        self._group_ids = itertools.count(1_000_001)
        self._file_numbers = itertools.count(1)
        self.polls_started = 0  # getUpdates calls so far; the latest one wins a conflict
        self.late_tasks: set[asyncio.Task[Any]] = set()  # calls finishing after a "hang" fault
        # west, south, east, north of the chat page's location picker (the demo district and
        # a margin around it, so points outside the district can be tried too)
        self.map_box: tuple[float, float, float, float] = (121.38, 31.14, 121.53, 31.27)

    # --- bookkeeping --------------------------------------------------------------------------

    def _touch(self, chat: Chat | None = None) -> None:
        self.seq += 1
        if chat is not None:
            chat.seq = self.seq
        self.changed.notify()

    def _date(self) -> int:
        return int(self.now())

    def _push_update(self, kind: str, payload: Json) -> Json | None:
        allowed = self.allowed_updates
        if (allowed and kind not in allowed) or (not allowed and kind in OPT_IN_UPDATES):
            return None
        update = {"update_id": self.next_update_id, kind: payload}
        self.next_update_id += 1
        self.updates.append(update)
        self.stats.updates_created += 1
        self._touch()
        return update

    # --- users and chats ----------------------------------------------------------------------

    def create_user(self, *, first_name: str, id: int | None = None, last_name: str | None = None,
                    username: str | None = None, language_code: str | None = None,
                    role: str | None = None, started: bool = True, note: str | None = None,
                    home: Json | None = None) -> User:
        user_id = id if id is not None else next(self._user_ids)
        while id is None and user_id in self.users:
            user_id = next(self._user_ids)
        if user_id <= 0:
            raise bad_request("user id must be positive")
        if user_id in self.users:
            raise ApiError(409, f"Conflict: user {user_id} exists")
        if not first_name.strip():
            raise bad_request("first_name is empty")
        if home is not None and not (
                isinstance(home, dict) and all(isinstance(home.get(k), int | float) for k in ("latitude", "longitude"))
                and -90 <= home["latitude"] <= 90 and -180 <= home["longitude"] <= 180):
            raise bad_request("home must be {latitude, longitude}")
        user = User(user_id, first_name, last_name, username, language_code, role,
                    started=started, note=note,
                    home={"latitude": float(home["latitude"]), "longitude": float(home["longitude"])}
                    if home else None)
        self.users[user_id] = user
        self.chats[user_id] = Chat(id=user_id, type="private", user=user)
        self._touch()
        return user

    def create_group(self, *, title: str, members: list[int], id: int | None = None,
                     type: str = "group") -> Chat:
        if type not in ("group", "supergroup"):
            raise bad_request("type must be group or supergroup")
        if id is None:
            number = next(self._group_ids)
            id = -(1_000_000_000_000 + number) if type == "supergroup" else -number
        if id >= 0:
            raise bad_request("group chat ids are negative")
        if id in self.chats:
            raise ApiError(409, f"Conflict: chat {id} exists")
        for member in members:
            self.user(member)
        chat = Chat(id=id, type=type, title=title, members=list(members))
        self.chats[id] = chat
        self._touch(chat)
        return chat

    def user(self, user_id: int) -> User:
        user = self.users.get(user_id)
        if user is None:
            raise ApiError(404, f"Not Found: user {user_id}")
        return user

    def chat(self, chat_id: int | str) -> Chat:
        if isinstance(chat_id, str):
            name = chat_id.removeprefix("@").lower()
            for user in self.users.values():
                if user.username and user.username.lower() == name:
                    return self.chats[user.id]
            raise bad_request("chat not found")
        chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def set_blocked(self, user_id: int, blocked: bool) -> User:
        user = self.user(user_id)
        if user.blocked != blocked:
            user.blocked = blocked
            chat = self.chats[user_id]
            old, new = ("member", "kicked") if blocked else ("kicked", "member")
            member: Json = {"user": self.bot, "status": new}
            if blocked:
                member["until_date"] = 0
            self._push_update("my_chat_member", {
                "chat": chat.to_tg(), "from": user.to_tg(), "date": self._date(),
                "old_chat_member": {"user": self.bot, "status": old}, "new_chat_member": member,
            })
        return user

    # --- messages -----------------------------------------------------------------------------

    def message(self, chat: Chat, message_id: int, missing: str) -> Json:
        msg = chat.messages.get(message_id)
        if msg is None or chat.meta[message_id]["deleted"]:
            raise bad_request(missing)
        return msg

    def _add_message(self, chat: Chat, *, sender: Json, outgoing: bool, content: Json,
                     reply_to: Json | None = None) -> Json:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        msg: Json = {"message_id": message_id, "from": sender, "chat": chat.to_tg(),
                     "date": self._date()}
        if reply_to is not None:
            msg["reply_to_message"] = {k: v for k, v in reply_to.items()
                                       if k != "reply_to_message"}
        msg.update(content)
        chat.messages[message_id] = msg
        chat.meta[message_id] = {"outgoing": outgoing, "deleted": False, "edits": 0}
        self._touch(chat)
        return msg

    def _reply_target(self, chat: Chat, reply: Json | None) -> Json | None:
        if not reply:
            return None
        if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
            raise bad_request("invalid reply parameters")
        target_chat = self.chat(reply["chat_id"]) if reply.get("chat_id") else chat
        target = target_chat.messages.get(reply["message_id"])
        if target is None or target_chat.meta[reply["message_id"]]["deleted"]:
            if reply.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return target

    # --- the bot's side -----------------------------------------------------------------------

    def check_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and (fault.methods is None or method in fault.methods):
                fault.remaining -= 1
                self.stats.injected[fault.kind] += 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def sendable(self, chat_id: int | str, method: str) -> Chat:
        chat = self.chat(chat_id)
        if chat.user is not None and chat.user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat.user is not None and not chat.user.started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        if self.rate_limits and method in SENDING_METHODS:
            retry_after = self.limiter.acquire(chat.id, group=chat.is_group, now=self.monotonic())
            if retry_after is not None:
                self.stats.rate_limited += 1
                self.stats.rate_limited_per_chat[chat.id] += 1
                raise ApiError(429, f"Too Many Requests: retry after {retry_after}",
                               retry_after=retry_after)
        return chat

    def validate_markup(self, markup: Any, *, inline_only: bool = False) -> Json | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup should "
                                  "be an Array of Arrays")
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                        raise bad_request("can't find field \"text\"")
                    actions = set(button) - {"text"}
                    if not actions:
                        raise bad_request("text buttons are unallowed in the inline keyboard")
                    data = button.get("callback_data")
                    if data is not None and not (
                            isinstance(data, str) and 1 <= len(data.encode()) <= 64):
                        raise bad_request("BUTTON_DATA_INVALID")
            return {"inline_keyboard": rows}
        if inline_only:
            raise bad_request("inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("field \"keyboard\" of the ReplyKeyboardMarkup should be an "
                                  "Array of Arrays")
            normal = [[{"text": b} if isinstance(b, str) else b for b in row] for row in rows]
            if any(not isinstance(b, dict) or not isinstance(b.get("text"), str)
                   for row in normal for b in row):
                raise bad_request("can't find field \"text\"")
            return {**markup, "keyboard": normal}
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return markup
        raise bad_request("can't parse reply keyboard markup JSON object")

    def bot_send(self, method: str, chat_id: int | str, content: Json, *,
                 reply_markup: Any = None, reply_parameters: Json | None = None) -> Json:
        markup = self.validate_markup(reply_markup)
        chat = self.sendable(chat_id, method)
        return self.bot_message(chat, content, markup=markup, reply_parameters=reply_parameters)

    def bot_message(self, chat: Chat, content: Json, *, markup: Json | None,
                     reply_parameters: Json | None) -> Json:
        reply_to = self._reply_target(chat, reply_parameters)
        if markup and "inline_keyboard" in markup:
            content = {**content, "reply_markup": markup}
        msg = self._add_message(chat, sender=self.bot, outgoing=True, content=content,
                                reply_to=reply_to)
        if markup:
            if "keyboard" in markup:
                chat.reply_keyboard = markup
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
            elif markup.get("force_reply"):
                chat.meta[msg["message_id"]]["force_reply"] = True
        self.stats.sent_per_chat[chat.id] += 1
        return msg

    def text_content(self, text: str | None, parse_mode: str | None,
                     entities: Any = None) -> Json:
        if not text or not text.strip():
            raise bad_request("message text is empty")
        plain, parsed = self._format(text, parse_mode, entities)
        if formatting.utf16_len(plain) > 4096:
            raise bad_request("message is too long")
        content: Json = {"text": plain}
        if parsed:
            content["entities"] = parsed
        return content

    def caption_content(self, caption: str | None, parse_mode: str | None,
                        entities: Any = None) -> Json:
        if not caption:
            return {}
        plain, parsed = self._format(caption, parse_mode, entities)
        if formatting.utf16_len(plain) > 1024:
            raise bad_request("message caption is too long")
        content: Json = {"caption": plain}
        if parsed:
            content["caption_entities"] = parsed
        return content

    @staticmethod
    def _format(text: str, parse_mode: str | None, entities: Any) -> tuple[str, list[Json]]:
        if entities:
            if not isinstance(entities, list):
                raise bad_request("can't parse entities JSON object")
            return text, entities
        try:
            return formatting.parse(text, parse_mode)
        except formatting.ParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None

    # --- files --------------------------------------------------------------------------------

    def _store(self, data: bytes, *, kind: str, ext: str, mime_type: str | None = None,
               file_name: str | None = None) -> StoredFile:
        number = next(self._file_numbers)
        prefix = {"photo": "AgAC", "voice": "AwAC"}.get(kind, "BQAC")
        stored = StoredFile(
            file_id=prefix + secrets.token_urlsafe(24), file_unique_id="AQAD" + secrets.token_urlsafe(8),
            data=data, file_path=f"{kind}s/file_{number}.{ext}", kind=kind, mime_type=mime_type,
            file_name=file_name)
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    async def store_photo(self, data: bytes) -> list[Json]:
        """PhotoSize list (smallest first) of a compressed photo; raises ApiError if not an image."""
        try:
            variants = await asyncio.to_thread(media.photo_variants, data)
        except media.ImageError:
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        sizes: list[Json] = []
        for variant in variants:
            stored = self._store(variant.data, kind="photo", ext="jpg", mime_type="image/jpeg")
            sizes.append({"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                          "file_size": len(variant.data), "width": variant.width,
                          "height": variant.height})
        for size in sizes:
            self.photo_sets[size["file_id"]] = sizes
        return sizes

    def store_document(self, data: bytes, *, file_name: str | None,
                       mime_type: str | None) -> Json:
        if not data:
            raise bad_request("file must be non-empty")
        if not mime_type or mime_type == "application/octet-stream":
            mime_type = (mimetypes.guess_type(file_name)[0] if file_name else None) or mime_type
        ext = (file_name.rsplit(".", 1)[-1].lower() if file_name and "." in file_name else "bin")
        stored = self._store(data, kind="document", ext=ext, mime_type=mime_type,
                             file_name=file_name)
        document: Json = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                          "file_size": len(data)}
        if file_name:
            document["file_name"] = file_name
        if mime_type:
            document["mime_type"] = mime_type
        return document

    def store_voice(self, data: bytes, *, duration: int, mime_type: str | None) -> Json:
        if duration < 1:
            raise bad_request("duration must be positive")
        stored = self._store(data, kind="voice", ext="oga", mime_type=mime_type or "audio/ogg")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "duration": duration, "mime_type": stored.mime_type, "file_size": len(data)}

    def photo_by_id(self, file_id: str) -> list[Json]:
        sizes = self.photo_sets.get(file_id)
        if sizes is None:
            if file_id in self.files:
                raise bad_request("can't use file of type Document as Photo")
            raise bad_request("wrong file identifier/HTTP URL specified")
        return sizes

    def document_by_id(self, file_id: str) -> Json:
        stored = self.files.get(file_id)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != "document":
            raise bad_request(f"can't use file of type {stored.kind.title()} as Document")
        document: Json = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                          "file_size": len(stored.data)}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return document

    def get_file(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        return stored

    def file_by_path(self, file_path: str) -> StoredFile | None:
        return self.files_by_path.get(file_path)

    # --- edits, deletes, callbacks ------------------------------------------------------------

    def _own_message(self, chat_id: int | str, message_id: int, missing: str) -> tuple[Chat, Json]:
        chat = self.chat(chat_id)
        msg = self.message(chat, message_id, missing)
        if not chat.meta[message_id]["outgoing"]:
            raise bad_request("message can't be edited")
        return chat, msg

    def _edited(self, chat: Chat, msg: Json) -> Json:
        msg["edit_date"] = self._date()
        chat.meta[msg["message_id"]]["edits"] += 1
        self._touch(chat)
        return msg

    def edit_text(self, chat_id: int | str, message_id: int, content: Json,
                  reply_markup: Any) -> Json:
        markup = self.validate_markup(reply_markup, inline_only=True)
        chat, msg = self._own_message(chat_id, message_id, "message to edit not found")
        if "text" not in msg:
            raise bad_request("there is no text in the message to edit")
        if (msg["text"] == content["text"] and msg.get("entities") == content.get("entities")
                and msg.get("reply_markup") == markup):
            raise bad_request(NOT_MODIFIED)
        msg["text"] = content["text"]
        msg.pop("entities", None)
        if "entities" in content:
            msg["entities"] = content["entities"]
        self._set_markup(msg, markup)
        return self._edited(chat, msg)

    def edit_caption(self, chat_id: int | str, message_id: int, content: Json,
                     reply_markup: Any) -> Json:
        markup = self.validate_markup(reply_markup, inline_only=True)
        chat, msg = self._own_message(chat_id, message_id, "message to edit not found")
        if not any(k in msg for k in ("photo", "document")):
            raise bad_request("there is no caption in the message to edit")
        if (msg.get("caption") == content.get("caption")
                and msg.get("caption_entities") == content.get("caption_entities")
                and msg.get("reply_markup") == markup):
            raise bad_request(NOT_MODIFIED)
        for key in ("caption", "caption_entities"):
            msg.pop(key, None)
        msg.update(content)
        self._set_markup(msg, markup)
        return self._edited(chat, msg)

    def edit_markup(self, chat_id: int | str, message_id: int, reply_markup: Any) -> Json:
        markup = self.validate_markup(reply_markup, inline_only=True)
        chat, msg = self._own_message(chat_id, message_id, "message to edit not found")
        if msg.get("reply_markup") == markup:
            raise bad_request(NOT_MODIFIED)
        self._set_markup(msg, markup)
        return self._edited(chat, msg)

    @staticmethod
    def _set_markup(msg: Json, markup: Json | None) -> None:
        if markup and markup["inline_keyboard"]:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)

    def delete_message(self, chat_id: int | str, message_id: int) -> None:
        chat = self.chat(chat_id)
        self.message(chat, message_id, "message to delete not found")
        if chat.is_group and not chat.meta[message_id]["outgoing"]:
            raise bad_request("message can't be deleted")
        chat.meta[message_id]["deleted"] = True
        self._touch(chat)

    def answer_callback(self, callback_query_id: str, answer: Json) -> None:
        query = self.callbacks.get(callback_query_id)
        if query is None or query.answer is not None:
            raise bad_request(QUERY_TOO_OLD)
        query.answer = answer
        self._touch()

    # --- updates and webhook ------------------------------------------------------------------

    async def get_updates(self, *, offset: int | None, limit: int, poll_seconds: float,
                          allowed_updates: list[str] | None) -> list[Json]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        if allowed_updates is not None:
            self.allowed_updates = allowed_updates or None
        if offset:
            if offset > 0:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            else:
                self.updates = self.updates[offset:]
        self.polls_started += 1
        generation = self.polls_started
        self.changed.notify()  # an older poll still waiting ends with a conflict, as in Telegram
        if poll_seconds > 0:
            await self.changed.wait_for(
                lambda: bool(self.updates) or self.polls_started != generation
                or self.webhook is not None, min(poll_seconds, 50.0))
        if self.polls_started != generation:
            raise ApiError(409, POLL_CONFLICT)
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        return self.updates[: max(1, min(limit, 100))]

    def set_webhook(self, *, url: str, secret_token: str | None, drop_pending_updates: bool,
                    allowed_updates: list[str] | None, max_connections: int | None) -> None:
        if drop_pending_updates:
            self.updates.clear()
        if allowed_updates is not None:
            self.allowed_updates = allowed_updates or None
        if not url:
            self.webhook = None
            self._touch()
            return
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if secret_token is not None and not _SECRET_TOKEN.match(secret_token):
            raise bad_request("secret token contains unallowed characters")
        self.webhook = Webhook(url=url, secret_token=secret_token,
                               max_connections=max_connections or 40)
        self._touch()

    def webhook_info(self) -> Json:
        info: Json = {"url": self.webhook.url if self.webhook else "",
                      "has_custom_certificate": False,
                      "pending_update_count": len(self.updates)}
        if self.webhook:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.last_error_date:
                info["last_error_date"] = self.webhook.last_error_date
                info["last_error_message"] = self.webhook.last_error_message
        if self.allowed_updates:
            info["allowed_updates"] = self.allowed_updates
        return info

    def webhook_delivered(self, update_id: int) -> None:
        self.updates = [u for u in self.updates if u["update_id"] != update_id]
        self.stats.webhook_delivered += 1
        self._touch()

    def webhook_failed(self, message: str) -> None:
        self.stats.webhook_failed += 1
        if self.webhook is not None:
            self.webhook.last_error_date = self._date()
            self.webhook.last_error_message = message

    # --- commands -----------------------------------------------------------------------------

    @staticmethod
    def _commands_key(scope: Any, language_code: str | None) -> tuple[str, str]:
        scope = scope or {"type": "default"}
        return json.dumps(scope, sort_keys=True), language_code or ""

    def set_commands(self, commands: Any, scope: Any, language_code: str | None) -> None:
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME.match(
                    str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(scope, language_code)] = commands
        self._touch()

    def get_commands(self, scope: Any, language_code: str | None) -> list[Json]:
        return self.commands.get(self._commands_key(scope, language_code), [])

    def delete_commands(self, scope: Any, language_code: str | None) -> None:
        self.commands.pop(self._commands_key(scope, language_code), None)
        self._touch()

    # --- the users' side (control API) ---------------------------------------------------------

    def _user_chat(self, user_id: int, chat_id: int | None) -> tuple[User, Chat]:
        user = self.user(user_id)
        if user.blocked:
            raise ApiError(409, "Conflict: the user has blocked the bot; unblock first")
        chat = self.chat(chat_id if chat_id is not None else user_id)
        if chat.user is not None and chat.user.id != user_id:
            raise ApiError(403, "Forbidden: not this user's chat")
        if chat.is_group and user_id not in chat.members:
            raise ApiError(403, "Forbidden: the user is not a member of the group")
        return user, chat

    def user_send(self, user_id: int, content: Json, *, chat_id: int | None = None,
                  reply_to_message_id: int | None = None) -> tuple[Json, Json | None]:
        """A user's message in their private chat (or a group), and the Update the bot gets."""
        user, chat = self._user_chat(user_id, chat_id)
        reply_to = None
        if reply_to_message_id is not None:
            reply_to = self.message(chat, reply_to_message_id, "message to be replied not found")
        msg = self._add_message(chat, sender=user.to_tg(), outgoing=False, content=content,
                                reply_to=reply_to)
        if chat.user is not None:
            user.started = True  # writing to the bot opens the private chat
        if chat.reply_keyboard and chat.reply_keyboard.get("one_time_keyboard"):
            chat.reply_keyboard = None
        return msg, self._push_update("message", copy.deepcopy(msg))

    def user_text_content(self, text: str) -> Json:
        if not text.strip():
            raise bad_request("message text is empty")
        content: Json = {"text": text}
        if entities := formatting.command_entities(text):
            content["entities"] = entities
        return content

    def press(self, user_id: int, message_id: int, *, data: str | None = None,
              text: str | None = None, chat_id: int | None = None
              ) -> tuple[CallbackQuery, Json | None]:
        """The user presses an inline button (found by its callback data or its text)."""
        user, chat = self._user_chat(user_id, chat_id)
        msg = self.message(chat, message_id, "message not found")
        buttons = [b for row in msg.get("reply_markup", {}).get("inline_keyboard", [])
                   for b in row if "callback_data" in b]
        match = [b for b in buttons if (data is None or b["callback_data"] == data)
                 and (text is None or b["text"] == text)]
        if not match or (data is None and text is None):
            raise bad_request("no such callback button on the message")
        query = CallbackQuery(id=str(secrets.randbelow(10**18)), user_id=user.id,
                              chat_id=chat.id, message_id=message_id,
                              data=match[0]["callback_data"])
        self.callbacks[query.id] = query
        update = self._push_update("callback_query", {
            "id": query.id, "from": user.to_tg(), "message": copy.deepcopy(msg),
            "chat_instance": chat.instance, "data": query.data})
        return query, update

    # --- settings -----------------------------------------------------------------------------

    def configure(self, *, rate_limits: bool | None = None, limits: Json | None = None) -> None:
        if limits is not None:
            try:
                new = Limits(**{**self.limiter.limits.to_dict(), **limits})
            except TypeError as exc:
                raise bad_request(f"unknown limit: {exc}") from None
            if any(v <= 0 for v in new.to_dict().values()):
                raise bad_request("limits must be positive")
            self.limiter.reset(new)
        if rate_limits is not None:
            self.rate_limits = rate_limits
            self.limiter.reset()
