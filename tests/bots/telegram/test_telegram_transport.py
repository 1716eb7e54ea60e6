"""The aiohttp transport under python-telegram-bot, and the sender's retry bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, TimedOut

from bots.telegram.aiohttp_request import AiohttpRequest
from bots.telegram.dispatch import ChatOrderedProcessor
from bots.telegram.render import OutMessage
from bots.telegram.sender import Outcome, Sender
from handlers.router import Core
from tests.bots.telegram.conftest import TOKEN, free_port
from tests.fakes.memory_store import MemoryStore
from tests.fakes.telegram_api import FakeBotApi

if TYPE_CHECKING:
    from tests.bots.telegram.conftest import EchoInstaller, Running


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    """A plain PTB Bot on our transport, pointed at the fake."""
    client = Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url,
                 request=AiohttpRequest(read_timeout=0.5),
                 get_updates_request=AiohttpRequest(connection_pool_size=1))
    async with client:
        yield client


async def test_typed_calls_send_json_and_decode_answers(fake: FakeBotApi, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    message = await bot.send_message(5, "héllo ✓", reply_markup=markup)
    assert message.text == "héllo ✓" and message.chat.id == 5
    [call] = fake.calls_of("sendMessage")
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "Go",
                                                                 "callback_data": "go"}]]}
    assert bot.username == fake.username


async def test_uploads_go_as_multipart(fake: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_photo(5, photo=b"\x89PNG fake bytes", caption="QR",
                                   filename="qr.png")
    assert message.caption == "QR"
    [call] = fake.calls_of("sendPhoto")
    assert call.params["photo"]["filename"] == "qr.png"
    assert call.params["photo"]["size"] == len(b"\x89PNG fake bytes")


async def test_slow_server_times_out(fake: FakeBotApi, bot: Bot) -> None:
    fake.latency = 1.0
    with pytest.raises(TimedOut):
        await bot.send_message(5, "too slow")


async def test_unreachable_server_is_a_network_error() -> None:
    request = AiohttpRequest(connect_timeout=1.0)
    client = Bot(TOKEN, base_url=f"http://127.0.0.1:{free_port()}/bot", request=request)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await client.get_me()
    finally:
        await request.shutdown()


async def test_a_flood_wait_longer_than_the_bound_is_given_up(fake: FakeBotApi,
                                                              bot: Bot) -> None:
    request = AiohttpRequest()
    await request.initialize()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    sender = Sender(bot, request, MemoryStore(), max_wait=60, sleep=sleep)
    try:
        fake.fail_next("sendMessage", status=429, retry_after=120)
        assert await sender.send(5, OutMessage("hi")) is Outcome.FAILED
        fake.fail_next("sendMessage", count=2, status=429, retry_after=3)
        assert await sender.send(5, OutMessage("hi")) is Outcome.SENT
        assert slept == [3.0, 3.0]
        fake.fail_next("sendMessage", count=4, status=500)
        assert await sender.send(5, OutMessage("hi")) is Outcome.FAILED
        assert slept[2:] == [0.5, 1.0, 2.0]
        fake.fail_next("sendMessage", status=403)
        assert await sender.send(5, OutMessage("hi")) is Outcome.GONE
    finally:
        await request.shutdown()


async def test_intake_waits_while_the_backlog_is_full() -> None:
    processor = ChatOrderedProcessor(lambda u: u, max_backlog=2)  # type: ignore[arg-type,return-value]
    gate = asyncio.Event()
    await processor.process_update(1, gate.wait())
    await processor.process_update(2, gate.wait())
    waiter = asyncio.create_task(processor.wait_for_room())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    gate.set()
    await asyncio.wait_for(waiter, 1)
    await processor.shutdown()


async def test_no_raw_ids_pile_up_in_the_application(fake: FakeBotApi, core: Core,
                                                     running: Running,
                                                     echo: EchoInstaller) -> None:
    bot = await running.polling(core)
    fake.add_update(fake.make_message_update(8001, 8001, "/echo x"))
    await fake.wait_for_messages(1, chat_id=8001)
    app = bot.app
    assert not app._chat_ids_to_be_updated_in_persistence
    assert not app._user_ids_to_be_updated_in_persistence
    assert not app.chat_data and not app.user_data
