"""The Bot API endpoint `/bot<token>/<method>` and file downloads `/file/bot<token>/<path>`.

Bodies come as JSON, urlencoded forms or multipart (python-telegram-bot sends form/multipart:
string parameters raw, everything else JSON-encoded, files as parts named after the parameter
or referenced as `attach://<part>`), or as query-string parameters.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.state import ApiError, Json, Sandbox, bad_request

SANDBOX: web.AppKey[Sandbox] = web.AppKey("sandbox", Sandbox)


@dataclass(frozen=True)
class Upload:
    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    """Typed access to a method's parameters, however they were encoded."""

    def __init__(self, values: dict[str, Any], files: dict[str, Upload]) -> None:
        self.values = values
        self.files = files

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "") or name in self.files

    def string(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value in (None, ""):
            return default
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def required_int(self, name: str) -> int:
        value = self.integer(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        return value

    def number(self, name: str) -> float | None:
        value = self.values.get(name)
        if value in (None, ""):
            return None
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))

    def obj(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def chat_id(self) -> int | str:
        value = self.values.get("chat_id")
        if value in (None, ""):
            raise bad_request("chat_id is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            if value.lstrip("-").isdigit():
                return int(value)
            if value.startswith("@"):
                return value
        raise bad_request("chat not found")

    def reply_parameters(self) -> Json | None:
        reply = self.obj("reply_parameters")
        if reply is None and (message_id := self.integer("reply_to_message_id")) is not None:
            reply = {"message_id": message_id,
                     "allow_sending_without_reply": self.flag("allow_sending_without_reply")}
        return reply  # type: ignore[no-any-return]

    def upload(self, value: str | None, name: str) -> Upload | None:
        """The uploaded file a parameter refers to (its own part, or attach://<part>)."""
        if value and value.startswith("attach://"):
            upload = self.files.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f"file of {name} not found in the request")
            return upload
        if not value:
            return self.files.get(name)
        return None


async def read_params(request: web.Request) -> Params:
    values: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    if request.content_type == "application/json" and request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        values.update(body)
    elif request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                continue
            if part.filename is not None:
                files[part.name] = Upload(part.filename, part.headers.get("Content-Type"),
                                          bytes(await part.read()))
            else:
                values[part.name] = await part.text()
    elif request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = Upload(value.filename, value.content_type, value.file.read())
            else:
                values[key] = value
    return Params(values, files)


Method = Callable[[Sandbox, Params], Awaitable[Any]]
METHODS: dict[str, Method] = {}


def method(name: str) -> Callable[[Method], Method]:
    def register(func: Method) -> Method:
        METHODS[name.lower()] = func
        return func
    return register


# --- bot and updates ---------------------------------------------------------------------------


@method("getMe")
async def get_me(sb: Sandbox, p: Params) -> Json:
    return {**sb.bot, "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False, "can_connect_to_business": False,
            "has_main_web_app": False}


@method("getUpdates")
async def get_updates(sb: Sandbox, p: Params) -> list[Json]:
    allowed = p.obj("allowed_updates")
    if allowed is not None and not isinstance(allowed, list):
        raise bad_request("can't parse allowed_updates JSON object")
    return await sb.get_updates(offset=p.integer("offset"), limit=p.integer("limit", 100) or 100,
                                poll_seconds=p.integer("timeout", 0) or 0, allowed_updates=allowed)


@method("setWebhook")
async def set_webhook(sb: Sandbox, p: Params) -> bool:
    allowed = p.obj("allowed_updates")
    sb.set_webhook(url=p.string("url") or "", secret_token=p.string("secret_token"),
                   drop_pending_updates=p.flag("drop_pending_updates"),
                   allowed_updates=allowed if isinstance(allowed, list) else None,
                   max_connections=p.integer("max_connections"))
    return True


@method("deleteWebhook")
async def delete_webhook(sb: Sandbox, p: Params) -> bool:
    sb.set_webhook(url="", secret_token=None, drop_pending_updates=p.flag("drop_pending_updates"),
                   allowed_updates=None, max_connections=None)
    return True


@method("getWebhookInfo")
async def get_webhook_info(sb: Sandbox, p: Params) -> Json:
    return sb.webhook_info()


# --- sending -----------------------------------------------------------------------------------


async def _send(sb: Sandbox, method_name: str, p: Params,
                content: Callable[[], Awaitable[Json]]) -> Json:
    """Common path of the send* methods: validate, build the content, check limits, store."""
    markup = sb.validate_markup(p.obj("reply_markup"))
    chat_id = p.chat_id()
    sb.chat(chat_id)
    body = await content()
    chat = sb.sendable(chat_id, method_name)
    return sb.bot_message(chat, body, markup=markup, reply_parameters=p.reply_parameters())


@method("sendMessage")
async def send_message(sb: Sandbox, p: Params) -> Json:
    async def content() -> Json:
        body = sb.text_content(p.string("text"), p.string("parse_mode"), p.obj("entities"))
        if (preview := p.obj("link_preview_options")) is not None:
            body["link_preview_options"] = preview
        return body
    return await _send(sb, "sendmessage", p, content)


async def _photo(sb: Sandbox, p: Params, value: str | None) -> list[Json]:
    upload = p.upload(value, "photo")
    if upload is not None:
        return await sb.store_photo(upload.data)
    if not value:
        raise bad_request("there is no photo in the request")
    if value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    return sb.photo_by_id(value)


def _document(sb: Sandbox, p: Params, value: str | None) -> Json:
    upload = p.upload(value, "document")
    if upload is not None:
        return sb.store_document(upload.data, file_name=upload.filename,
                                 mime_type=upload.content_type)
    if not value:
        raise bad_request("there is no document in the request")
    if value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    return sb.document_by_id(value)


def _caption(sb: Sandbox, p: Params) -> Json:
    return sb.caption_content(p.string("caption"), p.string("parse_mode"), p.obj("caption_entities"))


@method("sendPhoto")
async def send_photo(sb: Sandbox, p: Params) -> Json:
    async def content() -> Json:
        caption = _caption(sb, p)
        body: Json = {"photo": await _photo(sb, p, p.string("photo")), **caption}
        if p.flag("has_spoiler"):
            body["has_media_spoiler"] = True
        return body
    return await _send(sb, "sendphoto", p, content)


@method("sendDocument")
async def send_document(sb: Sandbox, p: Params) -> Json:
    async def content() -> Json:
        caption = _caption(sb, p)
        return {"document": _document(sb, p, p.string("document")), **caption}
    return await _send(sb, "senddocument", p, content)


def _location(p: Params) -> Json:
    latitude, longitude = p.number("latitude"), p.number("longitude")
    if latitude is None or longitude is None:
        raise bad_request("latitude and longitude are required")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise bad_request("wrong location specified")
    location: Json = {"latitude": latitude, "longitude": longitude}
    for key in ("horizontal_accuracy", "live_period", "heading", "proximity_alert_radius"):
        if (value := p.number(key)) is not None:
            location[key] = int(value) if key != "horizontal_accuracy" else value
    return location


@method("sendLocation")
async def send_location(sb: Sandbox, p: Params) -> Json:
    async def content() -> Json:
        return {"location": _location(p)}
    return await _send(sb, "sendlocation", p, content)


@method("sendVenue")
async def send_venue(sb: Sandbox, p: Params) -> Json:
    async def content() -> Json:
        location = _location(p)
        title, address = p.string("title"), p.string("address")
        if not title or not address:
            raise bad_request("title and address are required")
        return {"venue": {"location": location, "title": title, "address": address},
                "location": location}
    return await _send(sb, "sendvenue", p, content)


@method("sendMediaGroup")
async def send_media_group(sb: Sandbox, p: Params) -> list[Json]:
    items = p.obj("media")
    if not isinstance(items, list) or not 2 <= len(items) <= 10:
        raise bad_request("wrong number of media items: must be 2-10")
    chat_id = p.chat_id()
    sb.chat(chat_id)
    contents: list[Json] = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") not in ("photo", "document"):
            raise bad_request("unsupported media type (the sandbox has photo and document)")
        if item["type"] == "photo":
            body: Json = {"photo": await _photo(sb, p, item.get("media"))}
        else:
            body = {"document": _document(sb, p, item.get("media"))}
        body.update(sb.caption_content(item.get("caption"), item.get("parse_mode"),
                                       item.get("caption_entities")))
        contents.append(body)
    if len({c.keys() & {"photo", "document"} == {"document"} for c in contents}) > 1:
        raise bad_request("documents can't be mixed with other media types")
    chat = sb.sendable(chat_id, "sendmediagroup")
    group_id = str(secrets.randbelow(10**18))
    reply = p.reply_parameters()
    return [sb.bot_message(chat, {"media_group_id": group_id, **body}, markup=None,
                           reply_parameters=reply) for body in contents]


# --- editing, deleting, callbacks ---------------------------------------------------------------


def _edit_target(p: Params) -> tuple[int | str, int]:
    if p.has("inline_message_id"):
        raise bad_request("inline messages are not supported by the sandbox")
    return p.chat_id(), p.required_int("message_id")


@method("editMessageText")
async def edit_message_text(sb: Sandbox, p: Params) -> Json:
    chat_id, message_id = _edit_target(p)
    content = sb.text_content(p.string("text"), p.string("parse_mode"), p.obj("entities"))
    return sb.edit_text(chat_id, message_id, content, p.obj("reply_markup"))


@method("editMessageCaption")
async def edit_message_caption(sb: Sandbox, p: Params) -> Json:
    chat_id, message_id = _edit_target(p)
    return sb.edit_caption(chat_id, message_id, _caption(sb, p), p.obj("reply_markup"))


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(sb: Sandbox, p: Params) -> Json:
    chat_id, message_id = _edit_target(p)
    return sb.edit_markup(chat_id, message_id, p.obj("reply_markup"))


@method("deleteMessage")
async def delete_message(sb: Sandbox, p: Params) -> bool:
    sb.delete_message(p.chat_id(), p.required_int("message_id"))
    return True


@method("answerCallbackQuery")
async def answer_callback_query(sb: Sandbox, p: Params) -> bool:
    query_id = p.string("callback_query_id")
    if not query_id:
        raise bad_request("callback_query_id is empty")
    sb.answer_callback(query_id, {"text": p.string("text"), "show_alert": p.flag("show_alert"),
                                  "url": p.string("url"), "cache_time": p.integer("cache_time", 0)})
    return True


@method("sendChatAction")
async def send_chat_action(sb: Sandbox, p: Params) -> bool:
    chat = sb.chat(p.chat_id())
    if chat.user is not None and chat.user.blocked:
        raise ApiError(403, "Forbidden: bot was blocked by the user")
    return True


@method("getChat")
async def get_chat(sb: Sandbox, p: Params) -> Json:
    chat = sb.chat(p.chat_id())
    return {**chat.to_tg(), "accent_color_id": 0, "max_reaction_count": 11,
            "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                    "unique_gifts": False, "premium_subscription": False}}


# --- files and commands ------------------------------------------------------------------------


@method("getFile")
async def get_file(sb: Sandbox, p: Params) -> Json:
    file_id = p.string("file_id")
    if not file_id:
        raise bad_request("file_id is empty")
    return sb.get_file(file_id).to_tg()


@method("setMyCommands")
async def set_my_commands(sb: Sandbox, p: Params) -> bool:
    sb.set_commands(p.obj("commands"), p.obj("scope"), p.string("language_code"))
    return True


@method("getMyCommands")
async def get_my_commands(sb: Sandbox, p: Params) -> list[Json]:
    return sb.get_commands(p.obj("scope"), p.string("language_code"))


@method("deleteMyCommands")
async def delete_my_commands(sb: Sandbox, p: Params) -> bool:
    sb.delete_commands(p.obj("scope"), p.string("language_code"))
    return True


# --- HTTP --------------------------------------------------------------------------------------


def _error(code: int, description: str, **parameters: Any) -> web.Response:
    body: Json = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


async def handle_method(request: web.Request) -> web.Response:
    sb = request.app[SANDBOX]
    if request.match_info["token"] != sb.token:
        return _error(401, "Unauthorized")
    name = request.match_info["method"].lower()
    handler = METHODS.get(name)
    if handler is None:
        return _error(404, "Not Found")
    sb.stats.calls[name] += 1
    try:
        # read first: after a hang the client may be gone, and its body with it
        params = await read_params(request)
    except ApiError as exc:
        return web.json_response(exc.to_json(), status=exc.code)
    fault = sb.check_fault(name)
    if fault is not None:
        if fault.kind == "hang":
            # Then act normally, even if the client gave up meanwhile: like a slow Telegram
            # that still sends the message whose answer never arrived.
            task = asyncio.create_task(_after(fault.seconds, sb, handler, params))
            sb.late_tasks.add(task)
            task.add_done_callback(sb.late_tasks.discard)
            return await asyncio.shield(task)
        if fault.kind == "429":
            return _error(429, f"Too Many Requests: retry after {fault.retry_after}",
                          retry_after=fault.retry_after)
        return _error(fault.status, "Internal Server Error")
    return await _answer(sb, handler, params)


async def _after(seconds: float, sb: Sandbox, handler: Method, params: Params) -> web.Response:
    await asyncio.sleep(seconds)
    return await _answer(sb, handler, params)


async def _answer(sb: Sandbox, handler: Method, params: Params) -> web.Response:
    try:
        result = await handler(sb, params)
    except ApiError as exc:
        return web.json_response(exc.to_json(), status=exc.code)
    return web.json_response({"ok": True, "result": result})


async def handle_file(request: web.Request) -> web.StreamResponse:
    sb = request.app[SANDBOX]
    if request.match_info["token"] != sb.token:
        return _error(401, "Unauthorized")
    stored = sb.file_by_path(request.match_info["path"])
    if stored is None:
        return _error(404, "Not Found")
    return web.Response(body=stored.data,
                        content_type=stored.mime_type or "application/octet-stream")


def setup_routes(app: web.Application) -> None:
    app.router.add_route("*", r"/bot{token:[^/]+}/{method:[A-Za-z]+}", handle_method)
    app.router.add_get(r"/file/bot{token:[^/]+}/{path:.+}", handle_file)
