"""Fixtures for the Matrix bot: one real Synapse for these tests, fresh accounts per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bots.matrix.adapter import MatrixBot
from handlers.router import Core
from tests.bots.matrix.helpers import (
    BOT_PASSWORD,
    PASSWORD,
    BotFactory,
    UserFactory,
    unique,
)
from tests.synapse.harness import SynapseServer, register_user_blocking, synapse_available
from tests.synapse.users import MatrixTestUser


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    """Start one Synapse for all Matrix test modules (synchronously: no event loop to share).

    Tests stay independent because each registers its own fresh accounts.
    """
    if not synapse_available():
        pytest.skip("matrix-synapse is not installed")
    server = SynapseServer(tmp_path_factory.mktemp("synapse"))
    server.start_blocking()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def bot_account(synapse: SynapseServer) -> str:
    """Register a fresh bot account and return its Matrix id."""
    return register_user_blocking(synapse, unique("bot"), BOT_PASSWORD)


@pytest.fixture
def env(env: dict[str, str], synapse: SynapseServer, bot_account: str) -> dict[str, str]:
    """Configure Matrix against the test homeserver (every test here that has a core needs it)."""
    return {**env, "RECLAIM_MATRIX_HOMESERVER": synapse.url, "RECLAIM_MATRIX_USER_ID": bot_account,
            "RECLAIM_MATRIX_PASSWORD": BOT_PASSWORD}


@pytest.fixture
async def make_bot(core: Core) -> AsyncIterator[BotFactory]:
    """Start bots on the test's core (settings changes apply first); stop them afterwards."""
    bots: list[MatrixBot] = []

    async def factory(**changes: Any) -> MatrixBot:
        if changes:
            core.deps.settings = replace(core.deps.settings, **changes)
        bot = MatrixBot(core, backoff_max=2.0)
        await bot.start()
        assert bot.ready.is_set()
        bots.append(bot)
        return bot

    try:
        yield factory
    finally:
        for bot in reversed(bots):
            await bot.stop()


@pytest.fixture
async def make_user(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[UserFactory]:
    """Create logged-in, syncing test users (E2EE capable); close them afterwards."""
    users: list[MatrixTestUser] = []

    async def factory(prefix: str) -> MatrixTestUser:
        name = unique(prefix)
        user_id = await asyncio.to_thread(register_user_blocking, synapse, name, PASSWORD)
        user = MatrixTestUser(synapse.url, user_id, PASSWORD, tmp_path / f"store-{name}",
                              auto_join=True)
        await user.start()
        users.append(user)
        return user

    try:
        yield factory
    finally:
        for user in users:
            await user.close()
