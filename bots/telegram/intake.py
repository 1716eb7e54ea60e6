"""How raw updates come in: long polling (default) or a webhook on our aiohttp server.

Both hand each raw update (a dict) to one ``accept`` function, which drops duplicates, decodes
the update on its own (a malformed update is skipped alone, never logged with its content)
and queues it for the Application. PTB's own Updater is not used: it decodes a whole
getUpdates batch at once, so one malformed update would be fetched again forever, and it logs
the raw batch (message texts) when decoding fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import BaseRequest

from bots.telegram.aiohttp_request import raw_params
from bots.telegram.sender import retry_seconds

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RawUpdate = dict[str, Any]
Accept = Callable[[RawUpdate], bool]


class RecentIds:
    """The last ``size`` update ids seen: an LRU set for in-process duplicate detection."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[int, None] = OrderedDict()

    def add(self, update_id: int) -> bool:
        """Remember an id; False if it was already there."""
        if update_id in self._ids:
            self._ids.move_to_end(update_id)
            return False
        self._ids[update_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


def update_id_of(raw: object) -> int | None:
    """Return a raw update's id, or None if it has none."""
    if not isinstance(raw, dict):
        return None
    value = raw.get("update_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class WebhookEndpoint:
    """``POST <path>``: check the secret in constant time, answer at once, queue the update.

    Missing secret header → 401, wrong secret → 403, a body that is not a JSON object → 400;
    in all three cases nothing is processed. While the bot is not running: 503, so Telegram
    delivers the update again later (to this or another replica).
    """

    def __init__(self, path: str, secret: str, accept: Accept) -> None:
        self.path = path
        self.secret = secret
        self._secret = secret.encode()
        self._accept = accept

    def routes(self) -> list[web.RouteDef]:
        """The route to add to the aiohttp application."""
        return [web.post(self.path, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        """Serve one webhook delivery."""
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return web.Response(status=401, text="secret token missing")
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._secret):
            log.warning("webhook request with a wrong secret token refused")
            return web.Response(status=403, text="wrong secret token")
        try:
            raw = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="not JSON")
        if not isinstance(raw, dict):
            return web.Response(status=400, text="not an update")
        # Synchronous hand-off: arrival order is queue order, and Telegram gets its 200 now.
        if not self._accept(raw):
            return web.Response(status=503, text="not running")
        return web.Response(status=200)


class Poller:
    """Long polling with getUpdates on its own request object (long read timeout)."""

    def __init__(
        self,
        request: BaseRequest,
        base_url: str,
        accept: Accept,
        room: Callable[[], Awaitable[None]],
        *,
        timeout: int = 10,
        allowed_updates: tuple[str, ...] = (),
    ) -> None:
        self._request = request
        self._url = f"{base_url}/getUpdates"
        self._accept = accept
        self._room = room
        self.timeout = timeout
        self.allowed_updates = allowed_updates
        self.offset = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling in a background task."""
        self._task = asyncio.create_task(self._run(), name="telegram-poller")

    async def stop(self) -> None:
        """Stop polling, then confirm the handled updates so a restart does not get them again."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.offset:
            with contextlib.suppress(TelegramError):
                await self._fetch(0, limit=1, read_timeout=2.0)  # shutdown has seconds, not more

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._room()  # backpressure: let the workers catch up before fetching more
            try:
                batch = await self._fetch(self.timeout)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                failures += 1
                await asyncio.sleep(self._pause(err, failures))
                continue
            failures = 0
            for raw in batch:
                if not self._accept(raw):
                    break  # not taken (stopping): leave it unconfirmed for the next run
                update_id = update_id_of(raw)
                if update_id is not None:
                    self.offset = max(self.offset, update_id + 1)

    async def _fetch(self, poll_seconds: int, limit: int = 100,
                     read_timeout: float | None = None) -> list[Any]:
        params: dict[str, object] = {"offset": self.offset, "timeout": poll_seconds,
                                     "limit": limit}
        if self.allowed_updates:
            params["allowed_updates"] = list(self.allowed_updates)
        # The read timeout must outlast the server's long poll.
        wait = poll_seconds + 10.0 if read_timeout is None else read_timeout
        result = await self._request.post(self._url, raw_params(params), read_timeout=wait)
        return result if isinstance(result, list) else []

    @staticmethod
    def _pause(err: Exception, failures: int) -> float:
        """How long to wait after a failed getUpdates (and log it without noise)."""
        if isinstance(err, RetryAfter):
            return retry_seconds(err)
        if isinstance(err, Conflict):
            log.warning("another process is polling with this bot token (409); retrying")
        elif isinstance(err, InvalidToken):
            log.error("Telegram rejected the bot token; retrying in a minute")
            return 60.0
        elif isinstance(err, NetworkError):
            log.warning("getUpdates failed (%s); retrying", type(err).__name__)
        else:
            log.error("getUpdates failed unexpectedly", exc_info=err)
        return min(30.0, 0.5 * 2 ** min(failures, 6))
