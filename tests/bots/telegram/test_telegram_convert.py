"""Which Telegram updates become which neutral messages (private and group rules)."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Bot, Update

from bots.telegram.convert import BotIdentity, Unsupported, chat_key, route
from handlers.messages import Incoming
from tests.fakes.telegram_api import FakeBotApi

ME = BotIdentity(123, "reclaim_test_bot")
GROUP = -100123


@pytest.fixture
def api() -> FakeBotApi:
    """The fake's update builders (the server is not started)."""
    return FakeBotApi(username=ME.username, bot_id=ME.id)


_BOT: list[Bot] = []


def decode(raw: dict[str, Any]) -> Update:
    if not _BOT:
        _BOT.append(Bot("123:ABC"))  # built once: each Bot builds two HTTP clients
    update = Update.de_json(raw, _BOT[0])
    assert update is not None
    return update


def routed(raw: dict[str, Any]) -> Incoming | Unsupported | None:
    return route(decode(raw), ME)


def test_private_text_command_and_deep_link(api: FakeBotApi) -> None:
    msg = routed(api.make_message_update(7, 7, "Is it closed?", language_code="de-AT"))
    assert isinstance(msg, Incoming)
    assert (msg.platform, msg.conversation, msg.user) == ("telegram", "7", "7")
    assert (msg.text, msg.language_hint, msg.is_group) == ("Is it closed?", "de-AT", False)
    start = routed(api.make_message_update(7, 7, "/start AbCdEfGhIjKl0_-x"))
    assert isinstance(start, Incoming)
    assert (start.command, start.args) == ("start", ("AbCdEfGhIjKl0_-x",))


def test_private_media_is_unsupported_and_service_messages_are_ignored(api: FakeBotApi) -> None:
    sticker = routed(api.make_sticker_update(7, 7))
    assert sticker == Unsupported(7, 7, "en")
    assert isinstance(routed(api.make_photo_update(7, 7, caption="look")), Unsupported)
    service = {"update_id": 99, "message": api.make_message(7, 7, pinned_message=None,
                                                            new_chat_title="x")}
    assert routed(service) is None


def test_group_answers_only_what_is_addressed_to_the_bot(api: FakeBotApi) -> None:
    def group(text: str) -> Incoming | Unsupported | None:
        return routed(api.make_message_update(GROUP, 7, text, chat_type="supergroup"))

    assert group("nice weather today") is None
    assert group("/help@other_bot") is None
    for text in ("/help", "/help@reclaim_test_bot", "/HELP@Reclaim_Test_Bot"):
        msg = group(text)
        assert isinstance(msg, Incoming) and msg.command == "help" and msg.is_group
    mention = group("@reclaim_test_bot  what is this about?")
    assert isinstance(mention, Incoming)
    assert mention.text == "what is this about?"
    assert group("@someone_else what is this?") is None
    assert routed(api.make_sticker_update(GROUP, 7, chat_type="supergroup")) is None


def test_group_reply_to_the_bot_is_answered(api: FakeBotApi) -> None:
    raw = api.make_message_update(GROUP, 7, "and in Germany?", chat_type="group")
    raw["message"]["reply_to_message"] = api.make_message(GROUP, 7, chat_type="group", text="hi")
    assert routed(raw) is None  # a reply to a person
    raw["message"]["reply_to_message"]["from"] = api.bot_user
    msg = routed(raw)
    assert isinstance(msg, Incoming) and msg.text == "and in Germany?"


def test_private_text_starting_with_a_slash_but_for_another_bot(api: FakeBotApi) -> None:
    assert routed(api.make_message_update(7, 7, "/start@other_bot")) is None
    msg = routed(api.make_message_update(7, 7, "/?"))
    assert isinstance(msg, Incoming) and msg.text == "/?"


def test_callback_query_becomes_an_action(api: FakeBotApi) -> None:
    msg = routed(api.make_callback_update(7, 7, "faq:bot-privacy", message_id=1))
    assert isinstance(msg, Incoming)
    assert (msg.action, msg.conversation, msg.user) == ("faq:bot-privacy", "7", "7")


def test_ignored_updates(api: FakeBotApi) -> None:
    assert routed(api.make_edited_message_update(7, 7, "edited", message_id=1)) is None
    channel = {"update_id": 5, "channel_post": {"message_id": 1, "date": 1,
                                                "chat": {"id": -1001, "type": "channel"},
                                                "text": "post"}}
    assert routed(channel) is None
    bot_msg = api.make_message_update(7, 7, "hi")
    bot_msg["message"]["from"]["is_bot"] = True
    assert routed(bot_msg) is None
    no_sender = api.make_message_update(7, 7, "hi")
    del no_sender["message"]["from"]
    assert routed(no_sender) is None


def test_huge_text_is_cut(api: FakeBotApi) -> None:
    msg = routed(api.make_message_update(7, 7, "a" * 100_000))
    assert isinstance(msg, Incoming) and msg.text is not None and len(msg.text) == 8192


def test_chat_keys(api: FakeBotApi) -> None:
    assert chat_key(decode(api.make_message_update(7, 7, "x"))) == 7
    assert chat_key(decode(api.make_callback_update(GROUP, 7, "menu", message_id=1))) == GROUP
    assert chat_key(decode(api.make_inline_query_update(7, ""))) == ("inline", 7)
    assert chat_key(decode({"update_id": 1})) is None
    assert chat_key(object()) is None
