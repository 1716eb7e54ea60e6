"""Tests of the fake Bot API against a real python-telegram-bot 22 over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from tests.fakes.telegram_api import FakeBotApi, FakeBotApiProcess

TOKEN = "123:ABC"


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    """A fake Bot API on a free local port."""
    async with FakeBotApi() as fake:
        yield fake


class BotRecorder:
    """Collects what the demo bot's handlers saw, and any handler errors."""

    def __init__(self) -> None:
        self.errors: list[object] = []
        self.member_updates: list[str] = []


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply to /start with one inline button."""
    assert update.effective_message is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Sign", callback_data="sign")]])
    await update.effective_message.reply_text("Welcome", reply_markup=keyboard)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the button press and edit the message."""
    query = update.callback_query
    assert query is not None
    await query.answer("pressed")
    await query.edit_message_text(f"Signed: {query.data}")


async def on_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer an inline query with one article."""
    assert update.inline_query is not None
    content = InputTextMessageContent(f"Share: {update.inline_query.query}")
    await update.inline_query.answer([InlineQueryResultArticle("1", "Share", content)])


async def on_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply to stickers and photos."""
    assert update.effective_message is not None
    kind = "sticker" if update.effective_message.sticker else "photo"
    await update.effective_message.reply_text(f"got {kind}")


async def on_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply to edited messages."""
    assert update.edited_message is not None
    await update.edited_message.reply_text(f"edited {update.edited_message.text}")


AnyApp = Application[Any, Any, Any, Any, Any, Any]


def build_app(server: FakeBotApi, recorder: BotRecorder) -> AnyApp:
    """A small PTB application pointed at the fake."""
    builder = Application.builder().token(TOKEN).base_url(server.base_url)
    app = builder.base_file_url(server.base_file_url).build()
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(InlineQueryHandler(on_inline))
    app.add_handler(MessageHandler(filters.Sticker.ALL | filters.PHOTO, on_media))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, on_edit))

    async def on_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.my_chat_member is not None
        recorder.member_updates.append(update.my_chat_member.new_chat_member.status)

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        recorder.errors.append(context.error)

    app.add_handler(ChatMemberHandler(on_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_error_handler(on_error)
    return app


@contextlib.asynccontextmanager
async def polling_bot(server: FakeBotApi) -> AsyncIterator[BotRecorder]:
    """Run the demo bot with long polling against ``server`` (initialize/start, not run_polling)."""
    recorder = BotRecorder()
    app = build_app(server, recorder)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling()
    try:
        yield recorder
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert recorder.errors == []


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def retry_seconds(error: RetryAfter) -> float:
    """``retry_after`` in seconds, whether PTB returns an int or a timedelta."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def test_start_command_replies_with_inline_keyboard(server: FakeBotApi) -> None:
    async with polling_bot(server):
        update_id = server.add_update(server.make_message_update(42, 42, "/start"))
        [reply] = await server.wait_for_messages(1, chat_id=42)
        # The next poll confirms the update: offset = update_id + 1.
        await server.wait_for(
            lambda: any(c.params.get("offset") == update_id + 1 for c in server.calls)
        )
    assert reply["text"] == "Welcome"
    button = reply["reply_markup"]["inline_keyboard"][0][0]
    assert button == {"text": "Sign", "callback_data": "sign"}
    assert [c.method for c in server.calls[:2]] == ["getMe", "deleteWebhook"]
    assert server.pending_updates == 0


async def test_command_entity_covers_bot_username(server: FakeBotApi) -> None:
    update = server.make_message_update(-5, 7, "/start@reclaim_test_bot abc", chat_type="group")
    message = update["message"]
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 23}]
    assert message["chat"]["type"] == "group"
    assert message["from"]["language_code"] == "en"


async def test_button_press_answers_and_edits(server: FakeBotApi) -> None:
    async with polling_bot(server):
        server.add_update(server.make_message_update(7, 7, "/start"))
        await server.wait_for_messages(1, chat_id=7)
        callback = server.make_callback_update(7, 7, "sign")
        server.add_update(callback)
        edit = await server.wait_for_call("editMessageText")
    [answer] = server.calls_of("answerCallbackQuery")
    assert answer.params["callback_query_id"] == callback["callback_query"]["id"]
    assert answer.params["text"] == "pressed"
    bot_message_id = callback["callback_query"]["message"]["message_id"]
    assert edit.params["chat_id"] == 7
    assert edit.params["message_id"] == bot_message_id
    assert edit.params["text"] == "Signed: sign"
    assert callback["callback_query"]["message"]["text"] == "Welcome"


async def test_inline_query_is_answered(server: FakeBotApi) -> None:
    async with polling_bot(server):
        update = server.make_inline_query_update(9, "ban biometric surveillance")
        server.add_update(update)
        call = await server.wait_for_call("answerInlineQuery")
    assert call.params["inline_query_id"] == update["inline_query"]["id"]
    [article] = call.params["results"]
    assert article["input_message_content"]["message_text"] == "Share: ban biometric surveillance"


async def test_non_text_updates_reach_handlers(server: FakeBotApi) -> None:
    async with polling_bot(server) as recorder:
        server.add_update(server.make_sticker_update(3, 3))
        server.add_update(server.make_photo_update(3, 3, caption="look"))
        hello = server.make_message_update(3, 3, "hello")
        server.add_update(hello)
        message_id = hello["message"]["message_id"]
        server.add_update(server.make_edited_message_update(3, 3, "hello!", message_id))
        server.add_update(server.make_my_chat_member_update(3, 3, "kicked"))
        await server.wait_for_messages(3, chat_id=3)
        await server.wait_for(lambda: recorder.member_updates)
    assert server.sent_texts(3) == ["got sticker", "got photo", "edited hello!"]
    assert recorder.member_updates == ["kicked"]


# PTB 22 itself warns that `retry_after` will become a timedelta.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_429_surfaces_as_retry_after_then_succeeds(server: FakeBotApi) -> None:
    server.fail_next("sendMessage", status=429, retry_after=1)
    async with Bot(TOKEN, base_url=server.base_url) as bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(1, "hi")
        message = await bot.send_message(1, "hi")
    assert retry_seconds(caught.value) == 1
    assert message.text == "hi"
    first, second = server.calls_of("sendMessage")
    assert (first.failed, first.status, second.failed) == (True, 429, False)
    assert server.sent_texts(1) == ["hi"]


async def test_403_for_one_chat_only_surfaces_as_forbidden(server: FakeBotApi) -> None:
    server.fail_next("sendMessage", status=403, chat_id=8)
    async with Bot(TOKEN, base_url=server.base_url) as bot:
        await bot.send_message(9, "other chat is fine")
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(8, "blocked")
        await bot.send_message(8, "fault was used up")
    assert server.stats()["failed"] == {"sendMessage": 1}


async def test_bad_requests_match_telegram(server: FakeBotApi) -> None:
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])
    async with Bot(TOKEN, base_url=server.base_url) as bot:
        with pytest.raises(BadRequest, match="too long"):
            await bot.send_message(1, "x" * 4097)
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            await bot.send_message(1, "hi", reply_markup=too_long)
        with pytest.raises(BadRequest, match="Bot_command_invalid"):
            await bot.set_my_commands([BotCommand("Start", "uppercase is invalid")])
        sent = await bot.send_message(1, "<b>ok</b>", parse_mode="HTML")
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text("<b>ok</b>", chat_id=1, message_id=sent.message_id)
    async with ClientSession() as http:
        async with http.post(f"{server.base_url}{TOKEN}/noSuchMethod") as response:
            body = await response.json()
    assert response.status == 400
    assert body == {"ok": False, "error_code": 400, "description": "Bad Request: method not found"}


async def test_bot_settings_and_media_round_trip(server: FakeBotApi) -> None:
    scope = BotCommandScopeAllPrivateChats()
    async with Bot(TOKEN, base_url=server.base_url) as bot:
        assert bot.username == "reclaim_test_bot"
        await bot.set_my_commands([BotCommand("start", "Begin")], scope=scope, language_code="de")
        assert await bot.get_my_commands() == ()
        [command] = await bot.get_my_commands(scope=scope, language_code="de")
        await bot.set_my_description("Reclaim Your Face", language_code="fr")
        description = await bot.get_my_description(language_code="fr")
        await bot.set_my_short_description("ECI")
        await bot.set_my_name("Reclaim")
        name = await bot.get_my_name()
        photo = await bot.send_photo(5, b"\x89PNG fake bytes", caption="poster")
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Open", url="https://example.org")]])
        edited = await bot.edit_message_reply_markup(5, photo.message_id, reply_markup=keyboard)
        assert await bot.delete_message(5, photo.message_id)
        assert await bot.send_chat_action(5, "typing")
        chat = await bot.get_chat(-1001234567890)
        assert await bot.delete_my_commands(scope=scope, language_code="de")
    assert command.command == "start"
    assert description.description == "Reclaim Your Face"
    assert name.name == "Reclaim"
    assert photo.caption == "poster" and photo.photo
    assert isinstance(edited, type(photo)) and edited.reply_markup == keyboard
    assert chat.type == "supergroup"
    upload = server.calls_of("sendPhoto")[0].params["photo"]
    assert upload["size"] == len(b"\x89PNG fake bytes")


async def test_get_updates_long_polls_and_confirms_offsets(server: FakeBotApi) -> None:
    url = f"{server.base_url}{TOKEN}/getUpdates"
    async with ClientSession() as http:
        started = time.monotonic()
        async with http.post(url, data={"timeout": "1"}) as response:
            assert (await response.json())["result"] == []
        assert 0.9 <= time.monotonic() - started < 1.6

        started = time.monotonic()
        asyncio.get_running_loop().call_later(0.2, server.add_update, {"message": {}})
        async with http.post(url, json={"timeout": 5}) as response:
            [woken] = (await response.json())["result"]
        assert time.monotonic() - started < 1.0

        ids = server.add_updates([{"message": {}} for _ in range(3)])
        async with http.post(url, data={"offset": str(woken["update_id"] + 1), "limit": "2"}) as r:
            assert [u["update_id"] for u in (await r.json())["result"]] == ids[:2]
        async with http.post(url, data={"offset": str(ids[1] + 1)}) as r:
            assert [u["update_id"] for u in (await r.json())["result"]] == ids[2:]
    assert server.pending_updates == 1


async def test_second_poller_gets_conflict(server: FakeBotApi) -> None:
    # Two Bot objects stand for two bot processes sharing one token.
    url = server.base_url
    async with Bot(TOKEN, base_url=url) as one, Bot(TOKEN, base_url=url) as two:
        first = asyncio.create_task(one.get_updates(timeout=5))
        await server.wait_for(lambda: server.calls_of("getUpdates"))
        assert await two.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await first


async def test_queue_is_cheap_for_many_updates(server: FakeBotApi) -> None:
    server.add_updates({"message": {"text": str(i)}} for i in range(20_000))
    started = time.monotonic()
    offset = 0
    while server.pending_updates:
        batch = await server.call("getUpdates", {"offset": offset, "limit": 100})
        offset = batch[-1]["update_id"] + 1 if batch else offset
        await server.call("getUpdates", {"offset": offset, "limit": 100})
    assert time.monotonic() - started < 2.0


async def test_light_journal_keeps_only_key_fields() -> None:
    async with FakeBotApi(store_params=False) as light:
        markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}
        await light.call("sendMessage", {"chat_id": 1, "text": "hi", "reply_markup": markup})
    assert light.sent_messages(1) == [{"chat_id": 1, "text": "hi"}]


async def test_webhook_push_checks_secret(server: FakeBotApi) -> None:
    pytest.importorskip("tornado", reason="PTB webhooks need python-telegram-bot[webhooks]")
    recorder = BotRecorder()
    app = build_app(server, recorder)
    port = free_port()
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_webhook(
        listen="127.0.0.1", port=port, url_path="hook",
        webhook_url=f"http://127.0.0.1:{port}/hook", secret_token="s3cret",
    )
    try:
        assert server.webhook_url == f"http://127.0.0.1:{port}/hook"
        assert server.webhook_secret == "s3cret"
        wrong = await server.push_webhook(None, server.make_message_update(4, 4, "/start"), "bad")
        missing = await server.push_webhook(None, server.make_message_update(4, 4, "/start"), None)
        right = await server.push_webhook(None, server.make_message_update(4, 4, "/start"))
        [reply] = await server.wait_for_messages(1, chat_id=4)
        with pytest.raises(Conflict, match="webhook is active"):
            await app.bot.get_updates()
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert (wrong, missing, right) == (403, 403, 200)
    assert reply["text"] == "Welcome"
    assert recorder.errors == []


async def test_subprocess_mode_with_control_api() -> None:
    async with FakeBotApiProcess(latency=0.01) as proc:
        assert proc.control is not None
        [update_id] = await proc.control.add_messages([{"chat_id": 5, "user_id": 5, "text": "/a"}])
        await proc.control.fail(method="sendMessage", status=403, chat_id=6)
        async with Bot(TOKEN, base_url=proc.base_url) as bot:
            [update] = await bot.get_updates(timeout=1)
            await bot.send_message(5, "reply")
            with pytest.raises(Forbidden):
                await bot.send_message(6, "blocked")
        assert await proc.control.wait_messages(1, chat_id=5, timeout=2)
        calls, next_index = await proc.control.calls(method="sendMessage")
        stats = await proc.control.stats()
        await proc.control.clear()
        after_clear, _ = await proc.control.calls()
    assert update.update_id == update_id and update.message is not None
    assert [(c["params"]["chat_id"], c["failed"]) for c in calls] == [(5, False), (6, True)]
    assert next_index == 4  # getMe, getUpdates, two sendMessage
    assert stats["counts"]["sendMessage"] == 2 and stats["failed"] == {"sendMessage": 1}
    assert after_clear == []


async def test_out_of_order_and_already_confirmed_updates_are_delivered(server: FakeBotApi) -> None:
    first = server.make_message_update(1, 1, "first")
    second = server.make_message_update(1, 1, "second")
    server.add_update(second)
    server.add_update(first)
    batch = await server.call("getUpdates", {"offset": 0})
    assert [u["message"]["text"] for u in batch] == ["first", "second"]
    assert await server.call("getUpdates", {"offset": second["update_id"] + 1}) == []
    late_id = server.add_update({"update_id": first["update_id"], "message": {"text": "late"}})
    assert late_id > second["update_id"]
    [late] = await server.call("getUpdates", {"offset": second["update_id"] + 1})
    assert late["message"]["text"] == "late"


async def test_json_get_latency_and_token_check() -> None:
    async with FakeBotApi(token=TOKEN, latency=0.2) as fake, ClientSession() as http:
        markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}
        started = time.monotonic()
        url = f"{fake.base_url}{TOKEN}/sendMessage"
        async with http.post(url, json={"chat_id": 3, "text": "hi", "reply_markup": markup}) as r:
            sent = (await r.json())["result"]
        assert time.monotonic() - started >= 0.2
        async with http.get(f"{fake.base_url}{TOKEN}/getMe", params={"x": "1"}) as r:
            me = (await r.json())["result"]
        async with http.post(f"{fake.base_url}999:WRONG/getMe") as r:
            assert r.status == 401
    assert sent["reply_markup"] == markup
    assert sent["chat"] == {"id": 3, "type": "private", "first_name": "Test"}
    assert me["is_bot"] and me["supports_inline_queries"] and me["can_join_groups"]
