"""A lean Telegram :class:`~handlers.ports.Sender` for broadcasts: aiohttp straight to the Bot API.

Broadcasts at up to 1000 messages/s go through here rather than python-telegram-bot: one JSON
POST per message on a keep-alive pool, no object model in between. Errors become the
:mod:`handlers.ports` send errors the broadcast worker acts on:

* 429 → :class:`RateLimited` (``parameters.retry_after``)
* 403, and 400 "chat not found" / "user is deactivated" → :class:`RecipientGone`
* other 400s → :class:`PermanentFailure`
* 5xx, other statuses, timeouts and network errors → :class:`TemporaryFailure`
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from handlers.messages import ActionButton, Reply
from handlers.ports import PermanentFailure, RateLimited, RecipientGone, TemporaryFailure

log = logging.getLogger(__name__)

#: Paid broadcasts (up to 1000/s) must be asked for per message; above this rate we do.
FREE_BROADCAST_RATE = 30.0
GONE_MARKERS = ("chat not found", "user is deactivated", "bot was blocked", "bot was kicked",
                "user not found", "peer_id_invalid")
NOT_MODIFIED = "message is not modified"
DESCRIPTION_LENGTH = 120


class TelegramSender:
    """Sends and edits messages with plain HTTP calls to ``{api_url}/bot{token}/{method}``."""

    platform = "telegram"

    def __init__(self, api_url: str, token: str, *, paid_broadcast: bool = False,
                 connections: int = 100, timeout: float = 15.0) -> None:
        self._base = f"{api_url.rstrip('/')}/bot{token}/"
        self._paid = paid_broadcast
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=5.0)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool (inside the running loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                  json_serialize=_dumps)

    async def close(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, address: str, reply: Reply) -> str | None:
        """Send a broadcast message; return its message id."""
        params = payload(reply)
        params["chat_id"] = address
        if self._paid:
            params["allow_paid_broadcast"] = True
        result = await self._call("sendMessage", params)
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return None if message_id is None else str(message_id)

    async def edit(self, address: str, message_id: str, reply: Reply) -> None:
        """Replace a message's text and buttons (the admin's progress message)."""
        params = payload(reply)
        params.update(chat_id=address, message_id=int(message_id))
        try:
            await self._call("editMessageText", params)
        except PermanentFailure as exc:
            if NOT_MODIFIED not in str(exc).lower():
                raise

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        if self._session is None:
            await self.start()
        assert self._session is not None
        try:
            async with self._session.post(self._base + method, json=params) as response:
                status = response.status
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TemporaryFailure(f"network: {type(exc).__name__}") from exc
        return _result(method, status, body)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def payload(reply: Reply) -> dict[str, Any]:
    """Render a neutral reply as sendMessage parameters (HTML text, inline keyboard)."""
    params: dict[str, Any] = {"text": reply.text, "parse_mode": "HTML",
                              "link_preview_options": {"is_disabled": True}}
    rows = []
    for row in reply.buttons:
        buttons = []
        for button in row:
            if isinstance(button, ActionButton):
                buttons.append({"text": button.label, "callback_data": button.action})
            else:
                buttons.append({"text": button.label, "url": button.url})
        rows.append(buttons)
    if rows:
        params["reply_markup"] = {"inline_keyboard": rows}
    return params


def _result(method: str, status: int, body: bytes) -> Any:
    """Return the call's result, or raise the send error its status calls for."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if status == 200 and data.get("ok"):
        return data.get("result")
    description = str(data.get("description") or f"HTTP {status}")[:DESCRIPTION_LENGTH]
    reason = f"{status} {description}"
    lowered = description.lower()
    if status == 429:
        parameters = data.get("parameters") or {}
        raise RateLimited(float(parameters.get("retry_after") or 1))
    if status == 403 or (status == 400 and any(m in lowered for m in GONE_MARKERS)):
        raise RecipientGone(reason)
    if status == 400:
        raise PermanentFailure(reason)
    log.debug("Telegram %s answered %d", method, status)
    raise TemporaryFailure(reason)
