"""python-telegram-bot's HTTP transport on aiohttp: one keep-alive connection pool per object.

PTB's default transport (httpx) costs noticeably more CPU per request than aiohttp. The Bot
uses two objects, as PTB does with httpx: one for getUpdates (long poll, long read timeout,
one connection) and one for every other call. Parameters go as a JSON body (the Bot API takes
JSON as well as forms): the C JSON encoder is much cheaper than form-encoding long texts.
Uploads go as multipart, as with PTB's own transport.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from telegram.request._requestparameter import RequestParameter

log = logging.getLogger(__name__)

Timeout = float | None


def raw_params(params: dict[str, object]) -> RequestData:
    """Wrap parameters for a call made outside the Bot's typed methods (raw getUpdates)."""
    # RequestParameter is PTB's own building block (internal, but stable within v22).
    return RequestData([RequestParameter(name, value, None) for name, value in params.items()])


class AiohttpRequest(BaseRequest):
    """A :class:`telegram.request.BaseRequest` on an aiohttp session with a connection pool."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        read_timeout: Timeout = 10.0,
        write_timeout: Timeout = 10.0,
        connect_timeout: Timeout = 5.0,
        pool_timeout: Timeout = 5.0,
        media_write_timeout: Timeout = 30.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> Timeout:
        """Return the default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (inside the running loop, as aiohttp requires)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, keepalive_timeout=30, enable_cleanup_closed=True
            )
            # No cookies and no trust_env proxies: a Bot API client needs neither.
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": self.USER_AGENT},
                raise_for_status=False,
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; map aiohttp's failures to PTB's TimedOut and NetworkError."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized")
        has_files = bool(request_data and request_data.contains_files)
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout,
                                has_files)
        data = _body(request_data, has_files)
        try:
            async with session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # The URL carries the bot token: keep it out of messages that end up in logs.
            detail = str(err).replace(url, "<url>").split("/bot", 1)[0]
            raise NetworkError(f"aiohttp.{type(err).__name__}: {detail}") from None

    def _timeout(self, read: Any, write: Any, connect: Any, pool: Any,
                 has_files: bool) -> aiohttp.ClientTimeout:
        """Build aiohttp's timeout from PTB's four (DEFAULT_NONE means this object's default)."""
        default_write = self._media_write_timeout if has_files else self._write_timeout
        read = self._read_timeout if read is BaseRequest.DEFAULT_NONE else read
        write = default_write if write is BaseRequest.DEFAULT_NONE else write
        connect = self._connect_timeout if connect is BaseRequest.DEFAULT_NONE else connect
        pool = self._pool_timeout if pool is BaseRequest.DEFAULT_NONE else pool
        # aiohttp has no write timeout and counts the pool wait inside `connect`: the total
        # bounds the whole exchange instead, so a stalled upload cannot hang forever.
        parts = (read, write, connect, pool)
        total = None if any(part is None for part in parts) else sum(parts)
        wait = None if connect is None or pool is None else connect + pool
        return aiohttp.ClientTimeout(total=total, connect=wait, sock_connect=connect,
                                     sock_read=read)


def _body(request_data: RequestData | None, has_files: bool) -> Any:
    """Encode the parameters: a JSON body, or multipart when files are attached."""
    if request_data is None:
        return None
    if not has_files:
        parameters = request_data.parameters
        if not parameters:
            return None
        body = json.dumps(parameters, ensure_ascii=False, separators=(",", ":")).encode()
        return aiohttp.BytesPayload(body, content_type="application/json")
    fields = request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, upload in request_data.multipart_data.items():
        if isinstance(upload, tuple):
            filename, content, *rest = upload
            content_type = rest[0] if rest else None
            form.add_field(name, content, filename=filename, content_type=content_type)
        else:
            form.add_field(name, upload)
    return form

