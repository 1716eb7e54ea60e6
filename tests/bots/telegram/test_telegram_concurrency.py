"""Chats in parallel, each chat in order; a slow chat stalls nobody; a flood gets one warning."""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

from bots.telegram.dispatch import ChatOrderedProcessor
from handlers.router import Core
from tests.fakes.telegram_api import FakeBotApi

if TYPE_CHECKING:
    from tests.bots.telegram.conftest import EchoInstaller, Running

SLOW_DOWN = "faster than I can answer"


async def test_replies_stay_in_order_per_chat_under_concurrency(
        fake: FakeBotApi, core: Core, running: Running, echo: EchoInstaller) -> None:
    jitter = random.Random(7)
    echo(delay=lambda _arg: jitter.random() * 0.02)
    bot = await running.polling(core)
    chats = range(5001, 5021)
    for n in range(10):
        for chat in chats:
            fake.add_update(fake.make_message_update(chat, chat, f"/echo {chat}-{n}"))
    await fake.wait_for_messages(200, timeout=20)
    for chat in chats:
        assert fake.sent_texts(chat) == [f"{chat}-{n}" for n in range(10)]
    await fake.wait_for(lambda: bot.processor.pending == 0)
    assert bot.processor.active_chats == 0  # workers are gone once their chat is idle


async def test_a_slow_chat_does_not_stall_the_others(
        fake: FakeBotApi, core: Core, running: Running, echo: EchoInstaller) -> None:
    release = asyncio.Event()

    async def slow_then_fast(ctx: object, arg: str | None) -> list:
        if arg == "slow":
            await release.wait()
        from handlers.messages import Reply

        return [Reply(arg or "-")]

    core.commands["echo"] = slow_then_fast
    await running.polling(core)
    fake.add_update(fake.make_message_update(5101, 5101, "/echo slow"))
    fake.add_update(fake.make_message_update(5101, 5101, "/echo after-slow"))
    fake.add_update(fake.make_message_update(5102, 5102, "/echo fast"))
    started = time.monotonic()
    await fake.wait_for_messages(1, chat_id=5102)
    assert time.monotonic() - started < 2
    assert fake.sent_texts(5101) == []
    release.set()
    replies = await fake.wait_for_messages(2, chat_id=5101)
    assert [r["text"] for r in replies] == ["slow", "after-slow"]


async def test_a_flood_gets_one_slow_down_reply(
        fake: FakeBotApi, core: Core, running: Running, echo: EchoInstaller) -> None:
    echo(delay=lambda _arg: 0.05)
    bot = await running.polling(core)
    chat = 5201
    fake.add_updates(fake.make_message_update(chat, chat, f"/echo {n}") for n in range(60))
    fake.add_update(fake.make_message_update(5202, 5202, "/echo other"))
    await fake.wait_for_messages(1, chat_id=5202)
    await fake.wait_for(lambda: bot.processor.pending == 0, timeout=10)
    texts = fake.sent_texts(chat)
    warnings = [t for t in texts if SLOW_DOWN in t]
    answered = [t for t in texts if SLOW_DOWN not in t]
    assert len(warnings) == 1
    assert answered == [str(n) for n in range(len(answered))]  # the first ones, in order
    assert len(answered) <= 1 + bot.processor.max_pending_per_chat
    assert bot.processor.dropped == 60 - len(answered)
    # The burst is over: the next message is answered normally, without a new warning.
    fake.add_update(fake.make_message_update(chat, chat, "/echo later"))
    await fake.wait_for(lambda: fake.sent_texts(chat)[-1] == "later")


async def test_processor_drops_beyond_the_bound_and_reports_once_per_burst() -> None:
    floods: list[bool] = []

    async def on_flood(_update: object, first: bool) -> None:
        floods.append(first)

    processor = ChatOrderedProcessor(lambda _u: 1, max_pending_per_chat=2, on_flood=on_flood)
    gate = asyncio.Event()
    done: list[int] = []

    async def job(n: int) -> None:
        await gate.wait()
        done.append(n)

    await processor.process_update(object(), job(0))
    await asyncio.sleep(0)  # the chat's worker takes job 0 and waits at the gate
    for n in range(1, 6):
        await processor.process_update(object(), job(n))
    assert processor.pending == 3 and processor.dropped == 3
    gate.set()
    assert await processor.drain(2)
    assert done == [0, 1, 2]
    assert floods == [True, False, False]
    await processor.shutdown()


async def test_processor_shutdown_cancels_what_is_left() -> None:
    processor = ChatOrderedProcessor(lambda u: u)  # type: ignore[arg-type,return-value]
    never = asyncio.Event()
    await processor.process_update(1, never.wait())
    await processor.process_update(1, never.wait())
    assert not await processor.drain(0.05)
    await processor.shutdown()
    assert processor.pending == 0 and processor.active_chats == 0
