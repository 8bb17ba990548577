"""python-telegram-bot's HTTP transport over aiohttp (PTB's documented extension point,
`telegram.request.BaseRequest`) instead of its default httpx.

The web process already runs on aiohttp; httpx/httpcore/anyio cost ~1 ms of CPU per Bot API
call against ~0.2 ms for aiohttp's client (same requests, measured side by side), and a photo
update makes three calls (getFile, the download, the reply). Errors map as PTB's own
HTTPXRequest maps them: timeouts → `TimedOut`, other transport failures → `NetworkError`; the
status codes and Telegram's answers are PTB's to interpret (BaseRequest._request_wrapper).
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from gridlink.metrics import counted_bot_calls


class AiohttpRequest(BaseRequest):
    """One aiohttp session per instance, opened by `initialize`, closed by `shutdown`."""

    def __init__(self, *, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 connect_timeout: float | None = 5.0, pool_timeout: float | None = 1.0) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    @counted_bot_calls  # Bot API calls by method and result (ok, 429, 5xx, network)
    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        data: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            params = request_data.json_parameters
            if files:
                form = aiohttp.FormData()
                for name, value in params.items():
                    form.add_field(name, value)
                for name, (filename, content, mime) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mime)
                data = form
            else:
                data = params  # sent as application/x-www-form-urlencoded, as httpx does
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        conn = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        # aiohttp has no write timeout; `connect` covers waiting for a pooled connection too.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_read=read, sock_connect=conn,
            connect=None if conn is None or pool is None else conn + pool)
        try:
            async with session.request(method, url, data=data, timeout=timeout) as resp:
                return resp.status, await resp.read()
        except TimeoutError as err:  # aiohttp's ServerTimeoutError is one too
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err
