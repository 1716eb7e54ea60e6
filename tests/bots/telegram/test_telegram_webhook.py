"""Webhook mode: our aiohttp server takes Telegram's deliveries, checks the secret, dedupes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bots.app import build_deps
from handlers.config import Settings
from handlers.context import Clock
from handlers.faq_match.matcher import FaqMatcher
from handlers.ports import Store
from handlers.router import Core
from storage.db import open_store
from tests.fakes.telegram_api import FakeBotApi

if TYPE_CHECKING:
    from tests.bots.telegram.conftest import EchoInstaller, Running

WEBHOOK_PATH = "/telegram/webhook"


async def test_webhook_mode_registers_and_answers(fake: FakeBotApi, core: Core,
                                                  running: Running) -> None:
    bot, web = await running.webhook(core)
    [call] = fake.calls_of("setWebhook")
    expected = core.deps.keyring.derived_secret("telegram-webhook")
    assert call.params["secret_token"] == expected
    assert call.params["url"] == f"http://127.0.0.1:{web.port}{WEBHOOK_PATH}"
    assert not fake.calls_of("getUpdates")
    status = await fake.push_webhook(None, fake.make_message_update(4001, 4001, "/start"))
    assert status == 200
    [reply] = await fake.wait_for_messages(1, chat_id=4001)
    assert "Reclaim Your Face" in reply["text"]
    assert bot.webhook is not None and bot.webhook.path == WEBHOOK_PATH


async def test_configured_secret_wins(fake: FakeBotApi, core: Core, running: Running) -> None:
    from dataclasses import replace

    core.deps.settings = replace(core.deps.settings, telegram_webhook_secret="my-own_Secret-1")
    await running.webhook(core)
    assert fake.calls_of("setWebhook")[0].params["secret_token"] == "my-own_Secret-1"


@pytest.mark.parametrize(("secret", "status"), [(None, 401), ("wrong-secret", 403), ("", 403)])
async def test_webhook_secret_is_checked(fake: FakeBotApi, core: Core, running: Running,
                                         secret: str | None, status: int) -> None:
    await running.webhook(core)
    update = fake.make_message_update(4101, 4101, "/start")
    assert await fake.push_webhook(None, update, secret_token=secret) == status
    await asyncio.sleep(0.2)
    assert fake.sent_count() == 0
    assert (await core.deps.store.stats()).arrivals_total == 0


async def test_webhook_rejects_bodies_that_are_not_updates(fake: FakeBotApi, core: Core,
                                                           running: Running) -> None:
    import aiohttp

    _bot, web = await running.webhook(core)
    secret = core.deps.keyring.derived_secret("telegram-webhook")
    url = f"http://127.0.0.1:{web.port}{WEBHOOK_PATH}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with aiohttp.ClientSession() as session:
        for body in (b"not json", b"[1, 2]", b"\xff\xfe"):
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 400
        async with session.post(url, json={"no_update_id": 1}, headers=headers) as response:
            assert response.status == 200  # Telegram-shaped enough: acknowledged, ignored
    assert fake.sent_count() == 0


async def test_duplicate_update_is_handled_once(fake: FakeBotApi, core: Core, running: Running,
                                                echo: EchoInstaller) -> None:
    await running.webhook(core)
    update = fake.make_message_update(4201, 4201, "/echo once")
    for _ in range(3):
        assert await fake.push_webhook(None, dict(update)) == 200
    await fake.push_webhook(None, fake.make_message_update(4201, 4201, "/echo after"))
    replies = await fake.wait_for_messages(2, chat_id=4201)
    assert [r["text"] for r in replies] == ["once", "after"]


async def test_webhook_keeps_per_chat_order(fake: FakeBotApi, core: Core, running: Running,
                                            echo: EchoInstaller) -> None:
    echo(delay=lambda arg: 0.05 if arg.endswith("0") else 0.0)
    await running.webhook(core)
    for n in range(10):
        await fake.push_webhook(None, fake.make_message_update(4301, 4301, f"/echo {n}"))
    replies = await fake.wait_for_messages(10, chat_id=4301)
    assert [r["text"] for r in replies] == [str(n) for n in range(10)]


@pytest.fixture
async def sql_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A real SQLite store, migrated."""
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    try:
        yield store
    finally:
        await store.close()


async def test_two_processes_share_one_database_and_handle_an_update_once(
        fake: FakeBotApi, settings: Settings, clock: Clock, matcher: FaqMatcher,
        sql_store: Store, running: Running) -> None:
    """Two replicas behind a load balancer: Telegram retries a delivery at the other one."""
    from dataclasses import replace

    from tests.bots.telegram.conftest import free_port

    bots = []
    for _ in range(2):
        port = free_port()
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        own = replace(settings, http_port=port, telegram_webhook_url=url)
        deps = await build_deps(own, store=sql_store, clock=clock, matcher=matcher)
        bots.append(await running.webhook(Core(deps)))
    keyring = bots[0][0].deps.keyring
    code = keyring.referral_code("telegram", "4401")
    update = fake.make_message_update(4402, 4402, f"/start {code}")
    urls = [f"http://127.0.0.1:{web.port}{WEBHOOK_PATH}" for _bot, web in bots]
    assert await fake.push_webhook(urls[0], dict(update)) == 200
    assert await fake.push_webhook(urls[1], dict(update)) == 200
    await fake.wait_for_messages(1, chat_id=4402)
    await asyncio.sleep(0.3)
    assert fake.sent_count(4402) == 1
    assert await sql_store.arrivals_for_code(code) == 1
    # And an ordinary conversation works on the SQL store.
    await fake.push_webhook(urls[1], fake.make_message_update(4402, 4402, "/language fr"))
    await fake.wait_for_messages(2, chat_id=4402)
    person = keyring.person_key("telegram", "4402")
    assert await sql_store.get_language(person) == ("fr", True)


async def test_after_stop_deliveries_are_refused_for_a_retry(fake: FakeBotApi, core: Core,
                                                             running: Running) -> None:
    bot, _web = await running.webhook(core)
    await bot.stop()
    running.stoppable.remove(bot)
    status = await fake.push_webhook(None, fake.make_message_update(4501, 4501, "/start"))
    assert status == 503


async def test_a_failed_start_cleans_up(fake: FakeBotApi, core: Core, running: Running) -> None:
    from dataclasses import replace

    from telegram.error import BadRequest

    from bots.telegram.adapter import TelegramBot
    from bots.web.server import WebServer

    settings = core.deps.settings
    url = f"http://127.0.0.1:{settings.http_port}{WEBHOOK_PATH}"
    core.deps.settings = replace(settings, telegram_webhook_url=url)
    with pytest.raises(RuntimeError, match="web server"):
        await TelegramBot(core).start()
    web = WebServer(core)
    bot = TelegramBot(core, web)
    await web.start()
    running.stoppable.append(web)
    fake.fail_next("setWebhook", status=400)
    with pytest.raises(BadRequest):
        await bot.start()
    assert not bot.app.running
    secret = core.deps.keyring.derived_secret("telegram-webhook")
    update = fake.make_message_update(4601, 4601, "/start")
    assert await fake.push_webhook(url, update, secret_token=secret) == 503


async def test_unknown_and_edited_updates_by_webhook_are_ignored(
        fake: FakeBotApi, core: Core, running: Running, echo: EchoInstaller) -> None:
    await running.webhook(core)
    chat = 4701
    pushes = [
        fake.make_edited_message_update(chat, chat, "/start", message_id=1),
        {"message_reaction": {"chat": {"id": chat, "type": "private"}, "message_id": 1}},
        {"some_future_update": {"chat": {"id": chat}}},
        {"message": {"message_id": 2, "date": 1, "text": "no chat"}},
        fake.make_sticker_update(-100777, 7, chat_type="supergroup"),
        fake.make_message_update(chat, chat, "/echo done"),
    ]
    for update in pushes:
        assert await fake.push_webhook(None, update) == 200
    replies = await fake.wait_for_messages(1, chat_id=chat)
    await asyncio.sleep(0.2)
    assert [r["text"] for r in replies] == ["done"]
    assert fake.sent_count() == 1


async def test_webhook_answers_before_the_work_is_done(
        fake: FakeBotApi, core: Core, running: Running, echo: EchoInstaller) -> None:
    import time

    echo(delay=lambda _arg: 1.0)
    await running.webhook(core)
    started = time.monotonic()
    assert await fake.push_webhook(None, fake.make_message_update(4801, 4801, "/echo slow")) == 200
    assert time.monotonic() - started < 0.5
    await fake.wait_for_messages(1, chat_id=4801)
