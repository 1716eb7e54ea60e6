"""A real matrix-nio client acting as a human test user against the Synapse harness."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias

from nio import (
    AsyncClient,
    AsyncClientConfig,
    EncryptionError,
    ErrorResponse,
    ForwardedRoomKeyEvent,
    InviteMemberEvent,
    JoinResponse,
    LocalProtocolError,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    RoomCreateResponse,
    RoomKeyEvent,
    RoomMessageNotice,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)

logger = logging.getLogger(__name__)

MessageEvent: TypeAlias = RoomMessageText | RoomMessageNotice
MessagePredicate: TypeAlias = Callable[[MessageEvent], bool]
MEGOLM_ALGORITHM = "m.megolm.v1.aes-sha2"
ENCRYPTION_STATE = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": MEGOLM_ALGORITHM},
}


class MatrixUserError(RuntimeError):
    """A Matrix request made by a test user failed."""


def _check(resp: Any, expected: type, what: str) -> Any:
    """Raise MatrixUserError unless resp is of the expected response type."""
    if not isinstance(resp, expected):
        detail = resp.message if isinstance(resp, ErrorResponse) else repr(resp)
        status = getattr(resp, "status_code", None)
        raise MatrixUserError(f"{what} failed: {status} {detail}")
    return resp


class MatrixTestUser:
    """A logged-in nio AsyncClient with E2EE, a background sync loop and wait helpers."""

    def __init__(
        self,
        homeserver_url: str,
        user_id: str,
        password: str,
        store_path: Path | str,
        *,
        device_id: str | None = None,
        encryption: bool = True,
        auto_join: bool = False,
        sync_timeout_ms: int = 5000,
    ) -> None:
        """Create the client; nothing talks to the server until login()."""
        self.user_id = user_id
        self.password = password
        self.store_path = Path(store_path)
        self.store_path.mkdir(parents=True, exist_ok=True)
        self.auto_join = auto_join
        self.sync_timeout_ms = sync_timeout_ms
        config = AsyncClientConfig(
            encryption_enabled=encryption,
            store_sync_tokens=True,
            # Fail instead of hanging: nio retries 429s and timeouts forever by default.
            max_limit_exceeded=5,
            max_timeouts=5,
            request_timeout=30,
        )
        self.client = AsyncClient(
            homeserver_url,
            user_id,
            device_id=device_id or "",
            store_path=str(self.store_path),
            config=config,
        )
        self.messages: list[tuple[str, MessageEvent]] = []
        self.undecrypted: list[tuple[str, MegolmEvent]] = []
        self._consumed: set[str] = set()
        self._changed: asyncio.Condition | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._sync_error: BaseException | None = None
        self._requested_sessions: set[str] = set()
        self._register_callbacks()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        """Device id of this login (reuse it with the same store_path to keep E2EE keys)."""
        return str(self.client.device_id)

    @property
    def encrypted(self) -> bool:
        """True when this client can do E2EE."""
        return self.client.olm is not None

    async def login(self) -> None:
        """Password login; nio loads (or creates) the key store for user+device."""
        resp = await self.client.login(self.password, device_name="test-user")
        _check(resp, LoginResponse, "login")
        logger.debug("test user logged in device=%s", self.client.device_id)

    async def start(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """Login if needed, start the sync loop and wait for the first sync and key upload."""
        if not self.client.access_token:
            await self.login()
        self._sync_task = asyncio.create_task(self._sync_loop(), name=f"sync-{self.device_id}")
        try:
            # Keys must be on the server before anyone shares a room key with this device.
            await self._wait_until(self._initial_sync_done, timeout, "first sync and key upload")
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop the sync loop and close the HTTP session (the key store stays on disk)."""
        if self._sync_task is not None:
            self._sync_task.cancel()
            try:
                await self._sync_task
            except (asyncio.CancelledError, Exception):
                pass
            self._sync_task = None
        await self.client.close()

    async def __aenter__(self) -> MatrixTestUser:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _sync_loop(self) -> None:
        """Run nio's sync_forever, which also uploads/queries/claims keys and sends to-device."""
        try:
            # full_state=True: with a stored sync token nio would otherwise start without rooms.
            await self.client.sync_forever(timeout=self.sync_timeout_ms, full_state=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("sync loop of a test user died")
            self._sync_error = exc
            await self._notify()

    def _initial_sync_done(self) -> bool:
        if self.client.next_batch is None or not self.client.next_batch:
            return False
        olm = self.client.olm
        return olm is None or bool(olm.account.shared)

    # -- callbacks -------------------------------------------------------------------------

    def _register_callbacks(self) -> None:
        self.client.add_event_callback(self._on_message, (RoomMessageText, RoomMessageNotice))
        self.client.add_event_callback(self._on_undecryptable, MegolmEvent)
        self.client.add_event_callback(self._on_invite, InviteMemberEvent)
        self.client.add_to_device_callback(self._on_room_key, (RoomKeyEvent, ForwardedRoomKeyEvent))
        self.client.add_response_callback(self._on_sync, SyncResponse)

    async def _on_message(self, room: MatrixRoom, event: MessageEvent) -> None:
        self.messages.append((room.room_id, event))
        await self._notify()

    async def _on_undecryptable(self, room: MatrixRoom, event: MegolmEvent) -> None:
        """Keep the event for a retry once its room key arrives, and ask for the key."""
        logger.debug("undecryptable event in a test room, session %s", event.session_id)
        self.undecrypted.append((room.room_id, event))
        if event.session_id in self._requested_sessions:
            return
        self._requested_sessions.add(event.session_id)
        try:
            await self.client.request_room_key(event)
        except LocalProtocolError:
            pass  # already requested by nio itself

    async def _on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        """Auto-join only our own invites (nio fires this for every invite-state member)."""
        if not self.auto_join or event.state_key != self.user_id:
            return
        if event.membership != "invite":
            return
        resp = await self.client.join(room.room_id)
        if not isinstance(resp, JoinResponse):
            logger.warning("auto-join of a test user failed: %s", resp)

    async def _on_room_key(self, event: Any) -> None:
        self._retry_undecrypted()
        await self._notify()

    async def _on_sync(self, response: SyncResponse) -> None:
        self._retry_undecrypted()
        await self._notify()

    def _retry_undecrypted(self) -> None:
        """Try undecrypted events again; a later to-device message may have brought the key."""
        if not self.undecrypted or self.client.olm is None:
            return
        still: list[tuple[str, MegolmEvent]] = []
        for room_id, event in self.undecrypted:
            try:
                decrypted = self.client.decrypt_event(event)
            except EncryptionError:
                still.append((room_id, event))
                continue
            if isinstance(decrypted, RoomMessageText | RoomMessageNotice):
                self.messages.append((room_id, decrypted))
        self.undecrypted = still

    # -- waiting ---------------------------------------------------------------------------

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        cond = self._condition()
        async with cond:
            cond.notify_all()

    async def _wait_until(
        self,
        check: Callable[[], bool],
        limit_s: float,
        what: str,
    ) -> None:
        """Wait until check() is true, re-checking after every sync or callback."""
        deadline = time.monotonic() + limit_s
        cond = self._condition()
        while True:
            if self._sync_error is not None:
                raise MatrixUserError(f"sync loop died: {self._sync_error!r}")
            if check():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {limit_s}s waiting for {what}")
            async with cond:
                try:
                    # Short cap: some state (e.g. key queries) changes without a callback.
                    await asyncio.wait_for(cond.wait(), min(remaining, 0.5))
                except TimeoutError:
                    pass

    async def wait_for_room(
        self,
        room_id: str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> MatrixRoom:
        """Wait until the room appears in this client's synced state."""
        await self._wait_until(lambda: room_id in self.client.rooms, timeout, "room")
        room: MatrixRoom = self.client.rooms[room_id]
        return room

    def _is_joined(self, room_id: str, user_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        # nio's room.users includes invitees; joined = in users and not in invited_users.
        return room is not None and user_id in room.users and user_id not in room.invited_users

    async def wait_for_join(
        self,
        room_id: str,
        user_id: str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until this client's view of the room shows user_id as joined."""
        await self._wait_until(lambda: self._is_joined(room_id, user_id), timeout, "join")

    async def wait_for_message(
        self,
        room_id: str,
        predicate: MessagePredicate | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> MessageEvent:
        """Return the oldest not yet returned text/notice from another sender in room_id."""
        found: list[MessageEvent] = []

        def check() -> bool:
            for msg_room, event in self.messages:
                if msg_room != room_id or event.event_id in self._consumed:
                    continue
                if event.sender == self.user_id:
                    continue
                if predicate is not None and not predicate(event):
                    continue
                found.append(event)
                return True
            return False

        try:
            await self._wait_until(check, timeout, "message")
        except TimeoutError as exc:
            pending = sum(1 for r, _ in self.undecrypted if r == room_id)
            raise TimeoutError(f"{exc} ({pending} undecryptable events in the room)") from exc
        event = found[0]
        self._consumed.add(event.event_id)
        return event

    # -- actions ---------------------------------------------------------------------------

    async def create_dm(
        self,
        other_user_id: str,
        *,
        encrypted: bool = True,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> str:
        """Create a direct chat inviting other_user_id; wait until it is synced here."""
        initial_state = [ENCRYPTION_STATE] if encrypted else []
        resp = await self.client.room_create(
            is_direct=True,
            invite=[other_user_id],
            preset=RoomPreset.trusted_private_chat,
            initial_state=initial_state,
        )
        room_id: str = _check(resp, RoomCreateResponse, "room_create").room_id
        await self._wait_until(
            lambda: room_id in self.client.rooms and (not encrypted or self.client.rooms[room_id].encrypted),
            timeout,
            "created room",
        )
        return room_id

    async def join(self, room_id: str) -> None:
        """Join a room by id and wait until the join is synced."""
        _check(await self.client.join(room_id), JoinResponse, "join")
        await self.wait_for_join(room_id, self.user_id)

    async def prepare_encryption(
        self,
        room_id: str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Make sure we know every member's devices before nio shares the room key."""
        client = self.client
        room = await self.wait_for_room(room_id, timeout)
        if not room.encrypted or client.olm is None:
            return
        if not room.members_synced:
            await client.joined_members(room_id)

        def all_devices_known() -> bool:
            for user_id in room.users:
                if user_id == self.user_id:
                    continue
                if not list(client.device_store.active_user_devices(user_id)):
                    return False
            return not client.should_query_keys

        deadline = time.monotonic() + timeout
        while not all_devices_known():
            if client.should_query_keys:
                try:
                    await client.keys_query()
                except LocalProtocolError:
                    pass  # the sync loop's own query emptied the set meanwhile
            if all_devices_known():
                break
            if time.monotonic() > deadline:
                # A member without E2EE devices: nio sends anyway, they just cannot read it.
                logger.warning("sending without device keys for some room members")
                break
            await asyncio.sleep(0.1)

    async def send_text(self, room_id: str, body: str, *, notice: bool = False) -> str:
        """Send m.text (or m.notice); encrypted automatically when the room is encrypted."""
        await self.prepare_encryption(room_id)
        content = {"msgtype": "m.notice" if notice else "m.text", "body": body}
        resp = await self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        event_id: str = _check(resp, RoomSendResponse, "room_send").event_id
        return event_id
