"""The whole bot in long-polling mode against the fake Bot API over real HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from handlers.messages import TELEGRAM
from handlers.router import Core
from tests.fakes.telegram_api import FakeBotApi

if TYPE_CHECKING:
    from tests.bots.telegram.conftest import EchoInstaller, Eventually, Running


def keyboard_actions(params: dict[str, object]) -> list[str]:
    markup = params.get("reply_markup") or {}
    assert isinstance(markup, dict)
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
            if "callback_data" in b]


async def test_start_shows_the_menu_with_buttons(fake: FakeBotApi, core: Core,
                                                 running: Running) -> None:
    await running.polling(core)
    fake.add_update(fake.make_message_update(1001, 1001, "/start"))
    [reply] = await fake.wait_for_messages(1, chat_id=1001)
    assert reply["parse_mode"] == "HTML"
    assert "Reclaim Your Face" in reply["text"]
    assert {"about", "faq", "sign", "share"} <= set(keyboard_actions(reply))
    assert core.deps.handles["telegram"] == fake.username
    assert fake.calls_of("deleteWebhook")


async def test_deep_link_counts_one_arrival_per_person(fake: FakeBotApi, core: Core,
                                                       running: Running) -> None:
    await running.polling(core)
    keyring, store = core.deps.keyring, core.deps.store
    code = keyring.referral_code(TELEGRAM, "2001")
    for _ in range(3):
        fake.add_update(fake.make_message_update(2002, 2002, f"/start {code}"))
    fake.add_update(fake.make_message_update(2003, 2003, f"/start {code}"))
    await fake.wait_for_messages(3, chat_id=2002)
    await fake.wait_for_messages(1, chat_id=2003)
    assert await store.arrivals_for_code(code) == 2


async def test_share_link_uses_the_bots_username(fake: FakeBotApi, core: Core,
                                                 running: Running) -> None:
    await running.polling(core)
    fake.add_update(fake.make_message_update(2101, 2101, "/share"))
    [reply] = await fake.wait_for_messages(1, chat_id=2101)
    code = core.deps.keyring.referral_code(TELEGRAM, "2101")
    assert f"https://t.me/{fake.username}?start={code}" in reply["text"]


async def test_a_bad_start_code_is_welcomed_anyway(fake: FakeBotApi, core: Core,
                                                   running: Running) -> None:
    await running.polling(core)
    fake.add_update(fake.make_message_update(2201, 2201, "/start not-a-real-code"))
    replies = await fake.wait_for_messages(2, chat_id=2201)
    assert "does not look right" in replies[0]["text"]


async def test_button_press_answers_the_query_and_sends_a_new_message(
        fake: FakeBotApi, core: Core, running: Running) -> None:
    await running.polling(core)
    fake.add_update(fake.make_message_update(3001, 3001, "/start"))
    [menu] = await fake.wait_for_messages(1, chat_id=3001)
    fake.add_update(fake.make_callback_update(3001, 3001, "about"))
    replies = await fake.wait_for_messages(2, chat_id=3001)
    assert [c.params["callback_query_id"] for c in fake.calls_of("answerCallbackQuery")]
    assert "What it asks for" in replies[1]["text"]
    assert not fake.calls_of("editMessageText")  # decision: new messages, no edits
    assert replies[0] == menu


async def test_forged_button_data_gets_the_menu_back(fake: FakeBotApi, core: Core,
                                                     running: Running) -> None:
    await running.polling(core)
    fake.add_update(fake.make_callback_update(3101, 3101, "nonsense:🙃", message_id=1))
    [reply] = await fake.wait_for_messages(1, chat_id=3101)
    assert "no longer works" in reply["text"]
    assert len(fake.calls_of("answerCallbackQuery")) == 1


async def test_free_text_question_gets_an_faq_answer(fake: FakeBotApi, core: Core,
                                                     running: Running) -> None:
    await running.polling(core)
    fake.add_update(fake.make_message_update(3201, 3201, "What is biometric mass surveillance?"))
    [reply] = await fake.wait_for_messages(1, chat_id=3201)
    assert "biometric" in reply["text"].lower()


async def test_huge_text_gets_a_be_brief_answer(fake: FakeBotApi, core: Core,
                                                running: Running) -> None:
    await running.polling(core)
    fake.add_update(fake.make_message_update(3301, 3301, "why " * 3000))
    [reply] = await fake.wait_for_messages(1, chat_id=3301)
    assert "long message" in reply["text"]


async def test_long_reply_is_split_with_buttons_on_the_last_part(
        fake: FakeBotApi, core: Core, running: Running, echo: EchoInstaller) -> None:
    echo(reply=lambda _arg: "\n\n".join(f"<b>{n}</b> " + "word " * 99 for n in range(20)))
    await running.polling(core)
    fake.add_update(fake.make_message_update(3401, 3401, "/echo long"))
    parts = await fake.wait_for_messages(3, chat_id=3401)
    await fake.wait_for(lambda: fake.pending_updates == 0)
    assert len(parts) == 3
    assert all(len(p["text"]) <= 4096 for p in parts)
    assert sum(p["text"].count("word") for p in parts) == 20 * 99
    assert [bool(p.get("reply_markup")) for p in parts] == [False, False, True]


async def test_group_behaviour(fake: FakeBotApi, core: Core, running: Running) -> None:
    await running.polling(core)
    group = -100555
    kind = {"chat_type": "supergroup"}
    fake.add_update(fake.make_message_update(group, 7, "just chatting", **kind))
    fake.add_update(fake.make_message_update(group, 7, "/help@other_bot", **kind))
    fake.add_update(fake.make_sticker_update(group, 7, chat_type="supergroup"))
    fake.add_update(fake.make_message_update(group, 7, "/about", **kind))
    fake.add_update(fake.make_message_update(group, 7, f"/help@{fake.username}", **kind))
    fake.add_update(fake.make_message_update(group, 7, f"@{fake.username} is it over?", **kind))
    replies = await fake.wait_for_messages(3, chat_id=group)
    await fake.wait_for(lambda: fake.pending_updates == 0)
    assert len(fake.sent_texts(group)) == 3
    assert "What it asks for" in replies[0]["text"]
    assert "Here is what I can do" in replies[1]["text"]


@pytest.mark.parametrize("kind", ["sticker", "photo"])
async def test_media_in_private_gets_a_text_only_note(fake: FakeBotApi, core: Core,
                                                      running: Running, kind: str) -> None:
    await running.polling(core)
    update = (fake.make_sticker_update(3501, 3501) if kind == "sticker"
              else fake.make_photo_update(3501, 3501, caption="what is this?"))
    fake.add_update(update)
    [reply] = await fake.wait_for_messages(1, chat_id=3501)
    assert "only read text" in reply["text"]


async def test_edits_unknown_and_malformed_updates_are_ignored(
        fake: FakeBotApi, core: Core, running: Running, echo: EchoInstaller) -> None:
    bot = await running.polling(core)
    chat = 3601
    fake.add_update(fake.make_edited_message_update(chat, chat, "/start", message_id=1))
    fake.add_update({"message_reaction": {"chat": {"id": chat, "type": "private"}}})
    fake.add_update({"some_future_update": {"chat": {"id": chat}}})
    fake.add_update({"message": {"message_id": 9, "date": 1, "text": "no chat, no sender"}})
    fake.add_update({"message": {"message_id": 9, "date": 10**15, "text": "bad date",
                                 "chat": {"id": chat, "type": "private"}}})
    fake.add_update({"message": "not an object"})
    fake.add_update({"message": {"message_id": 9, "date": 1, "text": 42,
                                 "chat": {"id": chat, "type": "private"},
                                 "from": {"id": chat, "is_bot": False, "first_name": "T"}}})
    fake.add_update(fake.make_message_update(chat, chat, "/echo still here"))
    replies = await fake.wait_for_messages(1, chat_id=chat)
    assert [r["text"] for r in replies] == ["still here"]
    assert bot.poller is not None and bot.poller.offset == fake.stats()["next_update_id"]


async def test_blocking_the_bot_ends_the_subscription(fake: FakeBotApi, core: Core,
                                                      running: Running,
                                                      eventually: Eventually) -> None:
    await running.polling(core)
    fake.add_update(fake.make_message_update(3701, 3701, "/subscribe"))
    await fake.wait_for_messages(1, chat_id=3701)
    store = core.deps.store
    assert (await store.stats()).subscribers == 1
    fake.add_update(fake.make_my_chat_member_update(3701, 3701, "kicked"))

    async def unsubscribed() -> bool:
        return (await store.stats()).subscribers == 0

    await eventually(unsubscribed)


async def test_stop_confirms_the_handled_updates(fake: FakeBotApi, core: Core,
                                                 running: Running) -> None:
    bot = await running.polling(core)
    fake.add_update(fake.make_message_update(3801, 3801, "/help"))
    await fake.wait_for_messages(1, chat_id=3801)
    await running.stop_all()
    assert fake.pending_updates == 0
    assert bot.poller is not None
