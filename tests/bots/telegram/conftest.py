"""Fixtures for the Telegram adapter: the fake Bot API over real HTTP and a running bot."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from bots.telegram.adapter import TelegramBot
from bots.web.server import WebServer
from handlers.messages import ActionButton, Reply
from handlers.router import Core
from tests.fakes.telegram_api import FakeBotApi

TOKEN = "123456:TEST-token"
BOT_NAME = "reclaim_test_bot"
WEBHOOK_PATH = "/telegram/webhook"

StartBot = Callable[..., Awaitable[TelegramBot]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    """A fake Bot API on a free local port."""
    async with FakeBotApi(username=BOT_NAME) as server:
        yield server


@pytest.fixture
def env(env: dict[str, str], fake: FakeBotApi) -> dict[str, str]:
    """Point the bot at the fake; the web server (webhook tests) on a free port."""
    return {**env, "RECLAIM_TELEGRAM_TOKEN": TOKEN, "RECLAIM_TELEGRAM_API_URL": fake.root,
            "RECLAIM_HTTP_HOST": "127.0.0.1", "RECLAIM_HTTP_PORT": str(free_port())}


def free_port() -> int:
    """Return a port that was free a moment ago (the webhook URL must name it up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Running:
    """Starts bots (and web servers) for one test and stops them all afterwards."""

    def __init__(self) -> None:
        self.stoppable: list[Any] = []

    async def polling(self, core: Core, **kwargs: Any) -> TelegramBot:
        """Start a bot in long-polling mode (short polls keep tests fast)."""
        kwargs.setdefault("poll_timeout", 1)
        bot = TelegramBot(core, **kwargs)
        await bot.start()
        self.stoppable.append(bot)
        return bot

    async def webhook(self, core: Core, **kwargs: Any) -> tuple[TelegramBot, WebServer]:
        """Start the web server and a bot in webhook mode on it."""
        deps = core.deps
        settings = deps.settings
        url = f"http://127.0.0.1:{settings.http_port}{WEBHOOK_PATH}"
        if settings.telegram_webhook_url is None:
            deps.settings = replace(settings, telegram_webhook_url=url)
        web = WebServer(core)
        bot = TelegramBot(core, web, **kwargs)
        await web.start()
        self.stoppable.append(web)
        await bot.start()
        self.stoppable.append(bot)
        return bot, web

    async def stop_all(self) -> None:
        """Stop in reverse order of start."""
        for item in reversed(self.stoppable):
            await item.stop()
        self.stoppable.clear()


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    """Start bots through this; they are stopped after the test."""
    runner = Running()
    try:
        yield runner
    finally:
        await runner.stop_all()


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture everything from INFO up (privacy checks read it)."""
    caplog.set_level(logging.INFO)
    return caplog


EchoInstaller = Callable[..., None]
Eventually = Callable[[Callable[[], Awaitable[bool]]], Awaitable[None]]


@pytest.fixture
def eventually() -> Eventually:
    """Return a waiter for async conditions (database state the fake cannot see)."""

    async def wait(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
        # Polling on purpose: the condition lives in a store that has no change events.
        async with asyncio.timeout(seconds):
            while not await check():  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    return wait


@pytest.fixture
def echo(core: Core) -> EchoInstaller:
    """Install an ``/echo`` command: after ``delay(arg)`` seconds it answers ``reply(arg)``.

    By default it answers its argument at once. Replies get one action button.
    """

    def install(delay: Callable[[str], float] | None = None,
                reply: Callable[[str], str] | None = None) -> None:
        async def handler(ctx: Any, arg: str | None) -> list[Reply]:
            if delay is not None:
                await asyncio.sleep(delay(arg or ""))
            text = reply(arg or "") if reply is not None else arg or "-"
            return [Reply(text, ((ActionButton("Menu", "menu"),),))]

        core.commands["echo"] = handler

    install()
    return install
