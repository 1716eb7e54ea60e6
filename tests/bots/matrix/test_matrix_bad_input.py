"""Bad input against a real Synapse: odd events, edits, redactions, huge and hostile messages."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from nio import RoomGetStateEventResponse, RoomSendResponse

from bots.matrix.adapter import MatrixBot
from handlers.router import Core
from tests.bots.matrix.helpers import (
    BotFactory,
    UserFactory,
    answer,
    content,
    reply_from,
)
from tests.synapse.harness import synapse_available
from tests.synapse.users import MatrixTestUser

pytestmark = pytest.mark.skipif(not synapse_available(), reason="matrix-synapse not installed")

ABOUT = "was a European Citizens' Initiative"


async def _raw(user: MatrixTestUser, room: str, event_type: str, body: dict[str, object]) -> str:
    """Send any event (nio's room_send does not validate content)."""
    resp = await user.client.room_send(room, event_type, body)
    assert isinstance(resp, RoomSendResponse), resp
    return str(resp.event_id)


async def _membership(user: MatrixTestUser, room: str, member: str) -> str | None:
    """Return a member's current membership as the homeserver has it."""
    resp = await user.client.room_get_state_event(room, "m.room.member", member)
    return resp.content.get("membership") if isinstance(resp, RoomGetStateEventResponse) else None


async def _direct_chat(make_bot: BotFactory, make_user: UserFactory,
                       encrypted: bool = False) -> tuple[MatrixBot, MatrixTestUser, str]:
    bot = await make_bot()
    alice = await make_user("alice")
    room = await alice.create_dm(bot.user_id, encrypted=encrypted)
    await alice.wait_for_join(room, bot.user_id)
    return bot, alice, room


async def test_ignored_events(make_bot: BotFactory, make_user: UserFactory) -> None:
    """Unknown types, notices, emotes, edits, redactions and malformed contents get no answer."""
    bot, alice, room = await _direct_chat(make_bot, make_user)
    start_id = await _raw(alice, room, "m.room.message", {"msgtype": "m.text", "body": "!start"})
    assert "Hello" in (await reply_from(alice, room, bot.user_id)).body

    await _raw(alice, room, "org.example.unknown", {"anything": ["goes", 1]})
    await _raw(alice, room, "m.room.message", {"msgtype": "m.notice", "body": "!start"})
    await _raw(alice, room, "m.room.message", {"msgtype": "m.emote", "body": "!start"})
    await _raw(alice, room, "m.room.message", {"msgtype": "org.example.poll", "body": "!faq"})
    await _raw(alice, room, "m.room.message", {
        "msgtype": "m.text", "body": "* !faq",
        "m.new_content": {"msgtype": "m.text", "body": "!faq"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": start_id}})
    # Synapse itself refuses some malformed contents; whatever it lets through is ignored.
    for malformed in ({"msgtype": "m.text"}, {"msgtype": "m.text", "body": 42}, {"body": "!faq"},
                      {"msgtype": "m.text", "body": "!faq", "format": 7, "formatted_body": []}):
        await alice.client.room_send(room, "m.room.message", malformed)
    await _raw(alice, room, "m.reaction", {"m.relates_to": {"rel_type": "m.annotation",
                                                            "event_id": start_id, "key": "👍"}})
    await alice.client.room_redact(room, start_id, reason="oops")

    assert ABOUT in (await answer(alice, room, "!about", bot.user_id)).body  # nothing before it


async def test_hostile_and_huge_messages(make_bot: BotFactory, make_user: UserFactory) -> None:
    """HTML is never echoed raw, malformed commands and 60 kB texts get a calm answer."""
    bot, alice, room = await _direct_chat(make_bot, make_user, encrypted=True)

    html = await answer(alice, room, '<script>alert(1)</script><img src=x onerror=alert(2)> '
                        "<b>what</b> is biometric surveillance?", bot.user_id)
    formatted = content(html)["formatted_body"]
    assert "<script" not in formatted and "<img" not in formatted and "onerror" not in formatted

    for text in ("!", "!!!", "! faq", "!@#$%", "!" + "x" * 100, "!faq@", "!\u202e\u0000start"):
        reply = await answer(alice, room, text, bot.user_id)
        assert reply.body and "<script" not in content(reply).get("formatted_body", "")

    # 40 kB: encrypted (base64) it is close to the 64 kB event cap; 100 kB is a unit test.
    huge = await answer(alice, room, "tell me about biometric surveillance " * 1_100, bot.user_id)
    assert "long message" in huge.body

    assert ABOUT in (await answer(alice, room, "!about", bot.user_id)).body


async def test_invite_from_server_not_allowed_is_declined(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    """RECLAIM_MATRIX_ALLOWED_SERVERS lacks the inviter's server: invite left, nothing answered."""
    bot = await make_bot(matrix_allowed_servers=frozenset({"example.org"}))
    alice = await make_user("alice")
    room = await alice.create_dm(bot.user_id, encrypted=False)

    deadline = time.monotonic() + 10
    while await _membership(alice, room, bot.user_id) != "leave":
        assert time.monotonic() < deadline, "the invite was not declined"
        await asyncio.sleep(0.1)
    await alice.send_text(room, "!start")
    assert bot.client is not None and room not in bot.client.rooms
    assert not [event for _, event in alice.messages if event.sender == bot.user_id]


async def test_forget_purges_the_crypto_store_and_keeps_working(
    core: Core, make_bot: BotFactory, make_user: UserFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """!forget runs the Matrix hook: the person's devices and sessions leave the crypto store."""
    bot, alice, room = await _direct_chat(make_bot, make_user, encrypted=True)
    assert "Hello" in (await answer(alice, room, "!start", bot.user_id)).body
    assert bot.client is not None and bot.client.olm is not None
    assert list(bot.client.device_store.active_user_devices(alice.user_id))

    snapshots: list[tuple[int, int]] = []
    purge = bot._purge

    def purge_and_look(user: str) -> None:
        purge(user)
        assert bot.client is not None and bot.client.store is not None
        store = bot.client.store
        ignored = sum(1 for key in store.ignore_db if key.user_id == user)
        snapshots.append((len(list(store.load_device_keys().active_user_devices(user))), ignored))

    bot._purge = purge_and_look  # type: ignore[method-assign]
    caplog.set_level(logging.INFO)
    done = await answer(alice, room, "!forget yes", bot.user_id)
    assert "erased everything" in done.body and done.decrypted
    assert snapshots == [(0, 0)]
    assert bot.last_purge is not None
    assert bot.last_purge.devices >= 1 and bot.last_purge.olm_sessions >= 1
    assert bot.last_purge.trust_entries >= 1
    assert alice.user_id not in caplog.text

    again = await answer(alice, room, "!about", bot.user_id)
    assert ABOUT in again.body and again.decrypted
    person = core.deps.keyring.person_key("matrix", alice.user_id)
    assert await core.deps.store.get_language(person) is None
