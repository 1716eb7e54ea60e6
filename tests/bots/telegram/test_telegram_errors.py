"""Failures at the edge: flood limits, blocked chats, server errors, refused messages, crashes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from handlers.messages import Incoming, Reply
from handlers.router import Core
from tests.fakes.telegram_api import FakeBotApi

if TYPE_CHECKING:
    from tests.bots.telegram.conftest import EchoInstaller, Eventually, Running

APOLOGY = "Sorry, something went wrong on my side"


async def test_429_waits_retry_after_then_delivers(fake: FakeBotApi, core: Core,
                                                   running: Running, echo: EchoInstaller) -> None:
    await running.polling(core)
    fake.fail_next("sendMessage", status=429, retry_after=1, chat_id=6001)
    fake.add_update(fake.make_message_update(6001, 6001, "/echo patience"))
    [reply] = await fake.wait_for_messages(1, chat_id=6001, timeout=5)
    assert reply["text"] == "patience"
    failed, sent = fake.calls_of("sendMessage")
    assert failed.failed and failed.status == 429 and not sent.failed
    assert 0.95 <= sent.time - failed.time < 2.5


async def test_403_ends_the_subscription(fake: FakeBotApi, core: Core, running: Running,
                                         eventually: Eventually) -> None:
    await running.polling(core)
    store = core.deps.store
    fake.add_update(fake.make_message_update(6101, 6101, "/subscribe"))
    await fake.wait_for_messages(1, chat_id=6101)
    assert (await store.stats()).subscribers == 1
    fake.fail_next("sendMessage", count=5, status=403, chat_id=6101)
    fake.add_update(fake.make_message_update(6101, 6101, "/help"))
    await fake.wait_for(lambda: len(fake.calls_of("sendMessage")) == 2)
    await fake.wait_for(lambda: fake.calls_of("sendMessage")[-1].done)

    async def unsubscribed() -> bool:
        return (await store.stats()).subscribers == 0

    await eventually(unsubscribed)
    # One refused send is enough: the bot neither retries nor sends the rest of the replies.
    assert len(fake.calls_of("sendMessage")) == 2


@pytest.mark.parametrize("status", [500, 502])
async def test_server_errors_are_retried(fake: FakeBotApi, core: Core, running: Running,
                                         echo: EchoInstaller, status: int) -> None:
    await running.polling(core)
    fake.fail_next("sendMessage", count=2, status=status, chat_id=6201)
    fake.add_update(fake.make_message_update(6201, 6201, "/echo persistent"))
    [reply] = await fake.wait_for_messages(1, chat_id=6201, timeout=5)
    assert reply["text"] == "persistent"
    assert fake.failed_counts["sendMessage"] == 2


async def test_refused_html_is_resent_as_plain_text(fake: FakeBotApi, core: Core,
                                                    running: Running, echo: EchoInstaller) -> None:
    echo(reply=lambda _arg: "<b>bold</b> &amp; plain")
    await running.polling(core)
    fake.fail_next("sendMessage", status=400, chat_id=6301,
                   description="Bad Request: can't parse entities: unsupported start tag")
    fake.add_update(fake.make_message_update(6301, 6301, "/echo x"))
    [reply] = await fake.wait_for_messages(1, chat_id=6301)
    assert reply["text"] == "bold & plain"
    assert "parse_mode" not in reply
    assert reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "menu"


async def test_a_crash_is_answered_with_an_apology_and_the_bot_keeps_going(
        fake: FakeBotApi, core: Core, running: Running, echo: EchoInstaller,
        log_records: pytest.LogCaptureFixture) -> None:
    real_handle = core.handle

    async def handle(msg: Incoming) -> list[Reply]:
        if msg.text == "boom":
            raise RuntimeError("adapter-level failure")
        return await real_handle(msg)

    core.handle = handle  # type: ignore[method-assign]
    await running.polling(core)
    fake.add_update(fake.make_message_update(6401, 6401, "boom"))
    fake.add_update(fake.make_message_update(6401, 6401, "/echo alive"))
    replies = await fake.wait_for_messages(2, chat_id=6401)
    assert APOLOGY in replies[0]["text"]
    assert replies[1]["text"] == "alive"
    assert any(r.levelno == logging.ERROR and "RuntimeError" in r.getMessage()
               for r in log_records.records)


async def test_a_handler_error_inside_the_core_is_apologised_for(
        fake: FakeBotApi, core: Core, running: Running) -> None:
    async def broken(ctx: object, arg: str | None) -> list[Reply]:
        raise ValueError("bug")

    core.commands["about"] = broken
    await running.polling(core)
    fake.add_update(fake.make_message_update(6501, 6501, "/about"))
    [reply] = await fake.wait_for_messages(1, chat_id=6501)
    assert APOLOGY in reply["text"]


async def test_rendering_error_is_apologised_for(fake: FakeBotApi, core: Core,
                                                 running: Running, echo: EchoInstaller,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import bots.telegram.adapter as adapter

    def broken_render(reply: Reply) -> list[object]:
        raise KeyError("render bug")

    monkeypatch.setattr(adapter, "render", broken_render)
    await running.polling(core)
    fake.add_update(fake.make_message_update(6601, 6601, "/echo x"))
    [reply] = await fake.wait_for_messages(1, chat_id=6601)
    assert APOLOGY in reply["text"]


async def test_polling_survives_get_updates_failures(fake: FakeBotApi, core: Core,
                                                     running: Running, echo: EchoInstaller) -> None:
    await running.polling(core)
    fake.fail_next("getUpdates", count=2, status=502)
    fake.add_update(fake.make_message_update(6701, 6701, "/echo through"))
    [reply] = await fake.wait_for_messages(1, chat_id=6701, timeout=8)
    assert reply["text"] == "through"


async def test_logs_hold_no_texts_or_ids(fake: FakeBotApi, core: Core, running: Running,
                                         log_records: pytest.LogCaptureFixture) -> None:
    await running.polling(core)
    secret_text = "my private question about zebras"
    fake.fail_next("sendMessage", status=429, retry_after=1, chat_id=987654321)
    fake.add_update(fake.make_message_update(987654321, 987654321, secret_text))
    fake.add_update(fake.make_sticker_update(987654321, 987654321))
    fake.add_update({"message": {"message_id": 1, "date": 10**15, "text": secret_text,
                                 "chat": {"id": 987654321, "type": "private"}}})
    await fake.wait_for_messages(2, chat_id=987654321, timeout=5)
    logged = "\n".join(r.getMessage() for r in log_records.records if r.levelno >= logging.INFO)
    assert "zebras" not in logged
    assert "987654321" not in logged
