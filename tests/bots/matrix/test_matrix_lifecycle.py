"""The Matrix bot's lifecycle against a real Synapse: restarts, rate limits, lost connections."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from nio import RoomKickResponse

from bots.matrix.adapter import MatrixAuthError, MatrixBot
from handlers.messages import ActionButton, LinkButton, Reply
from handlers.ports import RateLimited, RecipientGone
from handlers.router import Core
from tests.bots.matrix.helpers import (
    BOT_PASSWORD,
    BotFactory,
    UserFactory,
    answer,
    content,
    create_room,
    reply_from,
    wait_until,
)
from tests.bots.matrix.proxy import TcpProxy
from tests.synapse.harness import (
    SynapseServer,
    login_access_token,
    override_ratelimit,
    synapse_available,
)

pytestmark = pytest.mark.skipif(not synapse_available(), reason="matrix-synapse not installed")

ABOUT = "was a European Citizens' Initiative"
HELP = "Here is what I can do"
SIGN = "Which country are you a citizen of"


async def test_restart_keeps_device_and_does_not_replay(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    """Stop and start with the same data dir: same device, old messages not answered again."""
    bot = await make_bot()
    device = bot.device_id
    alice = await make_user("alice")
    secret = await alice.create_dm(bot.user_id, encrypted=True)
    plain = await alice.create_dm(bot.user_id, encrypted=False)
    for room in (secret, plain):
        await alice.wait_for_join(room, bot.user_id)
        assert ABOUT in (await answer(alice, room, "!about", bot.user_id)).body
    await bot.stop()

    await alice.send_text(secret, "!help")  # sent while the bot is down: answered once, later
    again = await make_bot()
    assert again.device_id == device
    # The next bot message in each room is the answer to a new message, not a replayed one.
    missed = await reply_from(alice, secret, bot.user_id)
    assert HELP in missed.body and missed.decrypted
    for room in (secret, plain):
        assert SIGN in (await answer(alice, room, "!sign", bot.user_id)).body
    await asyncio.sleep(0.5)
    assert not [event for room_id, event in alice.messages
                if event.sender == bot.user_id and event.event_id not in alice._consumed]


async def test_rate_limited_reply_still_arrives(
    synapse: SynapseServer, make_bot: BotFactory, make_user: UserFactory
) -> None:
    """Under M_LIMIT_EXCEEDED replies wait and arrive; broadcasts see RateLimited instead."""
    bot = await make_bot()
    await override_ratelimit(synapse, bot.user_id, messages_per_second=1, burst_count=1)
    alice = await make_user("alice")
    room = await alice.create_dm(bot.user_id, encrypted=False)
    await alice.wait_for_join(room, bot.user_id)

    started = time.monotonic()
    await alice.send_text(room, "!about")
    await alice.send_text(room, "!help")
    first = await reply_from(alice, room, bot.user_id, timeout=30)
    second = await reply_from(alice, room, bot.user_id, timeout=30)
    assert ABOUT in first.body and HELP in second.body
    assert time.monotonic() - started > 0.5  # the second reply had to wait for the limit

    with pytest.raises(RateLimited) as caught:
        for _ in range(3):
            await bot.send(room, Reply("milestone"))
    assert caught.value.retry_after > 0


async def test_sender_send_edit_and_gone(make_bot: BotFactory, make_user: UserFactory) -> None:
    """The Sender port: send with buttons, edit in place, RecipientGone for a room we are not in."""
    bot = await make_bot()
    alice = await make_user("alice")
    room = await alice.create_dm(bot.user_id, encrypted=True)
    await alice.wait_for_join(room, bot.user_id)
    await wait_until(lambda: bot.client is not None and room in bot.client.rooms, what="bot sync")

    buttons = ((ActionButton("🔕 Stop updates", "unsub"),
                LinkButton("Site", "https://example.org")),)
    event_id = await bot.send(room, Reply("<b>Milestone</b> reached", buttons))
    got = await reply_from(alice, room, bot.user_id)
    assert got.decrypted and got.event_id == event_id
    assert "1. 🔕 Stop updates" in got.body and "Site: https://example.org" in got.body
    assert '<a href="https://example.org">Site</a>' in content(got)["formatted_body"]

    stopped = await answer(alice, room, "1", bot.user_id)  # a broadcast's number works too
    assert "not subscribed" in stopped.body

    assert event_id is not None
    await bot.edit(room, event_id, Reply("Progress: 100%"))
    edit = await reply_from(alice, room, bot.user_id)
    relates = content(edit)["m.relates_to"]
    assert relates == {"rel_type": "m.replace", "event_id": event_id}
    assert content(edit)["m.new_content"]["body"] == "Progress: 100%"

    other = await make_user("carol")
    elsewhere = await create_room(other, [])
    with pytest.raises(RecipientGone):
        await bot.send(elsewhere, Reply("hello"))


async def test_reconnects_after_losing_the_connection(
    synapse: SynapseServer, make_bot: BotFactory, make_user: UserFactory
) -> None:
    """The homeserver vanishes for a while: the sync loop backs off, reconnects and answers."""
    proxy = TcpProxy(synapse.port)
    await proxy.start()
    try:
        bot = await make_bot(matrix_homeserver=proxy.url)
        alice = await make_user("alice")
        room = await alice.create_dm(bot.user_id, encrypted=True)
        await alice.wait_for_join(room, bot.user_id)
        assert ABOUT in (await answer(alice, room, "!about", bot.user_id)).body

        await proxy.pause()
        await alice.send_text(room, "!help")
        await asyncio.sleep(2.5)  # the bot's sync fails meanwhile, more than once
        assert proxy.refused > 0
        await proxy.resume()
        assert HELP in (await reply_from(alice, room, bot.user_id, timeout=20)).body
        assert SIGN in (await answer(alice, room, "!sign", bot.user_id)).body
    finally:
        await proxy.close()


async def test_leaves_when_nobody_is_left(
    core: Core, make_bot: BotFactory, make_user: UserFactory
) -> None:
    """A room keeps the bot while someone is there; when the last person leaves, so does the bot."""
    bot = await make_bot()
    alice, bob = await make_user("alice"), await make_user("bob")
    group = await create_room(alice, [bot.user_id, bob.user_id])
    direct = await alice.create_dm(bot.user_id, encrypted=True)
    for room in (group, direct):
        await alice.wait_for_join(room, bot.user_id)
    await alice.wait_for_join(group, bob.user_id)
    assert "Subscribed" in (await answer(alice, direct, "!subscribe", bot.user_id)).body
    person = core.deps.keyring.person_key("matrix", alice.user_id)
    assert await core.deps.store.is_subscribed(person)

    await bob.client.room_leave(group)
    assert ABOUT in (await answer(alice, group, "!about", bot.user_id)).body

    await alice.client.room_leave(direct)
    await alice.client.room_leave(group)
    assert bot.client is not None

    async def joined() -> set[str]:
        assert bot.client is not None
        resp = await bot.client.joined_rooms()
        return set(resp.rooms)

    deadline = time.monotonic() + 15
    while {group, direct} & await joined():
        assert time.monotonic() < deadline, "the bot stayed in an empty room"
        await asyncio.sleep(0.2)
    await wait_until(lambda: group not in bot.client.rooms if bot.client else True)
    assert not await core.deps.store.is_subscribed(person)


async def test_first_start_joins_pending_invites_but_ignores_old_history(
    core: Core, make_bot: BotFactory, make_user: UserFactory
) -> None:
    """Invited and written to before its first start: it joins, answers only new messages."""
    alice = await make_user("alice")
    bot_id = str(core.deps.settings.matrix_user_id)
    room = await alice.create_dm(bot_id, encrypted=False)
    await alice.send_text(room, "!about")  # before the bot ever ran
    await asyncio.sleep(1.1)  # Matrix timestamps are milliseconds: keep "before start" clear

    bot = await make_bot()
    await alice.wait_for_join(room, bot.user_id)
    assert SIGN in (await answer(alice, room, "!sign", bot.user_id)).body


async def test_access_token_login_and_refused_credentials(
    synapse: SynapseServer, core: Core, bot_account: str
) -> None:
    """RECLAIM_MATRIX_ACCESS_TOKEN reuses the token's device; a wrong password stops start()."""
    settings = core.deps.settings
    core.deps.settings = replace(settings, matrix_password="wrong password")
    with pytest.raises(MatrixAuthError):
        await MatrixBot(core).start()

    localpart = bot_account[1:].split(":")[0]
    token = await login_access_token(synapse, localpart, BOT_PASSWORD, device_id="TOKENDEVICE")
    core.deps.settings = replace(settings, matrix_password=None, matrix_access_token=token)
    bot = MatrixBot(core)
    await bot.start()
    try:
        assert bot.ready.is_set() and bot.device_id == "TOKENDEVICE"
        assert bot.client is not None and bot.client.olm is not None
    finally:
        await bot.stop()


async def test_kicked_bot_ends_the_rooms_subscriptions(
    core: Core, make_bot: BotFactory, make_user: UserFactory
) -> None:
    """Kicked out of a direct chat, the bot forgets the room and ends its subscription."""
    bot = await make_bot()
    alice = await make_user("alice")
    room = await create_room(alice, [bot.user_id])  # not a DM preset: alice may kick
    await alice.wait_for_join(room, bot.user_id)
    assert "Subscribed" in (await answer(alice, room, "!subscribe", bot.user_id)).body
    person = core.deps.keyring.person_key("matrix", alice.user_id)

    kicked = await alice.client.room_kick(room, bot.user_id, reason="bye")
    assert isinstance(kicked, RoomKickResponse), kicked
    await wait_until(lambda: bot.client is not None and room not in bot.client.rooms, 15, "kick")
    deadline = time.monotonic() + 5
    while await core.deps.store.is_subscribed(person):
        assert time.monotonic() < deadline, "the subscription outlived the kick"
        await asyncio.sleep(0.1)
