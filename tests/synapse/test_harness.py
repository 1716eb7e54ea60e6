"""Smoke tests of the Synapse harness: encrypted DM between two nio users, 429s, restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.synapse.harness import (
    SynapseError,
    SynapseServer,
    login_access_token,
    override_ratelimit,
    register_user,
    synapse_available,
)
from tests.synapse.users import MatrixTestUser

pytestmark = pytest.mark.skipif(not synapse_available(), reason="matrix-synapse not installed")

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[SynapseServer]:
    """A fresh homeserver per test, data in tmp_path."""
    srv = SynapseServer(tmp_path / "synapse")
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def _user(
    server: SynapseServer, tmp_path: Path, name: str, *, auto_join: bool = False, device: str = ""
) -> MatrixTestUser:
    user_id = await register_user(server, name, PASSWORD)
    user = MatrixTestUser(
        server.url,
        user_id,
        PASSWORD,
        tmp_path / f"store-{name}",
        device_id=device or None,
        auto_join=auto_join,
    )
    await user.start()
    return user


async def test_encrypted_dm_roundtrip_and_restart(server: SynapseServer, tmp_path: Path) -> None:
    """A and B exchange encrypted messages, also after a server restart with the same devices."""
    alice = await _user(server, tmp_path, "alice")
    bob = await _user(server, tmp_path, "bob", auto_join=True)
    try:
        room_id = await alice.create_dm(bob.user_id, encrypted=True)
        await alice.wait_for_join(room_id, bob.user_id)

        await alice.send_text(room_id, "hello bob")
        got = await bob.wait_for_message(room_id, lambda e: e.body == "hello bob")
        assert isinstance(got.decrypted, bool) and got.decrypted
        assert got.sender == alice.user_id

        await bob.send_text(room_id, "hello alice", notice=True)
        reply = await alice.wait_for_message(room_id)
        assert reply.body == "hello alice"
        assert reply.decrypted
        assert reply.source["content"]["msgtype"] == "m.notice"
        devices = (alice.device_id, bob.device_id)
    finally:
        await alice.close()
        await bob.close()

    await server.restart()

    # Same device ids and stores: the Olm accounts and sessions must survive both restarts.
    alice = await _user(server, tmp_path, "alice", device=devices[0])
    bob = await _user(server, tmp_path, "bob", auto_join=True, device=devices[1])
    try:
        assert (alice.device_id, bob.device_id) == devices
        await bob.wait_for_room(room_id)
        await alice.send_text(room_id, "still there?")
        got = await bob.wait_for_message(room_id, lambda e: e.body == "still there?")
        assert got.decrypted
    finally:
        await alice.close()
        await bob.close()


async def _send_raw(
    session: aiohttp.ClientSession, server: SynapseServer, token: str, room_id: str, body: str
) -> tuple[int, dict[str, Any]]:
    """Send one m.text with plain HTTP (no nio, so no automatic 429 retries)."""
    url = f"{server.url}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{uuid.uuid4().hex}"
    headers = {"Authorization": f"Bearer {token}"}
    async with session.put(url, json={"msgtype": "m.text", "body": body}, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_rate_limit_is_observable(server: SynapseServer) -> None:
    """With a tight rc_message one user gets 429 M_LIMIT_EXCEEDED; an overridden user does not."""
    await server.restart(ratelimited=True)
    await register_user(server, "carol", PASSWORD)
    dave_id = await register_user(server, "dave", PASSWORD)
    await override_ratelimit(server, dave_id)
    carol = await login_access_token(server, "carol", PASSWORD)
    dave = await login_access_token(server, "dave", PASSWORD)

    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {dave}"}
        async with session.post(
            f"{server.url}/_matrix/client/v3/createRoom",
            json={"preset": "public_chat"},
            headers=headers,
        ) as resp:
            assert resp.status == 200
            room_id = (await resp.json())["room_id"]
        async with session.post(
            f"{server.url}/_matrix/client/v3/join/{room_id}",
            json={},
            headers={"Authorization": f"Bearer {carol}"},
        ) as resp:
            assert resp.status == 200

        started = time.monotonic()
        limited: dict[str, Any] | None = None
        for i in range(10):
            status, body = await _send_raw(session, server, carol, room_id, f"spam {i}")
            if status == 429:
                limited = body
                break
            assert status == 200
        assert limited is not None, "no 429 within 10 sends"
        assert limited["errcode"] == "M_LIMIT_EXCEEDED"
        assert int(limited["retry_after_ms"]) > 0
        assert time.monotonic() - started < 10

        for i in range(10):
            status, _ = await _send_raw(session, server, dave, room_id, f"fine {i}")
            assert status == 200


async def test_start_failure_is_reported_fast(tmp_path: Path) -> None:
    """A server that cannot open its database fails start() quickly with the log tail."""
    srv = SynapseServer(tmp_path / "broken", start_timeout=60)
    # A directory where the sqlite file should be makes Synapse exit during start-up.
    (tmp_path / "broken" / "homeserver.db").mkdir(parents=True)
    started = time.monotonic()
    with pytest.raises(SynapseError, match="exited with code"):
        await srv.start()
    assert time.monotonic() - started < 30
    assert not srv.running
