"""The Matrix bot against a real Synapse: invites, direct chats, rooms, encryption."""

from __future__ import annotations

import pytest

from handlers.router import Core
from tests.bots.matrix.helpers import (
    BotFactory,
    UserFactory,
    answer,
    content,
    create_room,
    reply_from,
)
from tests.synapse.harness import synapse_available

pytestmark = pytest.mark.skipif(not synapse_available(), reason="matrix-synapse not installed")


async def test_direct_chat_start_faq_and_numbers(
    make_bot: BotFactory, make_user: UserFactory
) -> None:
    """Invite → join; !start, a number answers a button, a free-text FAQ question."""
    bot = await make_bot(matrix_allowed_servers=frozenset({"localhost"}))
    alice = await make_user("alice")
    room = await alice.create_dm(bot.user_id, encrypted=False)
    await alice.wait_for_join(room, bot.user_id)

    start = await answer(alice, room, "!start", bot.user_id)
    body = content(start)
    assert body["msgtype"] == "m.notice"
    assert body["format"] == "org.matrix.custom.html"
    assert "<b>Reclaim Your Face</b>" in body["formatted_body"]
    assert "<b>" not in body["body"] and "Reclaim Your Face" in body["body"]
    assert "1. ℹ️ Learn more" in body["body"] and "2. ❓ Ask a question" in body["body"]

    topics = await answer(alice, room, "2", bot.user_id)
    assert "Pick a topic" in topics.body

    reply = await answer(alice, room, "what is biometric mass surveillance?", bot.user_id)
    assert content(reply)["msgtype"] == "m.notice"
    assert "<b>" in content(reply)["formatted_body"]
    assert "biometric" in reply.body.lower()


async def test_room_with_three_members(make_bot: BotFactory, make_user: UserFactory) -> None:
    """In a room: chatter is ignored; !commands, mentions and one's own numbers are answered."""
    bot = await make_bot()
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await create_room(alice, [bot.user_id, bob.user_id])
    await alice.wait_for_join(room, bot.user_id)
    await alice.wait_for_join(room, bob.user_id)

    await alice.send_text(room, "hello everyone, what is biometric surveillance?")
    menu = await answer(alice, room, "!faq", bot.user_id)
    assert "Pick a topic" in menu.body  # the chatter before it got no answer

    await bob.send_text(room, "3")  # bob has no numbered choices of his own: chatter
    topic = await answer(alice, room, "3", bot.user_id)
    assert "biometric" in topic.body.lower()

    mention = await answer(alice, room, f"{bot.user_id}: what is an ECI?", bot.user_id)
    assert "Citizens" in mention.body

    await answer(alice, room, "!help", bot.user_id)
    name = bot.client.rooms[room].users[bot.user_id].display_name if bot.client else ""
    assert name
    pill = f'<a href="https://matrix.to/#/{bot.user_id}">{name}</a>: !about'
    await alice.client.room_send(room, "m.room.message", {
        "msgtype": "m.text", "body": f"{name}: !about", "format": "org.matrix.custom.html",
        "formatted_body": pill, "m.mentions": {"user_ids": [bot.user_id]}})
    about = await reply_from(alice, room, bot.user_id)
    assert "was a European Citizens' Initiative" in about.body

    personal = await answer(alice, room, "!subscribe", bot.user_id)
    assert "private chat" in personal.body  # is_group=True reached the core


async def test_encrypted_direct_chat(make_bot: BotFactory, make_user: UserFactory) -> None:
    """The DM is created encrypted; the bot decrypts, answers encrypted, the user decrypts."""
    bot = await make_bot()
    alice = await make_user("alice")
    room = await alice.create_dm(bot.user_id, encrypted=True)
    await alice.wait_for_join(room, bot.user_id)

    start = await answer(alice, room, "!start", bot.user_id)
    assert start.decrypted
    assert "<b>Reclaim Your Face</b>" in content(start)["formatted_body"]
    reply = await answer(alice, room, "what is biometric mass surveillance?", bot.user_id)
    assert reply.decrypted and "biometric" in reply.body.lower()
    assert bot.client is not None and bot.client.rooms[room].encrypted


async def test_referral_code_and_language(
    core: Core, make_bot: BotFactory, make_user: UserFactory
) -> None:
    """!start CODE counts an arrival; no language hint: detected from text, changed by !language."""
    bot = await make_bot()
    alice = await make_user("alice")
    room = await alice.create_dm(bot.user_id, encrypted=True)
    await alice.wait_for_join(room, bot.user_id)

    code = core.deps.keyring.referral_code("matrix", "@sharer:localhost")
    await answer(alice, room, f"!start {code}", bot.user_id)
    assert await core.deps.store.arrivals_for_code(code) == 1

    german = await answer(alice, room, "Was ist biometrische Massenüberwachung und warum ist sie "
                          "gefährlich?", bot.user_id)
    assert german.decrypted
    note = await reply_from(alice, room, bot.user_id)
    assert "Ich habe deine Sprache" in note.body
    number = note.body.rsplit("\n", 1)[-1].split(".")[0]  # numbering runs on over both replies
    menu = await answer(alice, room, number, bot.user_id)
    assert "English" in menu.body and "Deutsch" in menu.body

    hello = await answer(alice, room, "!start", bot.user_id)
    assert "Hallo" in hello.body
    await answer(alice, room, "!language en", bot.user_id)
    assert "Hello" in (await answer(alice, room, "!start", bot.user_id)).body
