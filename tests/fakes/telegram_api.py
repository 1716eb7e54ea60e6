"""A fake Telegram Bot API server (aiohttp) for tests and benchmarks.

In process::

    async with FakeBotApi() as server:
        app = Application.builder().token("123:ABC").base_url(server.base_url)...
        server.add_update(server.make_message_update(1, 1, "/start"))
        [reply] = await server.wait_for_messages(1, chat_id=1)

As a separate process (benchmarks)::

    python -m tests.fakes.telegram_api --port 8081 [--latency 0.02] [--full-params]

prints ``READY http://127.0.0.1:PORT`` once it listens and serves the same Bot API plus a small
control API under ``/_control/`` (see ``ControlClient``). Both front ends share one state.

Parameters arrive as form-urlencoded strings (python-telegram-bot), multipart (uploads, aiogram)
or JSON; nested objects inside forms are JSON strings and are decoded for the fields in
``JSON_FIELDS``. The fake models one bot: the token in the URL is not checked unless ``token``
is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import re
import signal
import socket
import sys
import time
import zlib
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

from aiohttp import ClientSession, ClientTimeout, web

logger = logging.getLogger(__name__)

T = TypeVar("T")
JSONDict = dict[str, Any]
ChatId = int | str

# Fields that Telegram expects as JSON-serialised objects when sent inside a form.
JSON_FIELDS: Final = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "commands", "scope", "results",
        "allowed_updates", "link_preview_options", "reply_parameters", "media", "button",
        "menu_button", "rights", "options", "reaction", "explanation_entities",
        "input_message_content", "prices", "message_ids",
    }
)
INT_FIELDS: Final = frozenset(
    {
        "chat_id", "message_id", "from_chat_id", "user_id", "offset", "limit",
        "reply_to_message_id", "message_thread_id", "cache_time", "max_connections",
        "until_date", "duration", "width", "height",
    }
)
BOOL_FIELDS: Final = frozenset(
    {
        "disable_notification", "protect_content", "show_alert", "is_personal",
        "drop_pending_updates", "disable_web_page_preview", "allow_sending_without_reply",
        "has_spoiler", "allow_paid_broadcast", "revoke_messages", "show_caption_above_media",
    }
)
# Parameters kept in the journal when full parameters are not stored (memory-light mode).
LIGHT_FIELDS: Final = (
    "chat_id", "text", "caption", "message_id", "callback_query_id", "inline_query_id",
    "offset", "limit", "timeout", "action", "url", "language_code", "parse_mode",
)
UPDATE_TYPES: Final = (
    "message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
    "inline_query", "chosen_inline_result", "my_chat_member", "chat_member",
    "chat_join_request", "poll", "poll_answer", "shipping_query", "pre_checkout_query",
    "message_reaction", "message_reaction_count", "business_message",
)
MAX_TEXT_LENGTH: Final = 4096
MAX_CALLBACK_DATA_BYTES: Final = 64
MESSAGE_CACHE_SIZE: Final = 10_000
COMMAND_RE: Final = re.compile(r"^[a-z0-9_]{1,32}$")
HTML_TAG_RE: Final = re.compile(r"<[^>]*>")
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
POLL_CONFLICT: Final = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
WEBHOOK_CONFLICT: Final = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
DEFAULT_DESCRIPTIONS: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: POLL_CONFLICT,
    500: "Internal Server Error",
}


class ApiError(Exception):
    """A Telegram-shaped error answer: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSONDict:
        """Return the JSON body Telegram would send."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass(slots=True)
class Call:
    """One journalled Bot API call."""

    method: str
    params: JSONDict
    time: float  # time.monotonic() of the server process when the call arrived
    failed: bool = False
    status: int = 200
    done: bool = False  # False while a long poll is still waiting

    def to_json(self) -> JSONDict:
        """Return a JSON-serialisable dict."""
        return {
            "method": self.method,
            "params": self.params,
            "time": self.time,
            "failed": self.failed,
            "status": self.status,
            "done": self.done,
        }


@dataclass(slots=True)
class Fault:
    """A pending injected failure for the next calls of one method."""

    method: str
    remaining: int
    status: int
    description: str
    retry_after: int | None = None
    chat_id: ChatId | None = None

    def matches(self, method: str, params: Mapping[str, Any]) -> bool:
        """Tell whether this fault applies to a call."""
        if self.remaining <= 0 or self.method != method:
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id


@dataclass(slots=True)
class BotProfile:
    """Per-language names and descriptions set through setMy* methods."""

    names: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    short_descriptions: dict[str, str] = field(default_factory=dict)
    commands: dict[tuple[str, str], list[JSONDict]] = field(default_factory=dict)


class _Registered:
    """Sentinel type: use the secret token recorded by setWebhook."""


REGISTERED: Final = _Registered()


def normalise_chat_id(value: Any) -> Any:
    """Turn ``"123"``/``"-100"`` into ints; keep ``"@channel"`` and other values as they are."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    return value


def _to_int(value: Any) -> Any:
    """Coerce an integer-like value; leave anything else unchanged."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
        with contextlib.suppress(ValueError):
            return float(value)
    return value


def _decode_field(key: str, value: Any) -> Any:
    """Decode one form value into the type Telegram would see."""
    if not isinstance(value, str):
        return value
    if key in JSON_FIELDS:
        with contextlib.suppress(ValueError):
            return json.loads(value)
        return value
    if key == "chat_id":
        return normalise_chat_id(value)
    if key in INT_FIELDS or key == "timeout":
        return _to_int(value)
    if key in BOOL_FIELDS:
        return value.strip().lower() in ("true", "1")
    return value


def decode_params(raw: Mapping[str, Any]) -> JSONDict:
    """Decode form/JSON parameters: nested JSON strings, ints and booleans."""
    return {key: _decode_field(key, value) for key, value in raw.items()}


def _file_info(part: web.FileField) -> JSONDict:
    """Describe an uploaded file without keeping its bytes."""
    part.file.seek(0, 2)
    return {"filename": part.filename, "content_type": part.content_type, "size": part.file.tell()}


def _form_params(form: Mapping[str, Any]) -> JSONDict:
    """Turn a parsed form into parameters, resolving ``attach://name`` references."""
    params: JSONDict = {}
    for key, value in form.items():
        params[key] = _file_info(value) if isinstance(value, web.FileField) else value
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = params.get(value.removeprefix("attach://"), value)
    return params


async def read_params(request: web.Request) -> JSONDict:
    """Read query string plus JSON, form-urlencoded or multipart body as decoded parameters."""
    params: JSONDict = dict(request.query)
    if request.method == "POST" and request.body_exists:
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            params.update(_form_params(await request.post()))
        else:
            # PTB sends parameterless calls as an empty application/octet-stream body.
            await request.read()
    return decode_params(params)


def visible_length(text: str, parse_mode: str | None) -> int:
    """Length of a text after HTML parsing (other parse modes are measured raw)."""
    if parse_mode and parse_mode.upper() == "HTML":
        return len(unescape(HTML_TAG_RE.sub("", text)))
    return len(text)


def check_reply_markup(markup: Any) -> None:
    """Reject inline keyboards Telegram would reject (callback_data size, empty URL)."""
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if "url" in button and not button["url"]:
                raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")


def check_commands(commands: Any) -> list[JSONDict]:
    """Validate a setMyCommands list the way Telegram does."""
    if not isinstance(commands, list):
        raise ApiError(400, "Bad Request: can't parse commands JSON object")
    for command in commands:
        if not COMMAND_RE.match(str(command.get("command", ""))):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise ApiError(400, "Bad Request: command description is empty or too long")
    return commands


def command_length(text: str) -> int:
    """UTF-16 length of the leading ``/command[@bot]`` token."""
    token = text.split(maxsplit=1)[0] if text.strip() else text
    return len(token.encode("utf-16-le")) // 2


def light_params(params: Mapping[str, Any]) -> JSONDict:
    """Keep only the few parameters a memory-light journal needs."""
    return {key: params[key] for key in LIGHT_FIELDS if key in params}


class FakeBotApi:
    """In-process fake Bot API server; also an async context manager that starts and stops it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "reclaim_test_bot",
        first_name: str = "Reclaim Test Bot",
        bot_id: int = 123,
        token: str | None = None,
        latency: float = 0.0,
        store_params: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.bot_id = bot_id
        self.token = token
        self.latency = latency
        self.store_params = store_params
        self.bot_user: JSONDict = {
            "id": bot_id, "is_bot": True, "first_name": first_name, "username": username,
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": True, "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.calls: list[Call] = []
        self.method_counts: Counter[str] = Counter()
        self.failed_counts: Counter[str] = Counter()
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.profile = BotProfile()
        self._faults: list[Fault] = []
        self._queue: deque[JSONDict] = deque()
        self._next_update_id = 1
        self._confirmed_below = 0  # highest positive getUpdates offset seen
        self._allowed_updates: frozenset[str] = frozenset()
        self._poll_generation = 0
        self._updates_event = asyncio.Event()
        self._journal_event = asyncio.Event()
        self._sent_total = 0
        self._sent_per_chat: Counter[Any] = Counter()
        self._message_ids: dict[Any, int] = {}
        self._last_bot_message: dict[Any, int] = {}
        self._messages: OrderedDict[tuple[Any, int], tuple[str | None, str]] = OrderedDict()
        self._chats: dict[Any, JSONDict] = {}
        self._query_ids = itertools.count(1)
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._handlers: dict[str, Callable[[JSONDict], Any]] = self._build_handlers()
        self._canonical = {name.lower(): name for name in [*self._handlers, "getUpdates"]}

    # ----------------------------------------------------------------- lifecycle
    @property
    def root(self) -> str:
        """``http://127.0.0.1:PORT``: the API root (aiogram's ``TelegramAPIServer.from_base``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/bot``: PTB's ``base_url``."""
        return f"{self.root}/bot"

    @property
    def base_file_url(self) -> str:
        """``http://127.0.0.1:PORT/file/bot``: PTB's ``base_file_url``."""
        return f"{self.root}/file/bot"

    def build_app(self) -> web.Application:
        """Build the aiohttp application with Bot API and control routes."""
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_bot)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._handle_file)
        add_control_routes(app, self)
        return app

    async def start(self) -> None:
        """Bind a socket (port 0 picks a free one) and start serving."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._closing = False
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        logger.debug("fake Bot API listening on %s", self.root)

    async def stop(self) -> None:
        """Release long polls, stop serving and close the webhook client."""
        self._closing = True
        self._wake_pollers()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ----------------------------------------------------------------- journal
    def calls_of(self, method: str) -> list[Call]:
        """All journalled calls of one method (failed ones included)."""
        return [call for call in self.calls if call.method == method]

    def sent_messages(self, chat_id: ChatId | None = None) -> list[JSONDict]:
        """Parameters of successful sendMessage calls, optionally for one chat."""
        wanted = normalise_chat_id(chat_id)
        return [
            call.params
            for call in self.calls
            if call.method == "sendMessage" and not call.failed
            and (wanted is None or call.params.get("chat_id") == wanted)
        ]

    def sent_texts(self, chat_id: ChatId | None = None) -> list[str]:
        """Texts of successful sendMessage calls, optionally for one chat."""
        return [params.get("text", "") for params in self.sent_messages(chat_id)]

    def clear(self) -> None:
        """Empty the journal and the per-method counters (state and queue stay)."""
        self.calls.clear()
        self.method_counts.clear()
        self.failed_counts.clear()
        self._sent_total = 0
        self._sent_per_chat.clear()

    def stats(self) -> JSONDict:
        """Counts per method, failures, queue size and journal length."""
        return {
            "counts": dict(self.method_counts),
            "failed": dict(self.failed_counts),
            "sent_messages": self._sent_total,
            "pending_updates": len(self._queue),
            "journal_length": len(self.calls),
            "next_update_id": self._next_update_id,
        }

    # The `timeout` parameters below are part of the requested test API, hence the noqa.
    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:  # noqa: ASYNC109
        """Wait until ``predicate()`` is truthy; return its value.

        Re-checks after every journalled call, and every 50 ms for conditions on other state.
        """
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s; calls: {self.stats()}")
            event = self._journal_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.05))
        return result

    async def wait_for_messages(
        self, n: int, chat_id: ChatId | None = None, timeout: float = 5.0  # noqa: ASYNC109
    ) -> list[JSONDict]:
        """Wait until at least ``n`` messages were sent (to ``chat_id``); return their params."""
        wanted = normalise_chat_id(chat_id)
        await self.wait_for(lambda: self.sent_count(wanted) >= n, timeout)
        return self.sent_messages(wanted)

    async def wait_for_call(self, method: str, timeout: float = 5.0) -> Call:  # noqa: ASYNC109
        """Wait for the first journalled call of ``method`` and return it."""
        calls = await self.wait_for(lambda: self.calls_of(method), timeout)
        return calls[0]

    def sent_count(self, chat_id: Any = None) -> int:
        """Successful sendMessage count, O(1)."""
        return self._sent_total if chat_id is None else self._sent_per_chat[chat_id]

    def _record(self, method: str, params: JSONDict) -> Call:
        """Journal a call on arrival, so a pending long poll is visible too."""
        kept = params if self.store_params else light_params(params)
        call = Call(method, kept, time.monotonic())
        self.calls.append(call)
        self.method_counts[method] += 1
        self._notify_journal()
        return call

    def _finish(self, call: Call, status: int = 200) -> None:
        """Mark a journalled call as answered (failed unless status is 200)."""
        call.done = True
        if status != 200:
            call.failed, call.status = True, status
            self.failed_counts[call.method] += 1
        elif call.method == "sendMessage":
            self._sent_total += 1
            self._sent_per_chat[call.params.get("chat_id")] += 1
        self._notify_journal()

    def _notify_journal(self) -> None:
        """Wake everyone waiting on the journal."""
        # Swapping events instead of an asyncio.Condition lets sync code notify waiters.
        event, self._journal_event = self._journal_event, asyncio.Event()
        event.set()

    # ----------------------------------------------------------------- faults
    def fail_next(
        self,
        method: str,
        count: int = 1,
        status: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: ChatId | None = None,
    ) -> None:
        """Fail the next ``count`` calls of ``method`` (only for ``chat_id`` if given).

        A 429 gets ``retry_after=1`` unless another value is given, as Telegram always sends one.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == 429
                else DEFAULT_DESCRIPTIONS.get(status, "Bad Request")
            )
        canonical = self._canonical.get(method.lower(), method)
        self._faults.append(
            Fault(canonical, count, status, description, retry_after, normalise_chat_id(chat_id))
        )

    def clear_faults(self) -> None:
        """Drop all pending injected failures."""
        self._faults.clear()

    def _take_fault(self, method: str, params: Mapping[str, Any]) -> Fault | None:
        """Consume one pending fault matching this call, if any."""
        for fault in self._faults:
            if fault.matches(method, params):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # ----------------------------------------------------------------- updates
    def add_update(self, update: JSONDict) -> int:
        """Queue an update for getUpdates, assigning ``update_id`` if missing; return the id."""
        if int(update.get("update_id", self._confirmed_below)) < self._confirmed_below:
            # getUpdates would never deliver an id below a confirmed offset: renumber it.
            logger.warning("re-numbering update %s, already confirmed", update["update_id"])
            del update["update_id"]
        update_id = self._assign_update_id(update)
        if self._queue and self._queue[-1]["update_id"] >= update_id:
            self._insert_sorted(update)
        else:
            self._queue.append(update)
        self._wake_pollers()
        return update_id

    def add_updates(self, updates: Iterable[JSONDict]) -> list[int]:
        """Queue several updates; return their ids."""
        return [self.add_update(update) for update in updates]

    @property
    def pending_updates(self) -> int:
        """Number of updates not yet confirmed by a getUpdates offset."""
        return len(self._queue)

    def _assign_update_id(self, update: JSONDict) -> int:
        """Give the update the next id unless it has one; keep the counter above all ids."""
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        update_id = int(update["update_id"])
        self._next_update_id = max(self._next_update_id, update_id + 1)
        return update_id

    def _insert_sorted(self, update: JSONDict) -> None:
        """Rare path: an explicit, out-of-order update_id goes to its sorted place."""
        items = sorted([*self._queue, update], key=lambda item: int(item["update_id"]))
        self._queue = deque(items)

    def _wake_pollers(self) -> None:
        """Wake every waiting getUpdates (new update, conflict or shutdown)."""
        event, self._updates_event = self._updates_event, asyncio.Event()
        event.set()

    def _confirm(self, offset: Any) -> None:
        """Forget updates confirmed by ``offset`` (negative: keep only the last -offset)."""
        if not isinstance(offset, int) or offset == 0:
            return
        queue = self._queue
        if offset < 0:
            while len(queue) > -offset:
                queue.popleft()
            return
        self._confirmed_below = max(self._confirmed_below, offset)
        while queue and queue[0]["update_id"] < offset:
            queue.popleft()

    def _take(self, limit: int) -> list[JSONDict]:
        """Return up to ``limit`` pending updates of the allowed types, oldest first."""
        if not self._allowed_updates:
            return list(itertools.islice(self._queue, limit))
        allowed = (u for u in self._queue if not self._allowed_updates.isdisjoint(u))
        return list(itertools.islice(allowed, limit))

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        """getUpdates: confirm by offset, then long-poll up to ``timeout`` seconds."""
        if self.webhook_url:
            raise ApiError(409, WEBHOOK_CONFLICT)
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = frozenset(params["allowed_updates"])
        self._confirm(params.get("offset"))
        limit = max(1, min(100, int(params.get("limit") or 100)))
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 60.0)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older long poll on the same bot now ends with 409
        while not (batch := self._take(limit)) and not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updates_event.wait(), remaining)
            if self._poll_generation != generation:
                raise ApiError(409, POLL_CONFLICT)
        return batch

    # ----------------------------------------------------------------- update builders
    def make_user(
        self,
        user_id: int,
        *,
        language_code: str | None = "en",
        username: str | None = None,
        first_name: str = "Test",
    ) -> JSONDict:
        """Build a (human) User object."""
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def make_chat(self, chat_id: ChatId, chat_type: str | None = None) -> JSONDict:
        """Build (and remember) a Chat object; the type is guessed from the id if not given."""
        chat_id = normalise_chat_id(chat_id)
        known = self._chats.get(chat_id)
        if known is not None and (chat_type is None or known["type"] == chat_type):
            return known
        chat = _guess_chat(chat_id, chat_type)
        self._chats[chat_id] = chat
        return chat

    def make_message(
        self,
        chat_id: ChatId,
        user_id: int,
        *,
        chat_type: str = "private",
        language_code: str | None = "en",
        username: str | None = None,
        first_name: str = "Test",
        message_id: int | None = None,
        **content: Any,
    ) -> JSONDict:
        """Build a Message from a user; ``content`` holds text/sticker/photo/... fields."""
        chat = self.make_chat(chat_id, chat_type)
        user = self.make_user(
            user_id, language_code=language_code, username=username, first_name=first_name
        )
        if chat_type == "private":
            chat["first_name"] = first_name
            if username is not None:
                chat["username"] = username
        return {
            "message_id": message_id or self._next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            **content,
        }

    def make_message_update(
        self,
        chat_id: ChatId,
        user_id: int,
        text: str,
        *,
        chat_type: str = "private",
        language_code: str | None = "en",
        username: str | None = None,
        first_name: str = "Test",
    ) -> JSONDict:
        """Build a text message update; a leading ``/command`` gets its bot_command entity."""
        content: JSONDict = {"text": text}
        if text.startswith("/"):
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": command_length(text)}
            ]
        message = self.make_message(
            chat_id, user_id, chat_type=chat_type, language_code=language_code,
            username=username, first_name=first_name, **content,
        )
        return {"update_id": self._reserve_update_id(), "message": message}

    def make_edited_message_update(
        self,
        chat_id: ChatId,
        user_id: int,
        text: str,
        message_id: int,
        *,
        chat_type: str = "private",
        language_code: str | None = "en",
        username: str | None = None,
        first_name: str = "Test",
    ) -> JSONDict:
        """Build an edited_message update for an earlier user message."""
        message = self.make_message(
            chat_id, user_id, chat_type=chat_type, language_code=language_code,
            username=username, first_name=first_name, message_id=message_id, text=text,
        )
        message["edit_date"] = message["date"]
        return {"update_id": self._reserve_update_id(), "edited_message": message}

    def make_sticker_update(
        self, chat_id: ChatId, user_id: int, *, emoji: str = "👍", **kwargs: Any
    ) -> JSONDict:
        """Build a message update carrying a sticker and no text."""
        unique = next(self._query_ids)
        sticker = {
            "file_id": f"sticker-{unique}", "file_unique_id": f"su{unique}", "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji,
        }
        message = self.make_message(chat_id, user_id, sticker=sticker, **kwargs)
        return {"update_id": self._reserve_update_id(), "message": message}

    def make_photo_update(
        self, chat_id: ChatId, user_id: int, *, caption: str | None = None, **kwargs: Any
    ) -> JSONDict:
        """Build a message update carrying a photo (and optionally a caption), no text."""
        content: JSONDict = {"photo": _photo_sizes(next(self._query_ids))}
        if caption is not None:
            content["caption"] = caption
        message = self.make_message(chat_id, user_id, **content, **kwargs)
        return {"update_id": self._reserve_update_id(), "message": message}

    def make_callback_update(
        self,
        chat_id: ChatId,
        user_id: int,
        data: str,
        message_id: int | None = None,
        *,
        language_code: str | None = "en",
        username: str | None = None,
        first_name: str = "Test",
    ) -> JSONDict:
        """Build a callback_query update for a button on a bot message (default: its last one)."""
        chat = self.make_chat(chat_id)
        if message_id is None:
            message_id = self._last_bot_message.get(chat["id"]) or self._next_message_id(chat["id"])
        text, markup = self._messages.get((chat["id"], message_id), ("…", "null"))
        message: JSONDict = {
            "message_id": message_id, "date": int(time.time()), "chat": chat,
            "from": self.bot_user, "text": text if text is not None else "…",
        }
        if markup != "null":
            message["reply_markup"] = json.loads(markup)
        query = {
            "id": str(next(self._query_ids)),
            "from": self.make_user(
                user_id, language_code=language_code, username=username, first_name=first_name
            ),
            "chat_instance": str(zlib.crc32(str(chat["id"]).encode())),
            "message": message,
            "data": data,
        }
        return {"update_id": self._reserve_update_id(), "callback_query": query}

    def make_inline_query_update(
        self,
        user_id: int,
        query: str,
        *,
        language_code: str | None = "en",
        username: str | None = None,
        first_name: str = "Test",
        offset: str = "",
    ) -> JSONDict:
        """Build an inline_query update."""
        inline = {
            "id": str(next(self._query_ids)),
            "from": self.make_user(
                user_id, language_code=language_code, username=username, first_name=first_name
            ),
            "query": query,
            "offset": offset,
            "chat_type": "sender",
        }
        return {"update_id": self._reserve_update_id(), "inline_query": inline}

    def make_my_chat_member_update(
        self, chat_id: ChatId, user_id: int, status: str = "kicked"
    ) -> JSONDict:
        """Build a my_chat_member update (``kicked``: the user blocked the bot)."""
        chat = self.make_chat(chat_id)
        now = int(time.time())
        member: JSONDict = {
            "chat": chat,
            "from": self.make_user(user_id),
            "date": now,
            "old_chat_member": {"status": "member", "user": self.bot_user},
            "new_chat_member": {"status": status, "user": self.bot_user, "until_date": 0},
        }
        if status != "kicked":
            member["new_chat_member"].pop("until_date")
        return {"update_id": self._reserve_update_id(), "my_chat_member": member}

    def _reserve_update_id(self) -> int:
        """Assign an update_id at build time so concurrent webhook pushes never share one."""
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _next_message_id(self, chat_id: Any) -> int:
        """Per-chat message_id counter shared by user and bot messages."""
        message_id = self._message_ids.get(chat_id, 0) + 1
        self._message_ids[chat_id] = message_id
        return message_id

    # ----------------------------------------------------------------- webhook push
    async def push_webhook(
        self,
        url: str | None,
        update: JSONDict,
        secret_token: str | _Registered | None = REGISTERED,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> int:
        """POST one update to a webhook (default: the one set by setWebhook); return the status.

        ``secret_token`` defaults to the one recorded by setWebhook; pass ``None`` to send no
        secret header.
        """
        target = url or self.webhook_url
        if not target:
            raise ValueError("no webhook URL given and none set through setWebhook")
        secret = self.webhook_secret if isinstance(secret_token, _Registered) else secret_token
        self._assign_update_id(update)
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=timeout))
        async with self._client.post(target, json=update, headers=headers) as response:
            await response.read()
            return response.status

    # ----------------------------------------------------------------- HTTP front end
    async def _handle_bot(self, request: web.Request) -> web.Response:
        """Serve ``/bot{token}/{method}``."""
        raw_method = request.match_info["method"]
        try:
            params = await read_params(request)
        except ValueError:
            params = {}
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        method = self._canonical.get(raw_method.lower(), raw_method)
        try:
            if self.token is not None and request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            result = await self.call(method, params)
        except ApiError as err:
            return web.json_response(err.body(), status=err.status)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        """File downloads are not implemented: answer Telegram's 404."""
        return web.json_response(ApiError(404, "Not Found").body(), status=404)

    async def call(self, method: str, params: JSONDict) -> Any:
        """Run one Bot API method (faults and journal included); raise ApiError on failure."""
        call = self._record(method, params)
        try:
            fault = self._take_fault(method, params)
            if fault is not None:
                raise ApiError(fault.status, fault.description, fault.retry_after)
            if method == "getUpdates":
                result = await self._get_updates(params)
            elif method in self._handlers:
                result = self._handlers[method](params)
            else:
                raise ApiError(400, "Bad Request: method not found")
        except ApiError as err:
            self._finish(call, err.status)
            raise
        self._finish(call)
        return result

    # ----------------------------------------------------------------- Bot API methods
    def _build_handlers(self) -> dict[str, Callable[[JSONDict], Any]]:
        """Map canonical method names to their implementations."""
        true = _returns_true
        return {
            "getMe": lambda _params: self.bot_user,
            "logOut": true, "close": true, "sendChatAction": true,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "deleteWebhook": self._delete_webhook, "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message, "sendPhoto": self._send_photo,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message, "getChat": self._get_chat,
            "setMyCommands": self._set_my_commands, "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyDescription": self._profile_setter("descriptions", "description"),
            "getMyDescription": self._profile_getter("descriptions", "description"),
            "setMyShortDescription": self._profile_setter(
                "short_descriptions", "short_description"
            ),
            "getMyShortDescription": self._profile_getter(
                "short_descriptions", "short_description"
            ),
            "setMyName": self._profile_setter("names", "name"),
            "getMyName": self._profile_getter("names", "name"),
        }

    def _send_message(self, params: JSONDict) -> JSONDict:
        """sendMessage: validate text and keyboard, return the new Message."""
        chat_id = _require_chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if visible_length(text, params.get("parse_mode")) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        check_reply_markup(params.get("reply_markup"))
        return self._bot_message(chat_id, params, text=text)

    def _send_photo(self, params: JSONDict) -> JSONDict:
        """sendPhoto: a Message with photo sizes and the caption."""
        chat_id = _require_chat(params)
        if not params.get("photo"):
            raise ApiError(400, "Bad Request: there is no photo in the request")
        check_reply_markup(params.get("reply_markup"))
        content: JSONDict = {"photo": _photo_sizes(next(self._query_ids))}
        if params.get("caption"):
            content["caption"] = params["caption"]
        return self._bot_message(chat_id, params, **content)

    def _bot_message(self, chat_id: Any, params: JSONDict, **content: Any) -> JSONDict:
        """Build, remember and return a Message sent by the bot."""
        message_id = self._next_message_id(chat_id)
        message: JSONDict = {
            "message_id": message_id, "date": int(time.time()),
            "chat": self.make_chat(chat_id), "from": self.bot_user, **content,
        }
        for key in ("entities", "caption_entities"):
            if params.get(key):
                message[key] = params[key]
        markup = _inline_markup(params.get("reply_markup"))
        if markup is not None:
            message["reply_markup"] = markup
        self._remember(chat_id, message_id, content.get("text"), markup)
        self._last_bot_message[chat_id] = message_id
        return message

    def _remember(self, chat_id: Any, message_id: int, text: str | None, markup: Any) -> None:
        """Keep text and keyboard of recent bot messages (bounded) for edits and callbacks."""
        key = (chat_id, message_id)
        self._messages[key] = (text, json.dumps(markup, sort_keys=True))
        self._messages.move_to_end(key)
        if len(self._messages) > MESSAGE_CACHE_SIZE:
            self._messages.popitem(last=False)

    def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        """editMessageText: return the edited Message (True for inline messages)."""
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if visible_length(text, params.get("parse_mode")) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        return self._edit(params, text, _inline_markup(params.get("reply_markup")))

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        """editMessageReplyMarkup: return the edited Message (True for inline messages)."""
        check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        chat_id, message_id = _require_message(params)
        old_text = self._messages.get((chat_id, message_id), (None, "null"))[0]
        return self._edit(params, old_text, _inline_markup(params.get("reply_markup")))

    def _edit(self, params: JSONDict, text: str | None, markup: Any) -> JSONDict:
        """Apply an edit to a remembered message; Telegram refuses edits that change nothing."""
        chat_id, message_id = _require_message(params)
        old = self._messages.get((chat_id, message_id))
        if old is not None and old == (text, json.dumps(markup, sort_keys=True)):
            raise ApiError(400, NOT_MODIFIED)
        now = int(time.time())
        message: JSONDict = {
            "message_id": message_id, "date": now, "edit_date": now,
            "chat": self.make_chat(chat_id), "from": self.bot_user,
        }
        if text is not None:
            message["text"] = text
        if params.get("entities"):
            message["entities"] = params["entities"]
        if markup is not None:
            message["reply_markup"] = markup
        self._remember(chat_id, message_id, text, markup)
        return message

    def _delete_message(self, params: JSONDict) -> bool:
        """deleteMessage: forget the message."""
        chat_id, message_id = _require_message(params)
        self._messages.pop((chat_id, message_id), None)
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        """answerCallbackQuery: needs a query id; text at most 200 characters."""
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query_id is empty")
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _answer_inline_query(self, params: JSONDict) -> bool:
        """answerInlineQuery: needs a query id and at most 50 results."""
        if not params.get("inline_query_id"):
            raise ApiError(400, "Bad Request: query_id is empty")
        results = params.get("results")
        if not isinstance(results, list):
            raise ApiError(400, "Bad Request: can't parse inline query results JSON object")
        if len(results) > 50:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        return True

    def _set_webhook(self, params: JSONDict) -> bool:
        """setWebhook: record URL and secret token."""
        url = params.get("url") or ""
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook_url = str(url)
        self.webhook_secret = str(secret) if secret is not None else None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        self._wake_pollers()
        return True

    def _delete_webhook(self, params: JSONDict) -> bool:
        """deleteWebhook: forget URL and secret; optionally drop pending updates."""
        self.webhook_url = ""
        self.webhook_secret = None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _get_webhook_info(self, _params: JSONDict) -> JSONDict:
        """getWebhookInfo."""
        info: JSONDict = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook_url:
            info["max_connections"] = 40
        return info

    def _get_chat(self, params: JSONDict) -> JSONDict:
        """getChat: a ChatFullInfo for a known or guessed chat."""
        chat = dict(self.make_chat(_require_chat(params)))
        chat.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                "premium_subscription": False, "gifts_from_channels": False,
            },
        )
        return chat

    def _set_my_commands(self, params: JSONDict) -> bool:
        """setMyCommands: store per scope and language."""
        commands = check_commands(params.get("commands"))
        self.profile.commands[_commands_key(params)] = commands
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        """getMyCommands: what was set for this scope and language."""
        return self.profile.commands.get(_commands_key(params), [])

    def _delete_my_commands(self, params: JSONDict) -> bool:
        """deleteMyCommands: forget commands for this scope and language."""
        self.profile.commands.pop(_commands_key(params), None)
        return True

    def _profile_setter(self, attr: str, key: str) -> Callable[[JSONDict], bool]:
        """Build setMyName/setMyDescription/setMyShortDescription."""

        def setter(params: JSONDict) -> bool:
            values: dict[str, str] = getattr(self.profile, attr)
            language = str(params.get("language_code") or "")
            if params.get(key):
                values[language] = str(params[key])
            else:
                values.pop(language, None)
            return True

        return setter

    def _profile_getter(self, attr: str, key: str) -> Callable[[JSONDict], JSONDict]:
        """Build getMyName/getMyDescription/getMyShortDescription (falling back to default)."""

        def getter(params: JSONDict) -> JSONDict:
            values: dict[str, str] = getattr(self.profile, attr)
            language = str(params.get("language_code") or "")
            default = self.bot_user["first_name"] if key == "name" else ""
            return {key: values.get(language, values.get("", default))}

        return getter


def _returns_true(_params: JSONDict) -> bool:
    """Methods whose only answer is ``true``."""
    return True


def _require_chat(params: Mapping[str, Any]) -> Any:
    """Return chat_id or raise Telegram's 400."""
    chat_id = params.get("chat_id")
    if chat_id in (None, ""):
        raise ApiError(400, "Bad Request: chat_id is empty")
    return chat_id


def _require_message(params: Mapping[str, Any]) -> tuple[Any, int]:
    """Return (chat_id, message_id) or raise Telegram's 400."""
    chat_id = _require_chat(params)
    message_id = params.get("message_id")
    if not isinstance(message_id, int):
        raise ApiError(400, "Bad Request: message identifier is not specified")
    return chat_id, message_id


def _inline_markup(markup: Any) -> JSONDict | None:
    """Only inline keyboards are echoed back inside a Message."""
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


def _commands_key(params: Mapping[str, Any]) -> tuple[str, str]:
    """Storage key of a command list: (scope JSON, language_code)."""
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def _photo_sizes(unique: int) -> list[JSONDict]:
    """Two PhotoSize objects as Telegram returns for a photo."""
    return [
        {"file_id": f"photo-{unique}-s", "file_unique_id": f"ps{unique}", "width": 90,
         "height": 90, "file_size": 1024},
        {"file_id": f"photo-{unique}-m", "file_unique_id": f"pm{unique}", "width": 800,
         "height": 800, "file_size": 65536},
    ]


def _guess_chat(chat_id: Any, chat_type: str | None) -> JSONDict:
    """Build a Chat whose type follows Telegram's id conventions unless given."""
    if isinstance(chat_id, str):
        fake_id = -1_000_000_000_000 - zlib.crc32(chat_id.encode())
        return {"id": fake_id, "type": "channel", "title": chat_id, "username": chat_id[1:]}
    if chat_type is None:
        if chat_id > 0:
            chat_type = "private"
        elif chat_id <= -1_000_000_000_000:
            chat_type = "supergroup"
        else:
            chat_type = "group"
    if chat_type == "private":
        return {"id": chat_id, "type": "private", "first_name": "Test"}
    return {"id": chat_id, "type": chat_type, "title": f"Test {chat_type}"}


# --------------------------------------------------------------------- control API
def add_control_routes(app: web.Application, server: FakeBotApi) -> None:
    """Register the ``/_control/*`` routes, thin wrappers over ``server``."""
    control = _ControlRoutes(server)
    app.router.add_post("/_control/updates", control.updates)
    app.router.add_post("/_control/messages", control.messages)
    app.router.add_get("/_control/calls", control.calls)
    app.router.add_post("/_control/fail", control.fail)
    app.router.add_post("/_control/clear", control.clear)
    app.router.add_get("/_control/stats", control.stats)
    app.router.add_get("/_control/wait_messages", control.wait_messages)
    app.router.add_post("/_control/latency", control.latency)
    app.router.add_post("/_control/webhook", control.webhook)


class _ControlRoutes:
    """HTTP handlers of the control API."""

    def __init__(self, server: FakeBotApi) -> None:
        self.server = server

    async def updates(self, request: web.Request) -> web.Response:
        """Queue a JSON list of updates (or ``{"updates": [...]}``)."""
        body = await request.json()
        updates = body["updates"] if isinstance(body, dict) else body
        return web.json_response({"update_ids": self.server.add_updates(updates)})

    async def messages(self, request: web.Request) -> web.Response:
        """Queue text messages: a list of make_message_update keyword dicts."""
        ids = [
            self.server.add_update(self.server.make_message_update(**item))
            for item in await request.json()
        ]
        return web.json_response({"update_ids": ids})

    async def calls(self, request: web.Request) -> web.Response:
        """Journal entries from index ``since`` on, optionally of one ``method``."""
        since = int(request.query.get("since", "0"))
        method = request.query.get("method")
        entries = itertools.islice(self.server.calls, since, None)
        calls = [c.to_json() for c in entries if method is None or c.method == method]
        return web.json_response({"calls": calls, "next": len(self.server.calls)})

    async def fail(self, request: web.Request) -> web.Response:
        """Inject a fault: a JSON object of fail_next keyword arguments."""
        self.server.fail_next(**await request.json())
        return web.json_response({"ok": True})

    async def clear(self, request: web.Request) -> web.Response:
        """Empty the journal and counters."""
        self.server.clear()
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        """Counts per method and queue size."""
        return web.json_response(self.server.stats())

    async def wait_messages(self, request: web.Request) -> web.Response:
        """Block until ``n`` messages were sent (to ``chat_id``); 408 on ``timeout``."""
        query = request.query
        n = int(query.get("n", "1"))
        chat_id = normalise_chat_id(query.get("chat_id"))
        timeout = float(query.get("timeout", "10"))
        try:
            await self.server.wait_for(lambda: self.server.sent_count(chat_id) >= n, timeout)
        except TimeoutError:
            return web.json_response({"ok": False, "stats": self.server.stats()}, status=408)
        return web.json_response({"ok": True, "count": self.server.sent_count(chat_id)})

    async def latency(self, request: web.Request) -> web.Response:
        """Set the artificial per-call latency in seconds."""
        self.server.latency = float((await request.json())["seconds"])
        return web.json_response({"ok": True})

    async def webhook(self, request: web.Request) -> web.Response:
        """Push one update to the registered webhook: ``{"update": {...}, "url"?: ...}``."""
        body = await request.json()
        status = await self.server.push_webhook(body.get("url"), body["update"])
        return web.json_response({"status": status})


class ControlClient:
    """Async client for the control API of a fake running in another process."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self._session: ClientSession | None = None

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one control request and return the decoded JSON."""
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=120))
        async with self._session.request(method, self.root + path, **kwargs) as response:
            return await response.json()

    async def add_updates(self, updates: list[JSONDict]) -> list[int]:
        """Queue updates; return their ids."""
        body = await self._request("POST", "/_control/updates", json=updates)
        return list(body["update_ids"])

    async def add_messages(self, messages: list[JSONDict]) -> list[int]:
        """Queue text messages given as make_message_update keyword dicts."""
        body = await self._request("POST", "/_control/messages", json=messages)
        return list(body["update_ids"])

    async def calls(self, since: int = 0, method: str | None = None) -> tuple[list[JSONDict], int]:
        """Journal entries from ``since``; also return the next index."""
        query = {"since": str(since), **({"method": method} if method else {})}
        body = await self._request("GET", "/_control/calls", params=query)
        return list(body["calls"]), int(body["next"])

    async def fail(self, **kwargs: Any) -> None:
        """Inject a fault (fail_next keyword arguments)."""
        await self._request("POST", "/_control/fail", json=kwargs)

    async def clear(self) -> None:
        """Empty the journal and counters."""
        await self._request("POST", "/_control/clear")

    async def stats(self) -> JSONDict:
        """Counts per method and queue size."""
        return dict(await self._request("GET", "/_control/stats"))

    async def wait_messages(
        self, n: int, chat_id: ChatId | None = None, timeout: float = 10.0  # noqa: ASYNC109
    ) -> bool:
        """Wait until ``n`` messages were sent; False on timeout."""
        query = {"n": str(n), "timeout": str(timeout)}
        if chat_id is not None:
            query["chat_id"] = str(chat_id)
        body = await self._request("GET", "/_control/wait_messages", params=query)
        return bool(body["ok"])

    async def set_latency(self, seconds: float) -> None:
        """Set the per-call latency."""
        await self._request("POST", "/_control/latency", json={"seconds": seconds})

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class FakeBotApiProcess:
    """Run the fake as ``python -m tests.fakes.telegram_api`` in a child process."""

    def __init__(self, *, port: int = 0, latency: float = 0.0, full_params: bool = False) -> None:
        self.port = port
        self.latency = latency
        self.full_params = full_params
        self.root = ""
        self.process: asyncio.subprocess.Process | None = None
        self.control: ControlClient | None = None
        # `-m tests.fakes.telegram_api` must run from the project root.
        self.cwd = str(Path(__file__).resolve().parents[2])

    @property
    def base_url(self) -> str:
        """PTB's ``base_url`` for this process."""
        return f"{self.root}/bot"

    async def start(self, ready_timeout: float = 15.0) -> None:
        """Start the child and wait for its READY line."""
        args = ["-m", "tests.fakes.telegram_api", "--port", str(self.port)]
        args += ["--latency", str(self.latency)] + (["--full-params"] if self.full_params else [])
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), ready_timeout)
        if not line.startswith(b"READY "):
            await self.stop()
            raise RuntimeError(f"fake Bot API process did not start: {line!r}")
        self.root = line.decode().split()[1]
        self.control = ControlClient(self.root)

    async def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after 5 s)."""
        if self.control is not None:
            await self.control.close()
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 5.0)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def __aenter__(self) -> FakeBotApiProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


# --------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line of the stand-alone server."""
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    parser.add_argument("--username", default="reclaim_test_bot")
    parser.add_argument("--token", default=None, help="accept only this token")
    parser.add_argument(
        "--full-params", action="store_true", help="journal all parameters (uses more memory)"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Serve until SIGINT or SIGTERM; print ``READY <root>`` once listening."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = FakeBotApi(
        host=args.host, port=args.port, latency=args.latency, username=args.username,
        token=args.token, store_params=args.full_params,
    )
    async with server:
        print(f"READY {server.root}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m tests.fakes.telegram_api``."""
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
