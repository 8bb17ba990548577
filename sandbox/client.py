"""`SandboxClient`: the control API from Python, for tests and benches (plays the users)."""

from __future__ import annotations

from typing import Any

import aiohttp

Json = dict[str, Any]


class SandboxError(Exception):
    """The control API refused a request; `status` and `code` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class SandboxClient:
    """Async wrapper of `/sandbox/api`. User actions return the message the user sent (with
    its `message_id`, usable as `after=` in `wait_message`)."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.session.request(method, f"{self.base_url}/sandbox/api{path}",
                                        **kwargs) as response:
            body = await response.json()
            if response.status >= 400:
                error = body.get("error", {}) if isinstance(body, dict) else {}
                raise SandboxError(response.status, error.get("code", "error"),
                                   error.get("message", str(body)))
            return body

    # --- bot, settings, faults, stats -------------------------------------------------------------

    async def info(self) -> Json:
        result: Json = await self._call("GET", "/info")
        return result

    async def configure(self, *, rate_limits: bool | None = None,
                        limits: dict[str, float] | None = None) -> Json:
        body: Json = {}
        if rate_limits is not None:
            body["rate_limits"] = rate_limits
        if limits is not None:
            body["limits"] = limits
        result: Json = await self._call("POST", "/settings", json=body)
        return result

    async def stats(self) -> Json:
        result: Json = await self._call("GET", "/stats")
        return result

    async def reset_stats(self) -> Json:
        result: Json = await self._call("POST", "/stats/reset")
        return result

    async def inject_fault(self, kind: str, *, count: int = 1, seconds: float = 0.0,
                           retry_after: int = 1, status: int = 500,
                           methods: list[str] | None = None) -> Json:
        """kind: "error" (5xx), "hang" (sleep `seconds`, then answer) or "429"."""
        result: Json = await self._call("POST", "/faults", json={
            "kind": kind, "count": count, "seconds": seconds, "retry_after": retry_after,
            "status": status, "methods": methods})
        return result

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    # --- users and groups --------------------------------------------------------------------------

    async def create_user(self, first_name: str, *, id: int | None = None,
                          username: str | None = None, language_code: str | None = "zh-hans",
                          last_name: str | None = None, role: str | None = None,
                          started: bool = True) -> Json:
        """A user; `started=False`: has never opened the bot (it cannot write first, 403)."""
        result: Json = await self._call("POST", "/users", json={
            "first_name": first_name, "id": id, "username": username,
            "language_code": language_code, "last_name": last_name, "role": role,
            "started": started})
        return result

    async def users(self) -> list[Json]:
        result: list[Json] = (await self._call("GET", "/users"))["users"]
        return result

    async def block(self, user_id: int, blocked: bool = True) -> Json:
        result: Json = await self._call("POST", f"/users/{user_id}/block",
                                        json={"blocked": blocked})
        return result

    async def create_group(self, title: str, members: list[int], *,
                           type: str = "group") -> Json:
        result: Json = await self._call("POST", "/groups",
                                        json={"title": title, "members": members, "type": type})
        return result

    # --- what users do -----------------------------------------------------------------------------

    async def _user_action(self, user_id: int, action: str, body: Json) -> Json:
        result: Json = (await self._call("POST", f"/users/{user_id}/{action}",
                                         json={k: v for k, v in body.items() if v is not None}))
        return result["message"]  # type: ignore[no-any-return]

    async def send_text(self, user_id: int, text: str, *, chat_id: int | None = None,
                        reply_to: int | None = None) -> Json:
        return await self._user_action(user_id, "text", {
            "text": text, "chat_id": chat_id, "reply_to_message_id": reply_to})

    async def reply(self, user_id: int, message_id: int, text: str, *,
                    chat_id: int | None = None) -> Json:
        return await self.send_text(user_id, text, chat_id=chat_id, reply_to=message_id)

    async def send_photo(self, user_id: int, data: bytes, *, caption: str | None = None,
                         as_document: bool = False, file_name: str = "photo.jpg",
                         mime_type: str = "image/jpeg", chat_id: int | None = None,
                         reply_to: int | None = None) -> Json:
        """A compressed photo (re-encoded, EXIF dropped) or, with `as_document`, the file as is."""
        form = aiohttp.FormData()
        form.add_field("photo", data, filename=file_name, content_type=mime_type)
        fields = {"caption": caption, "as_document": "true" if as_document else None,
                  "chat_id": chat_id, "reply_to_message_id": reply_to}
        for key, value in fields.items():
            if value is not None:
                form.add_field(key, str(value))
        result: Json = await self._call("POST", f"/users/{user_id}/photo", data=form)
        return result["message"]  # type: ignore[no-any-return]

    async def send_voice(self, user_id: int, data: bytes, *, duration: int = 1,
                         caption: str | None = None, mime_type: str = "audio/ogg",
                         chat_id: int | None = None) -> Json:
        """A voice note (the bytes are stored as given; Telegram sends OGG/Opus)."""
        form = aiohttp.FormData()
        form.add_field("voice", data, filename="voice.oga", content_type=mime_type)
        form.add_field("duration", str(duration))
        for key, value in {"caption": caption, "chat_id": chat_id}.items():
            if value is not None:
                form.add_field(key, str(value))
        result: Json = await self._call("POST", f"/users/{user_id}/voice", data=form)
        return result["message"]  # type: ignore[no-any-return]

    async def send_location(self, user_id: int, latitude: float, longitude: float, *,
                            live_period: int | None = None, chat_id: int | None = None,
                            reply_to: int | None = None) -> Json:
        return await self._user_action(user_id, "location", {
            "latitude": latitude, "longitude": longitude, "live_period": live_period,
            "chat_id": chat_id, "reply_to_message_id": reply_to})

    async def send_venue(self, user_id: int, latitude: float, longitude: float, title: str,
                         address: str, *, chat_id: int | None = None) -> Json:
        return await self._user_action(user_id, "venue", {
            "latitude": latitude, "longitude": longitude, "title": title, "address": address,
            "chat_id": chat_id})

    async def send_contact(self, user_id: int, phone_number: str, *,
                           first_name: str | None = None, own: bool = True) -> Json:
        return await self._user_action(user_id, "contact", {
            "phone_number": phone_number, "first_name": first_name,
            "user_id": user_id if own else None})

    async def press(self, user_id: int, message_id: int, data: str | None = None, *,
                    text: str | None = None, chat_id: int | None = None) -> Json:
        """Press an inline button (by callback data or label); returns callback_query_id."""
        result: Json = await self._call("POST", f"/users/{user_id}/press", json={
            k: v for k, v in {"message_id": message_id, "data": data, "text": text,
                              "chat_id": chat_id}.items() if v is not None})
        return result

    async def callback_answer(self, callback_query_id: str, *,
                              timeout: float = 5.0) -> Json:  # noqa: ASYNC109 - server-side wait
        """The bot's answerCallbackQuery (waits up to `timeout`; `answered` false if none)."""
        result: Json = await self._call("GET", f"/callbacks/{callback_query_id}",
                                        params={"timeout": str(timeout)})
        return result

    # --- chats -------------------------------------------------------------------------------------

    async def chats(self) -> list[Json]:
        """Every chat: `chat`, `seq`, `message_count`, `last_message`."""
        result: list[Json] = (await self._call("GET", "/chats"))["chats"]
        return result

    async def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[Json]:
        params = {"include_deleted": "1"} if include_deleted else {}
        result: list[Json] = (await self._call("GET", f"/chats/{chat_id}/messages",
                                               params=params))["messages"]
        return result

    async def chat(self, chat_id: int, *, since_seq: int | None = None,
                   timeout: float = 10.0) -> Json:  # noqa: ASYNC109 - server-side wait
        """Messages, `seq` and the current reply keyboard; with `since_seq`, waits for a change."""
        params = {} if since_seq is None else {"since_seq": str(since_seq),
                                               "timeout": str(timeout)}
        result: Json = await self._call("GET", f"/chats/{chat_id}/messages", params=params)
        return result

    async def wait_message(self, chat_id: int, *, after: int = 0,
                           timeout: float = 10.0) -> Json:  # noqa: ASYNC109 - server-side wait
        """The bot's first message in the chat with message_id > `after`. Raises
        `SandboxError` (status 408) when none comes within `timeout` seconds."""
        result: Json = await self._call("GET", f"/chats/{chat_id}/wait",
                                        params={"after": str(after), "timeout": str(timeout)})
        return result["message"]  # type: ignore[no-any-return]

    async def file(self, url_or_file_id: str) -> bytes:
        """Bytes of a file by its `sandbox.photo_url`/`document_url` or file_id."""
        path = (url_or_file_id if url_or_file_id.startswith("/")
                else f"/sandbox/files/{url_or_file_id}")
        async with self.session.get(f"{self.base_url}{path}") as response:
            response.raise_for_status()
            return await response.read()

    async def pending_updates(self) -> list[Json]:
        result: list[Json] = (await self._call("GET", "/updates"))["updates"]
        return result
