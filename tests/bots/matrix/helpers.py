"""Helpers for the Matrix tests: accounts, rooms and waiting for the bot's answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from nio import RoomCreateResponse, RoomPreset

from bots.matrix.adapter import MatrixBot
from tests.synapse.users import ENCRYPTION_STATE, MatrixTestUser

PASSWORD = "correct horse battery staple"
BOT_PASSWORD = "bot password, long enough"

BotFactory = Callable[..., Awaitable[MatrixBot]]
UserFactory = Callable[[str], Awaitable[MatrixTestUser]]


def unique(prefix: str) -> str:
    """Return a fresh Matrix localpart (every test gets its own accounts)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def create_room(owner: MatrixTestUser, invite: list[str], *, encrypted: bool = False) -> str:
    """Create a private (non-direct) room inviting others; return its id once synced."""
    resp = await owner.client.room_create(
        invite=invite, preset=RoomPreset.private_chat,
        initial_state=[ENCRYPTION_STATE] if encrypted else [])
    assert isinstance(resp, RoomCreateResponse), resp
    await owner.wait_for_room(resp.room_id)
    return str(resp.room_id)


async def wait_until(check: Callable[[], bool], timeout: float = 10.0,  # noqa: ASYNC109
                     what: str = "condition") -> None:
    """Poll a condition (for state no test-user callback reports)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def reply_from(user: MatrixTestUser, room_id: str, sender: str,
                     timeout: float = 15.0) -> Any:  # noqa: ASYNC109
    """Return the next message of ``sender`` (the bot) in the room."""
    return await user.wait_for_message(room_id, lambda event: event.sender == sender, timeout)


async def answer(user: MatrixTestUser, room_id: str, text: str, bot_id: str,
                 timeout: float = 15.0) -> Any:  # noqa: ASYNC109
    """Send a text and return the bot's next message in the room."""
    await user.send_text(room_id, text)
    return await reply_from(user, room_id, bot_id, timeout)


def content(event: Any) -> dict[str, Any]:
    """Return an event's (decrypted) content."""
    source = event.source
    return dict(source.get("content", {}))
