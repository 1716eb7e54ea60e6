"""The Matrix bot: a matrix-nio client with end-to-end encryption that talks to the core.

One sync loop per bot account (run it in exactly one process). Each sync is handled in three
steps: nio's callbacks only *note* what arrived (invites, messages, departures), then the bot
does the work (joins, answers, leaves), and only then stores the sync token: a crash never
skips a message, and a restart never answers one twice (only a crash in the middle of a sync
can repeat that one sync's answers). See PLATFORMS.md §2.3.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    Event,
    ForwardedRoomKeyEvent,
    InviteMemberEvent,
    LocalProtocolError,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    RoomKeyEvent,
    RoomMemberEvent,
    RoomMessageText,
    SyncError,
    WhoamiResponse,
)
from nio.crypto import ENCRYPTION_ENABLED

from bots.matrix.choices import Choices
from bots.matrix.errors import (
    TRANSIENT_EXCEPTIONS,
    error_for_exception,
    error_for_response,
    http_status,
    is_rate_limited,
    retry_after,
)
from bots.matrix.inbound import Typed, read_text
from bots.matrix.privacy import PurgeResult, install_log_redaction, purge_user
from bots.matrix.render import edit_content, render_replies
from bots.matrix.session import Session, SessionFiles
from handlers.messages import MATRIX, ConversationId, Incoming, Reply, UserKey
from handlers.ports import (
    PermanentFailure,
    RateLimited,
    RecipientGone,
    TemporaryFailure,
)
from handlers.router import Core

log = logging.getLogger(__name__)

SYNC_TIMEOUT_MS = 30_000
#: Messages sent up to this long before the bot joined a room are still answered (clients
#: such as Element create a direct chat together with its first message).
JOIN_GRACE_MS = 5 * 60 * 1000
MAX_REPLY_WAIT_S = 120.0
MAX_SEND_ATTEMPTS = 6
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 60.0
STOP_GRACE_S = 10.0
MAX_UNDECRYPTED = 200
DEVICE_NAME = "reclaim-bot"
TOKEN_ERRORS = frozenset({"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"})


class MatrixAuthError(RuntimeError):
    """The homeserver refused the configured credentials: retrying will not help."""


class SyncFailed(Exception):
    """A sync request came back with an error response."""

    def __init__(self, resp: ErrorResponse) -> None:
        super().__init__(str(resp.status_code or http_status(resp)))
        self.resp = resp


@dataclass(frozen=True, slots=True)
class Pending:
    """A message noted during a sync, answered once the sync's events are all in."""

    room_id: str
    sender: str
    typed: Typed
    is_group: bool


def now_ms() -> int:
    """Return the wall clock in milliseconds (Matrix timestamps are epoch milliseconds)."""
    return int(time.time() * 1000)


class MatrixBot:
    """The Matrix component of ``serve`` and the Matrix :class:`~handlers.ports.Sender`."""

    name = "matrix"
    platform = MATRIX

    def __init__(self, core: Core, *, sync_timeout_ms: int = SYNC_TIMEOUT_MS,
                 max_reply_wait: float = MAX_REPLY_WAIT_S,
                 backoff_max: float = BACKOFF_MAX_S) -> None:
        settings = core.deps.settings
        if not settings.matrix_enabled:
            raise ValueError("Matrix is not configured (RECLAIM_MATRIX_*)")
        self.core = core
        self.settings = settings
        self.files = SessionFiles(settings.data_dir)
        self.choices = Choices()
        self.sync_timeout_ms = sync_timeout_ms
        self.max_reply_wait = max_reply_wait
        self.backoff_max = backoff_max
        self.client: AsyncClient | None = None
        self.ready = asyncio.Event()
        self.last_purge: PurgeResult | None = None
        self._task: asyncio.Task[None] | None = None
        self._since: str | None = None
        self._cutoff_ms = 0
        self._started_ms = 0
        self._connected_once = False
        self._display_name: str | None = None
        self._join_cutoff: dict[str, int] = {}
        self._queue: dict[str, list[Pending]] = {}
        self._invites: dict[str, str] = {}
        self._departed: dict[str, set[str]] = {}
        self._kicked: set[str] = set()
        self._key_requests: list[MegolmEvent] = []
        self._undecrypted: deque[tuple[MatrixRoom, MegolmEvent]] = deque(maxlen=MAX_UNDECRYPTED)
        self._room_key_arrived = False
        self._crypto_lock = asyncio.Lock()
        self._busy: set[str] = set()
        self._purge_after: set[str] = set()
        self._processing = False
        self._stopping = False
        self._rooms_known = False

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        """The bot's Matrix id."""
        return str(self.settings.matrix_user_id)

    @property
    def device_id(self) -> str | None:
        """The device this bot logged in as (kept across restarts)."""
        return str(self.client.device_id) if self.client and self.client.device_id else None

    async def start(self) -> None:
        """Log in (or restore the stored login), sync once, then keep syncing in the background."""
        install_log_redaction()
        self.files.prepare()
        self._stopping = False
        self._started_ms = now_ms()
        self.client = self._make_client()
        self._register_callbacks(self.client)
        if self.forget_user not in self.core.deps.forget_hooks:
            self.core.deps.forget_hooks.append(self.forget_user)
        try:
            await self._connect()
        except MatrixAuthError:
            self.core.deps.forget_hooks.remove(self.forget_user)
            await self.client.close()
            raise
        except Exception as exc:
            log.warning("Matrix homeserver not reachable yet (%s); retrying in the background",
                        type(exc).__name__)
        self._task = asyncio.create_task(self._run(), name="matrix-sync")

    async def stop(self) -> None:
        """Finish the answers in progress, stop syncing and close the connection."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            if not self._processing:
                task.cancel()
            done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_S)
            if not done:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(ValueError):
            self.core.deps.forget_hooks.remove(self.forget_user)
        if self.client is not None:
            await self.client.close()
        self.ready.clear()

    def _make_client(self) -> AsyncClient:
        if not ENCRYPTION_ENABLED:
            log.warning("matrix-nio has no E2EE support installed: encrypted rooms stay unreadable")
        config = AsyncClientConfig(
            encryption_enabled=ENCRYPTION_ENABLED,
            # nio would save the token *before* the events are handled; we save it after.
            store_sync_tokens=False,
            # 429s and network errors come back to us, so each caller decides: a reply waits,
            # a broadcast gets RateLimited and lets its worker schedule.
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=30,
        )
        return AsyncClient(str(self.settings.matrix_homeserver), self.user_id,
                           store_path=str(self.files.store_path), config=config)

    def _register_callbacks(self, client: AsyncClient) -> None:
        client.add_event_callback(self._on_event, (Event, InviteMemberEvent))
        client.add_to_device_callback(self._on_room_key, (RoomKeyEvent, ForwardedRoomKeyEvent))

    # -- login ---------------------------------------------------------------------------

    async def _connect(self) -> None:
        """Log in, load the crypto store and run the first (full-state) sync."""
        client = self._require_client()
        await self._login(client)
        self.core.deps.handles[MATRIX] = self.user_id
        if not self._connected_once:
            self._since = self.files.load_sync_token(self.user_id, str(client.device_id))
            # No token: a first start. Old history must not be answered (PLATFORMS.md §2.3).
            self._cutoff_ms = 0 if self._since else self._started_ms
        await self._load_display_name(client)
        await self._sync_once(first=True)
        self._connected_once = True
        self.ready.set()
        log.info("Matrix connected (encryption %s)", "on" if client.olm else "off")

    async def _login(self, client: AsyncClient) -> None:
        homeserver = str(self.settings.matrix_homeserver)
        stored = self.files.load_session(homeserver, self.user_id)
        if self.settings.matrix_access_token:
            await self._use_access_token(client, self.settings.matrix_access_token, stored)
        elif stored is not None and await self._restore(client, stored):
            pass
        else:
            await self._password_login(client, stored.device_id if stored else None)
        self.files.save_session(Session(homeserver, self.user_id, str(client.device_id),
                                        client.access_token))

    async def _restore(self, client: AsyncClient, stored: Session) -> bool:
        """Reuse the stored token; False when the homeserver no longer accepts it."""
        client.restore_login(stored.user_id, stored.device_id, stored.access_token)
        resp = await client.whoami()
        if isinstance(resp, WhoamiResponse):
            return True
        if resp.status_code in TOKEN_ERRORS or http_status(resp) == 401:
            log.warning("the stored Matrix access token was rejected; logging in again")
            client.access_token = ""
            return False
        raise error_for_response(resp)

    async def _password_login(self, client: AsyncClient, device_id: str | None) -> None:
        if not self.settings.matrix_password:
            raise MatrixAuthError("RECLAIM_MATRIX_ACCESS_TOKEN was rejected and no password is set")
        # The same device id keeps the device (and the keys others know for it).
        client.device_id = device_id
        resp = await client.login(self.settings.matrix_password, device_name=DEVICE_NAME)
        if isinstance(resp, LoginResponse):
            return
        if resp.status_code in ("M_FORBIDDEN", "M_USER_DEACTIVATED", "M_INVALID_USERNAME"):
            raise MatrixAuthError(f"Matrix login refused: {resp.status_code}")
        raise error_for_response(resp)

    async def _use_access_token(self, client: AsyncClient, token: str,
                                stored: Session | None) -> None:
        client.access_token = token
        client.user_id = self.user_id
        resp = await client.whoami()
        if not isinstance(resp, WhoamiResponse):
            if resp.status_code in TOKEN_ERRORS or http_status(resp) == 401:
                raise MatrixAuthError("RECLAIM_MATRIX_ACCESS_TOKEN was rejected")
            raise error_for_response(resp)
        if resp.user_id != self.user_id:
            raise MatrixAuthError("RECLAIM_MATRIX_ACCESS_TOKEN belongs to another user")
        device_id = resp.device_id or (stored.device_id if stored else None)
        if not device_id:
            raise MatrixAuthError("the homeserver did not say which device the access token is for")
        client.restore_login(self.user_id, device_id, token)

    async def _load_display_name(self, client: AsyncClient) -> None:
        with contextlib.suppress(Exception):
            resp = await client.get_displayname()
            name = getattr(resp, "displayname", None)
            self._display_name = name if isinstance(name, str) and name else None

    # -- the sync loop -------------------------------------------------------------------

    async def _run(self) -> None:
        """Sync until stopped; no event and no error ends the loop, only stop() does."""
        failures = 0
        while not self._stopping:
            try:
                if self.ready.is_set():
                    await self._sync_once(first=False)
                else:
                    await self._connect()
                failures = 0
            except asyncio.CancelledError:
                raise
            except MatrixAuthError as exc:
                log.error("Matrix login failed, the Matrix bot stops: %s", exc)
                return
            except Exception as exc:
                failures += 1
                await asyncio.sleep(self._delay_after(exc, failures))

    def _delay_after(self, exc: Exception, failures: int) -> float:
        """Log a failed round and return how long to wait; never raises."""
        try:
            if isinstance(exc, SyncFailed):
                return self._after_sync_error(exc.resp, failures)
            delay = self._backoff(failures)
            expected = isinstance(exc, (TemporaryFailure, *TRANSIENT_EXCEPTIONS))
            log.warning("Matrix sync failed (%s); retrying in %.0f s", type(exc).__name__, delay,
                        exc_info=not expected)
            return delay
        except Exception:
            log.exception("Matrix sync error handling failed")
            return self.backoff_max

    def _backoff(self, failures: int) -> float:
        return float(min(self.backoff_max, BACKOFF_START_S * 2 ** min(failures - 1, 16)))

    def _after_sync_error(self, resp: ErrorResponse, failures: int) -> float:
        """Return how long to wait after a failed sync (and log in again if the token died)."""
        if is_rate_limited(resp):
            return retry_after(resp)
        if resp.status_code in TOKEN_ERRORS or http_status(resp) == 401:
            log.warning("Matrix access token no longer accepted; logging in again")
            self.ready.clear()
        delay = self._backoff(failures)
        log.warning("Matrix sync error %s; retrying in %.0f s",
                    resp.status_code or http_status(resp), delay)
        return delay

    async def _sync_once(self, *, first: bool) -> None:
        """One sync: note what arrived, act on it, then remember the token."""
        client = self._require_client()
        self._reset_notes()
        # nio's own next_batch already moved when a sync's handling failed: resume from ours.
        client.next_batch = self._since or ""
        resp = await client.sync(timeout=0 if first else self.sync_timeout_ms,
                                 since=self._since, full_state=True if first else None)
        if isinstance(resp, SyncError):
            raise SyncFailed(resp)
        # nio ignores the "leave" section: a kick or ban shows up only here.
        self._kicked.update(room_id for room_id in resp.rooms.leave if room_id in client.rooms)
        self._rooms_known = True
        self._processing = True
        try:
            await self._act(first)
        finally:
            self._processing = False
        self._since = resp.next_batch
        self.files.save_sync_token(self.user_id, str(client.device_id), resp.next_batch)

    def _reset_notes(self) -> None:
        self._queue = {}
        self._invites = {}
        self._departed = {}
        self._kicked = set()
        self._key_requests = []

    async def _act(self, first: bool) -> None:
        """Do what the sync asked for; a failing step is logged and the next one still runs."""
        steps: tuple[tuple[str, Callable[[], Awaitable[None]]], ...] = (
            ("key upkeep", self._crypto_upkeep),
            ("invite handling", self._handle_invites),
            ("departure handling", lambda: self._handle_departures(first)),
            ("decryption retry", self._retry_undecrypted),
            ("room key request", self._request_keys),
        )
        for what, step in steps:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Matrix %s failed: %s", what, type(exc).__name__)
        queue, self._queue = self._queue, {}
        await asyncio.gather(*(self._answer_room(items) for items in queue.values()))
        self._prune_join_cutoffs()

    # -- callbacks: note only, never fail ------------------------------------------------

    async def _on_event(self, room: MatrixRoom, event: Any) -> None:
        """Sort one timeline or invite event into the notes; any error is logged, not raised."""
        try:
            if isinstance(event, InviteMemberEvent):
                self._note_invite(event, room)
            elif isinstance(event, RoomMessageText):
                self._note_message(room, event)
            elif isinstance(event, MegolmEvent):
                self._note_undecrypted(room, event)
            elif isinstance(event, RoomMemberEvent):
                self._note_membership(room, event)
        except Exception:
            log.exception("a Matrix event could not be handled")

    async def _on_room_key(self, _event: Any) -> None:
        """A room key arrived: undecryptable messages get another try after this sync."""
        self._room_key_arrived = True

    def _note_invite(self, event: InviteMemberEvent, room: MatrixRoom) -> None:
        # nio fires this for every member state of the invite, the inviter's own included.
        if event.state_key == self.user_id and event.membership == "invite":
            self._invites[room.room_id] = event.sender

    def _note_message(self, room: MatrixRoom, event: RoomMessageText) -> None:
        client = self._require_client()
        if event.sender == self.user_id or room.room_id not in client.rooms:
            return
        if event.server_timestamp < max(self._cutoff_ms, self._join_cutoff.get(room.room_id, 0)):
            return
        direct = room.member_count <= 2
        content = event.source.get("content") if isinstance(event.source, dict) else None
        typed = read_text(event.body, content if isinstance(content, dict) else {},
                          own_id=self.user_id, names=self._names(room), direct=direct)
        if typed is not None:
            self._queue.setdefault(room.room_id, []).append(
                Pending(room.room_id, event.sender, typed, is_group=not direct))

    def _note_undecrypted(self, room: MatrixRoom, event: MegolmEvent) -> None:
        log.warning("could not decrypt a Matrix message (room key missing); requesting the key")
        self._undecrypted.append((room, event))
        self._key_requests.append(event)

    def _note_membership(self, room: MatrixRoom, event: RoomMemberEvent) -> None:
        if event.membership not in ("leave", "ban"):
            return
        if event.state_key == self.user_id:
            self._kicked.add(room.room_id)
        else:
            self._departed.setdefault(room.room_id, set()).add(event.state_key)

    def _names(self, room: MatrixRoom) -> tuple[str, ...]:
        names = {self._display_name or ""}
        member = room.users.get(self.user_id)
        if member is not None and member.display_name:
            names.add(member.display_name)
        return tuple(name for name in names if len(name) >= 2)

    # -- acting on the notes ---------------------------------------------------------------

    async def _handle_invites(self) -> None:
        client = self._require_client()
        allowed = self.settings.matrix_allowed_servers
        for room_id, inviter in self._invites.items():
            server = inviter.partition(":")[2]
            if allowed and server not in allowed:
                log.info("declined a Matrix invite from a homeserver that is not allowed")
                await self._quietly(client.room_leave(room_id), "decline an invite")
                await self._quietly(client.room_forget(room_id), "forget a declined invite")
                continue
            try:
                resp = await self._with_rate_limit(lambda room_id=room_id: client.join(room_id))
            except Exception as exc:
                log.warning("could not join a Matrix room: %s", type(exc).__name__)
                continue
            if isinstance(resp, ErrorResponse):
                log.warning("could not join a Matrix room: %s", resp.status_code)
                continue
            self._join_cutoff[room_id] = now_ms() - JOIN_GRACE_MS
            log.info("joined a Matrix room")

    async def _handle_departures(self, first: bool) -> None:
        """Leave rooms where nobody else is left; end subscriptions to rooms we are out of."""
        client = self._require_client()
        for room_id in self._kicked:
            await self._forget_room(room_id, set())
        candidates = set(self._departed)
        if first:
            candidates |= set(client.rooms)
        for room_id in candidates - self._kicked:
            room = client.rooms.get(room_id)
            if room is not None and not any(user != self.user_id for user in room.users):
                log.info("leaving a Matrix room where nobody else is left")
                await self._quietly(client.room_leave(room_id), "leave a room")
                await self._forget_room(room_id, self._departed.get(room_id, set()))
        for room_id, users in self._departed.items():
            if room_id in client.rooms:
                self._purge_strangers(users)

    async def _forget_room(self, room_id: str, users: set[str]) -> None:
        """Drop what concerns a room the bot is out of, and people it shares no room with now."""
        client = self._require_client()
        members = set(client.rooms[room_id].users) if room_id in client.rooms else set()
        await self._quietly(client.room_forget(room_id), "forget a room")
        client.rooms.pop(room_id, None)
        self.choices.forget_room(room_id)
        self._join_cutoff.pop(room_id, None)
        try:
            removed = await self.core.deps.store.remove_address(MATRIX, room_id)
        except Exception:
            log.exception("could not end the subscriptions of a Matrix room")
        else:
            if removed:
                log.info("ended %d subscription(s) of a room the bot left", removed)
        self._purge_strangers((members | users) - {self.user_id})

    def _purge_strangers(self, users: set[str]) -> None:
        """Purge the crypto store of people who share no room with the bot any more."""
        client = self._require_client()
        for user in users:
            shares_a_room = any(user in room.users for room in client.rooms.values())
            if user != self.user_id and not shares_a_room:
                self._purge(user)

    async def _retry_undecrypted(self) -> None:
        client = self._require_client()
        if not self._room_key_arrived or not self._undecrypted or client.olm is None:
            return
        self._room_key_arrived = False
        still: deque[tuple[MatrixRoom, MegolmEvent]] = deque(maxlen=MAX_UNDECRYPTED)
        for room, event in self._undecrypted:
            try:
                decrypted = client.decrypt_event(event)
            except Exception:
                still.append((room, event))
                continue
            if isinstance(decrypted, RoomMessageText):
                self._note_message(room, decrypted)
        self._undecrypted = still

    async def _request_keys(self) -> None:
        client = self._require_client()
        for event in self._key_requests:
            await self._quietly(client.request_room_key(event), "request a room key")

    def _prune_join_cutoffs(self) -> None:
        limit = now_ms() - 2 * JOIN_GRACE_MS
        for room_id in [room_id for room_id, cut in self._join_cutoff.items() if cut < limit]:
            del self._join_cutoff[room_id]

    # -- answering -------------------------------------------------------------------------

    async def _answer_room(self, items: list[Pending]) -> None:
        """Answer a room's messages in order (rooms are answered concurrently)."""
        for item in items:
            try:
                await self._answer(item)
            except Exception:
                log.exception("answering a Matrix message failed")

    async def _answer(self, item: Pending) -> None:
        msg = self._incoming(item)
        if msg is None:
            return
        self._busy.add(item.sender)
        try:
            replies = await self.core.handle(msg)
            rendered = render_replies(replies)
            self.choices.remember(item.room_id, item.sender, rendered.actions)
            for content in rendered.contents:
                await self._send_reply(item.room_id, content)
        finally:
            self._busy.discard(item.sender)
            if item.sender in self._purge_after:
                self._purge_after.discard(item.sender)
                self._purge(item.sender)

    def _incoming(self, item: Pending) -> Incoming | None:
        """Build the core's message; None for a room's bare number that answers nothing of ours."""
        typed = item.typed
        base = Incoming(MATRIX, ConversationId(item.room_id), UserKey(item.sender),
                        language_hint=None, is_group=item.is_group)
        if typed.number is not None:
            action = self.choices.pick(item.room_id, item.sender, typed.number)
            if action is not None:
                return replace(base, action=action)
            if item.is_group and not typed.addressed and typed.command is None:
                return None
        if typed.command is not None:
            return replace(base, command=typed.command, args=typed.args, text=typed.text or None)
        return replace(base, text=typed.text)

    async def _send_reply(self, room_id: str, content: dict[str, Any]) -> str | None:
        """Send an answer; wait out rate limits and brief outages (bounded), never raise."""
        waited = 0.0
        for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
            try:
                return await self._send_content(room_id, content)
            except RateLimited as exc:
                log.info("Matrix rate limit: the answer waits %.1f s", exc.retry_after)
                delay = exc.retry_after
            except TemporaryFailure as exc:
                log.debug("a Matrix answer failed for now: %s", exc)
                delay = self._backoff(attempt)
            except (RecipientGone, PermanentFailure) as exc:
                log.warning("a Matrix answer was not delivered: %s", type(exc).__name__)
                return None
            if waited + delay > self.max_reply_wait:
                break
            waited += delay
            await asyncio.sleep(delay)
        log.warning("a Matrix answer was dropped after %.0f s of retries", waited)
        return None

    async def _send_content(self, room_id: str, content: dict[str, Any]) -> str:
        """Send one event; raise a :class:`~handlers.ports.SendError` when it fails."""
        client = self._require_client(send=True)
        if room_id not in client.rooms and room_id in self._join_cutoff:
            raise TemporaryFailure("joined, but the room is not synced yet")
        try:
            await self._prepare_encryption(client, room_id)
            resp = await client.room_send(room_id, "m.room.message", content,
                                          ignore_unverified_devices=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise error_for_exception(exc) from exc
        if isinstance(resp, ErrorResponse):
            raise error_for_response(resp)
        return str(resp.event_id)

    async def _prepare_encryption(self, client: AsyncClient, room_id: str) -> None:
        """Know every member's devices and have Olm sessions with them before encrypting."""
        room = client.rooms.get(room_id)
        if room is None or not room.encrypted or client.olm is None:
            return
        async with self._crypto_lock:
            untracked = set(room.users) - client.olm.tracked_users
            client.olm.users_for_key_query.update(untracked)
            if client.should_query_keys:
                resp = await client.keys_query()
                if isinstance(resp, ErrorResponse):
                    raise error_for_response(resp)
            missing = client.get_missing_sessions(room_id)
            if missing:
                resp = await client.keys_claim(missing)
                if isinstance(resp, ErrorResponse):
                    raise error_for_response(resp)

    async def _crypto_upkeep(self) -> None:
        """Send pending to-device messages; upload, query and claim keys as nio asks."""
        client = self._require_client()
        if client.olm is None:
            return
        async with self._crypto_lock:
            if client.outgoing_to_device_messages:
                await client.send_to_device_messages()
            if client.should_upload_keys:
                self._log_error(await client.keys_upload(), "keys upload")
            if client.should_query_keys:
                self._log_error(await client.keys_query(), "keys query")
            if client.should_claim_keys:
                self._log_error(await client.keys_claim(client.get_users_for_key_claiming()),
                                "keys claim")

    # -- the Sender port (broadcasts, progress messages) ------------------------------------

    async def send(self, address: str, reply: Reply) -> str | None:
        """Send a reply to a room; raise RateLimited, RecipientGone, Temporary/PermanentFailure."""
        rendered = render_replies([reply])
        event_id = await self._send_content(address, rendered.contents[0])
        self._remember_for_direct_partner(address, rendered.actions)
        return event_id

    async def edit(self, address: str, message_id: str, reply: Reply) -> None:
        """Replace an earlier message of the bot with an ``m.replace`` edit."""
        content = edit_content(message_id, render_replies([reply]).contents[0])
        await self._send_content(address, content)

    def _remember_for_direct_partner(self, room_id: str, actions: list[str]) -> None:
        """Let the person of a direct chat answer a broadcast's numbered choices."""
        room = self.client.rooms.get(room_id) if self.client else None
        if room is not None and actions and room.member_count <= 2:
            for user in room.users:
                if user != self.user_id:
                    self.choices.remember(room_id, user, actions)

    # -- forgetting --------------------------------------------------------------------------

    async def forget_user(self, platform: str, user: str) -> None:
        """The /forget hook: drop in-memory traces now, purge the crypto store after the reply."""
        if platform != MATRIX:
            return
        self.choices.forget_user(user)
        self._undecrypted = deque(((room, event) for room, event in self._undecrypted
                                   if event.sender != user), maxlen=MAX_UNDECRYPTED)
        if user in self._busy:
            # The confirmation still has to reach them, encrypted with their current keys.
            self._purge_after.add(user)
        else:
            self._purge(user)

    def _purge(self, user: str) -> None:
        if self.client is None:
            return
        try:
            result = purge_user(self.client, user)
        except Exception:
            log.exception("could not purge a person from the Matrix crypto store")
            return
        self.last_purge = result
        log.info("purged from the Matrix crypto store: %d device(s), %d trust entr(ies), "
                 "%d Olm and %d Megolm session(s)", result.devices, result.trust_entries,
                 result.olm_sessions, result.megolm_sessions)

    # -- helpers ---------------------------------------------------------------------------

    def _require_client(self, *, send: bool = False) -> AsyncClient:
        # Before the first sync the room list is empty: a send would wrongly look "gone".
        if self.client is None or (send and not (self._rooms_known and self.client.logged_in)):
            if send:
                raise TemporaryFailure("Matrix is not connected")
            raise RuntimeError("MatrixBot.start() was not called")
        return self.client

    async def _with_rate_limit(self, call: Any) -> Any:
        """Run a nio call, waiting out 429s up to the reply wait limit."""
        waited = 0.0
        while True:
            resp = await call()
            if not (isinstance(resp, ErrorResponse) and is_rate_limited(resp)):
                return resp
            delay = retry_after(resp)
            if waited + delay > self.max_reply_wait:
                return resp
            waited += delay
            await asyncio.sleep(delay)

    async def _quietly(self, call: Any, what: str) -> None:
        """Await a nio call whose failure only deserves a log line."""
        try:
            resp = await call
        except asyncio.CancelledError:
            raise
        except LocalProtocolError as exc:
            # nio's own refusals ("key already requested", "not in that room"): nothing to do.
            log.debug("did not %s: %s", what, exc)
            return
        except Exception as exc:
            log.warning("could not %s: %s", what, type(exc).__name__)
            return
        self._log_error(resp, what)

    @staticmethod
    def _log_error(resp: Any, what: str) -> None:
        if isinstance(resp, ErrorResponse):
            log.warning("Matrix %s failed: %s", what, resp.status_code or http_status(resp))

