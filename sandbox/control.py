"""The control API under /sandbox/api: play the users, inspect chats, steer limits and faults.

Errors answer `{"error": {"code", "message"}}` with a 4xx status, like gridlink's own API.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

from aiohttp import web

from sandbox.botapi import SANDBOX
from sandbox.state import ApiError, Chat, Fault, Json, Sandbox, Stats, bad_request

_CODES = {400: "invalid_input", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
          408: "timeout", 409: "conflict", 429: "rate_limited"}
MAX_WAIT_S = 60.0


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as exc:
        message = exc.description.removeprefix("Bad Request: ")
        return web.json_response(
            {"error": {"code": _CODES.get(exc.code, "error"), "message": message}},
            status=exc.code)


def _sb(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise bad_request("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


def _int(source: Any, key: str, *, required: bool = False) -> int | None:
    value = source.get(key)
    if value in (None, ""):
        if required:
            raise bad_request(f"{key} is required")
        return None
    if isinstance(value, bool):
        raise bad_request(f"{key} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"{key} must be an integer") from None


def _float(source: Any, key: str) -> float:
    try:
        return float(source[key])
    except KeyError:
        raise bad_request(f"{key} is required") from None
    except (TypeError, ValueError):
        raise bad_request(f"{key} must be a number") from None


def _str(source: Any, key: str, *, required: bool = False) -> str | None:
    value = source.get(key)
    if value is None or value == "":
        if required:
            raise bad_request(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    return value


def _timeout(request: web.Request, default: float = 10.0) -> float:
    try:
        value = float(request.query.get("timeout", default))
    except ValueError:
        raise bad_request("timeout must be a number") from None
    return max(0.0, min(value, MAX_WAIT_S))


def render(chat: Chat, msg: Json) -> Json:
    """A message as Telegram shows it, plus a `sandbox` block for tests and the page."""
    meta = chat.meta[msg["message_id"]]
    out = copy.deepcopy(msg)
    extra: Json = {"outgoing": meta["outgoing"], "deleted": meta["deleted"],
                   "edits": meta["edits"]}
    if meta.get("force_reply"):
        extra["force_reply"] = True
    if "photo" in msg:
        extra["photo_url"] = f"/sandbox/files/{msg['photo'][-1]['file_id']}"
    if "document" in msg:
        extra["document_url"] = f"/sandbox/files/{msg['document']['file_id']}"
    if "voice" in msg:
        extra["voice_url"] = f"/sandbox/files/{msg['voice']['file_id']}"
    out["sandbox"] = extra
    return out


def _user_path(request: web.Request) -> int:
    try:
        return int(request.match_info["user_id"])
    except ValueError:
        raise ApiError(404, "Not Found: user") from None


def _chat_path(request: web.Request) -> Chat:
    try:
        chat_id = int(request.match_info["chat_id"])
    except ValueError:
        raise ApiError(404, "Not Found: chat") from None
    chat = _sb(request).chats.get(chat_id)
    if chat is None:
        raise ApiError(404, f"Not Found: chat {chat_id}")
    return chat


def _sent(sb: Sandbox, msg: Json, update: Json | None) -> web.Response:
    chat = sb.chats[msg["chat"]["id"]]
    return web.json_response({"message": render(chat, msg),
                              "update_id": update["update_id"] if update else None}, status=201)


# --- bot, settings, stats, faults ---------------------------------------------------------------


async def info(request: web.Request) -> web.Response:
    sb = _sb(request)
    return web.json_response({
        "bot": sb.bot, "token": sb.token, "rate_limits": sb.rate_limits,
        "limits": sb.limiter.limits.to_dict(), "webhook": sb.webhook_info(),
        "pending_updates": len(sb.updates), "seq": sb.seq, "map_box": sb.map_box,
    })


async def settings(request: web.Request) -> web.Response:
    sb = _sb(request)
    body = await _body(request)
    rate_limits = body.get("rate_limits")
    if rate_limits is not None and not isinstance(rate_limits, bool):
        raise bad_request("rate_limits must be true or false")
    limits = body.get("limits")
    if limits is not None and not isinstance(limits, dict):
        raise bad_request("limits must be an object")
    sb.configure(rate_limits=rate_limits, limits=limits)
    return await info(request)


async def stats(request: web.Request) -> web.Response:
    return web.json_response(_sb(request).stats.to_json())


async def reset_stats(request: web.Request) -> web.Response:
    _sb(request).stats = Stats()
    return web.json_response(_sb(request).stats.to_json())


async def add_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    kind = body.get("kind")
    if kind not in ("error", "hang", "429"):
        raise bad_request("kind must be error, hang or 429")
    count = _int(body, "count") or 1
    methods = body.get("methods")
    if methods is not None and (not isinstance(methods, list)
                                or not all(isinstance(m, str) for m in methods)):
        raise bad_request("methods must be a list of method names")
    status = _int(body, "status") or 500
    if not 500 <= status <= 599:
        raise bad_request("status must be a 5xx code")
    fault = Fault(kind=kind, remaining=max(1, count), seconds=float(body.get("seconds") or 0),
                  retry_after=_int(body, "retry_after") or 1, status=status,
                  methods=frozenset(m.lower() for m in methods) if methods else None)
    _sb(request).faults.append(fault)
    return web.json_response(fault.to_json(), status=201)


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": [f.to_json() for f in _sb(request).faults]})


async def clear_faults(request: web.Request) -> web.Response:
    _sb(request).faults.clear()
    return web.json_response({"faults": []})


# --- users, groups -----------------------------------------------------------------------------


async def create_user(request: web.Request) -> web.Response:
    body = await _body(request)
    user = _sb(request).create_user(
        first_name=_str(body, "first_name", required=True) or "", id=_int(body, "id"),
        last_name=_str(body, "last_name"), username=_str(body, "username"),
        language_code=_str(body, "language_code"), role=_str(body, "role"),
        started=body.get("started", True) is not False, note=_str(body, "note"), home=body.get("home"))
    return web.json_response(user.to_json(), status=201)


async def list_users(request: web.Request) -> web.Response:
    return web.json_response({"users": [u.to_json() for u in _sb(request).users.values()]})


async def get_user(request: web.Request) -> web.Response:
    return web.json_response(_sb(request).user(_user_path(request)).to_json())


async def block_user(request: web.Request) -> web.Response:
    body = await _body(request)
    blocked = body.get("blocked", True)
    if not isinstance(blocked, bool):
        raise bad_request("blocked must be true or false")
    return web.json_response(_sb(request).set_blocked(_user_path(request), blocked).to_json())


async def create_group(request: web.Request) -> web.Response:
    body = await _body(request)
    members = body.get("members", [])
    if not isinstance(members, list) or not all(isinstance(m, int) for m in members):
        raise bad_request("members must be a list of user ids")
    chat = _sb(request).create_group(title=_str(body, "title", required=True) or "",
                                     members=members, id=_int(body, "id"),
                                     type=_str(body, "type") or "group")
    return web.json_response({**chat.to_tg(), "members": chat.members}, status=201)


# --- what users do -----------------------------------------------------------------------------


async def send_text(request: web.Request) -> web.Response:
    sb, body = _sb(request), await _body(request)
    content = sb.user_text_content(_str(body, "text", required=True) or "")
    msg, update = sb.user_send(_user_path(request), content, chat_id=_int(body, "chat_id"),
                               reply_to_message_id=_int(body, "reply_to_message_id"))
    return _sent(sb, msg, update)


async def _upload(request: web.Request, part: str) -> tuple[bytes, dict[str, Any]]:
    """A file from multipart (file part `part` + fields) or JSON (base64 `data` + fields)."""
    fields: dict[str, Any]
    if request.content_type == "multipart/form-data":
        form = await request.post()
        upload = form.get(part)
        if not isinstance(upload, web.FileField):
            raise bad_request(f"{part} file part is required")
        data = upload.file.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        fields.setdefault("file_name", upload.filename)
        if upload.content_type and upload.content_type != "application/octet-stream":
            fields.setdefault("mime_type", upload.content_type)
    else:
        fields = await _body(request)
        try:
            data = base64.b64decode(_str(fields, "data", required=True) or "", validate=True)
        except binascii.Error:
            raise bad_request("data must be base64") from None
    if not data:
        raise bad_request(f"the {part} is empty")
    return data, fields


async def send_photo(request: web.Request) -> web.Response:
    """Multipart (`photo` file part + fields) or JSON with base64 `data`."""
    sb = _sb(request)
    data, fields = await _upload(request, "photo")
    as_document = fields.get("as_document") in (True, "true", "1", "on")
    caption = _str(fields, "caption")
    content: Json
    if as_document:
        content = {"document": sb.store_document(
            data, file_name=_str(fields, "file_name") or "photo.jpg",
            mime_type=_str(fields, "mime_type"))}
    else:
        content = {"photo": await sb.store_photo(data)}
    if caption:
        content["caption"] = caption
    msg, update = sb.user_send(_user_path(request), content, chat_id=_int(fields, "chat_id"),
                               reply_to_message_id=_int(fields, "reply_to_message_id"))
    return _sent(sb, msg, update)


async def send_voice(request: web.Request) -> web.Response:
    """A voice note: multipart (`voice` part + `duration`, `caption`…) or JSON base64 `data`."""
    sb = _sb(request)
    data, fields = await _upload(request, "voice")
    duration = _int(fields, "duration") or 1
    content: Json = {"voice": sb.store_voice(data, duration=duration,
                                             mime_type=_str(fields, "mime_type"))}
    if caption := _str(fields, "caption"):
        content["caption"] = caption
    msg, update = sb.user_send(_user_path(request), content, chat_id=_int(fields, "chat_id"),
                               reply_to_message_id=_int(fields, "reply_to_message_id"))
    return _sent(sb, msg, update)


def _location(body: dict[str, Any]) -> Json:
    latitude, longitude = _float(body, "latitude"), _float(body, "longitude")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise bad_request("latitude must be within ±90 and longitude within ±180")
    location: Json = {"latitude": latitude, "longitude": longitude}
    if body.get("horizontal_accuracy") is not None:
        location["horizontal_accuracy"] = _float(body, "horizontal_accuracy")
    if (live := _int(body, "live_period")) is not None:
        location["live_period"] = live
    return location


async def send_location(request: web.Request) -> web.Response:
    sb, body = _sb(request), await _body(request)
    msg, update = sb.user_send(_user_path(request), {"location": _location(body)},
                               chat_id=_int(body, "chat_id"),
                               reply_to_message_id=_int(body, "reply_to_message_id"))
    return _sent(sb, msg, update)


async def send_venue(request: web.Request) -> web.Response:
    sb, body = _sb(request), await _body(request)
    location = _location(body)
    venue = {"location": location, "title": _str(body, "title", required=True),
             "address": _str(body, "address", required=True)}
    msg, update = sb.user_send(_user_path(request), {"venue": venue, "location": location},
                               chat_id=_int(body, "chat_id"),
                               reply_to_message_id=_int(body, "reply_to_message_id"))
    return _sent(sb, msg, update)


async def send_contact(request: web.Request) -> web.Response:
    sb, body = _sb(request), await _body(request)
    user = sb.user(_user_path(request))
    contact: Json = {"phone_number": _str(body, "phone_number", required=True),
                     "first_name": _str(body, "first_name") or user.first_name}
    if last_name := _str(body, "last_name"):
        contact["last_name"] = last_name
    # sharing one's own contact (request_contact button) carries the user id
    if (contact_user := _int(body, "user_id")) is not None:
        contact["user_id"] = contact_user
    msg, update = sb.user_send(user.id, {"contact": contact}, chat_id=_int(body, "chat_id"),
                               reply_to_message_id=_int(body, "reply_to_message_id"))
    return _sent(sb, msg, update)


async def press(request: web.Request) -> web.Response:
    sb, body = _sb(request), await _body(request)
    query, update = sb.press(_user_path(request), _int(body, "message_id", required=True) or 0,
                             data=_str(body, "data"), text=_str(body, "text"),
                             chat_id=_int(body, "chat_id"))
    return web.json_response({"callback_query_id": query.id, "data": query.data,
                              "update_id": update["update_id"] if update else None}, status=201)


async def callback_answer(request: web.Request) -> web.Response:
    """The bot's answerCallbackQuery for a press; waits up to `timeout` s for it."""
    sb = _sb(request)
    query = sb.callbacks.get(request.match_info["query_id"])
    if query is None:
        raise ApiError(404, "Not Found: callback query")
    await sb.changed.wait_for(lambda: query.answer is not None, _timeout(request, 0))
    return web.json_response({"id": query.id, "data": query.data,
                              "answered": query.answer is not None, "answer": query.answer})


# --- chats -------------------------------------------------------------------------------------


async def list_chats(request: web.Request) -> web.Response:
    sb = _sb(request)
    chats = []
    for chat in sb.chats.values():
        visible = [m for mid, m in chat.messages.items() if not chat.meta[mid]["deleted"]]
        chats.append({"chat": chat.to_tg(), "seq": chat.seq, "message_count": len(visible),
                      "last_message": render(chat, visible[-1]) if visible else None,
                      "members": chat.members if chat.is_group else None})
    return web.json_response({"chats": chats})


async def chat_messages(request: web.Request) -> web.Response:
    """Messages both ways, in order. `since_seq=S&timeout=T` waits until the chat changed after
    S (the `seq` of an earlier answer), so a page or test can long-poll."""
    sb, chat = _sb(request), _chat_path(request)
    since = _int(request.query, "since_seq")
    if since is not None:
        await sb.changed.wait_for(lambda: chat.seq > since, _timeout(request))
    include_deleted = request.query.get("include_deleted") in ("1", "true")
    messages = [render(chat, m) for mid, m in chat.messages.items()
                if include_deleted or not chat.meta[mid]["deleted"]]
    return web.json_response({"chat": chat.to_tg(), "seq": chat.seq, "messages": messages,
                              "reply_keyboard": chat.reply_keyboard})


async def wait_message(request: web.Request) -> web.Response:
    """The first message from the bot in the chat with message_id > `after`; 408 on timeout."""
    sb, chat = _sb(request), _chat_path(request)
    after = _int(request.query, "after") or 0

    def first() -> Json | None:
        for mid, msg in chat.messages.items():
            if mid > after and chat.meta[mid]["outgoing"]:
                return msg
        return None

    if not await sb.changed.wait_for(lambda: first() is not None, _timeout(request)):
        raise ApiError(408, f"no message from the bot after {after} in time")
    msg = first()
    assert msg is not None
    return web.json_response({"message": render(chat, msg)})


async def pending_updates(request: web.Request) -> web.Response:
    return web.json_response({"updates": _sb(request).updates})


async def commands(request: web.Request) -> web.Response:
    sb = _sb(request)
    return web.json_response({"commands": [
        {"scope": json.loads(scope), "language_code": language or None, "commands": items}
        for (scope, language), items in sb.commands.items()]})


async def file_bytes(request: web.Request) -> web.Response:
    stored = _sb(request).files.get(request.match_info["file_id"])
    if stored is None:
        raise ApiError(404, "Not Found: file")
    return web.Response(body=stored.data,
                        content_type=stored.mime_type or "application/octet-stream")


def setup_routes(app: web.Application) -> None:
    r = app.router
    api = "/sandbox/api"
    r.add_get(f"{api}/info", info)
    r.add_post(f"{api}/settings", settings)
    r.add_get(f"{api}/stats", stats)
    r.add_post(f"{api}/stats/reset", reset_stats)
    r.add_get(f"{api}/faults", list_faults)
    r.add_post(f"{api}/faults", add_fault)
    r.add_delete(f"{api}/faults", clear_faults)
    r.add_get(f"{api}/users", list_users)
    r.add_post(f"{api}/users", create_user)
    r.add_get(f"{api}/users/{{user_id}}", get_user)
    r.add_post(f"{api}/users/{{user_id}}/block", block_user)
    r.add_post(f"{api}/users/{{user_id}}/text", send_text)
    r.add_post(f"{api}/users/{{user_id}}/photo", send_photo)
    r.add_post(f"{api}/users/{{user_id}}/voice", send_voice)
    r.add_post(f"{api}/users/{{user_id}}/location", send_location)
    r.add_post(f"{api}/users/{{user_id}}/venue", send_venue)
    r.add_post(f"{api}/users/{{user_id}}/contact", send_contact)
    r.add_post(f"{api}/users/{{user_id}}/press", press)
    r.add_get(f"{api}/callbacks/{{query_id}}", callback_answer)
    r.add_post(f"{api}/groups", create_group)
    r.add_get(f"{api}/chats", list_chats)
    r.add_get(f"{api}/chats/{{chat_id}}/messages", chat_messages)
    r.add_get(f"{api}/chats/{{chat_id}}/wait", wait_message)
    r.add_get(f"{api}/updates", pending_updates)
    r.add_get(f"{api}/commands", commands)
    r.add_get("/sandbox/files/{file_id}", file_bytes)
