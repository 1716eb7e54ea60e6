"""Shared fixtures: settings in a temp dir, a core on an in-memory store, a fixed clock."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.app import build_deps
from handlers.config import Settings, load_settings
from handlers.context import Deps
from handlers.faq_match.matcher import FaqMatcher
from handlers.messages import CONSOLE, ConversationId, Incoming, Platform, Reply, UserKey
from handlers.router import Core
from tests.fakes.memory_store import MemoryStore

CLOSED = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
OPEN = dt.datetime(2021, 6, 1, 12, 0, tzinfo=dt.UTC)
BEFORE = dt.datetime(2020, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def matcher() -> FaqMatcher:
    """Load the real FAQ matcher once per test session."""
    return FaqMatcher.load()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Return a clean environment pointing the bot at a temp data dir."""
    return {"RECLAIM_DATA_DIR": str(tmp_path / "data"), "RECLAIM_ADMINS": "console:ana,telegram:42",
            "RECLAIM_SECRET_KEY": "test-secret-key-0123456789"}


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    """Return validated settings for tests."""
    return load_settings(env)


class Clock:
    """A settable clock."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A clock set after the shipped campaign closed (like today)."""
    return Clock(CLOSED)


@pytest.fixture
async def deps(settings: Settings, clock: Clock, matcher: FaqMatcher) -> AsyncIterator[Deps]:
    """Build the real services on an in-memory store."""
    built = await build_deps(settings, store=MemoryStore(), clock=clock, matcher=matcher)
    yield built


@pytest.fixture
def core(deps: Deps) -> Core:
    """Return the conversation core."""
    return Core(deps)


def message(text: str | None = None, *, user: str = "u1", platform: Platform = CONSOLE,
            lang: str | None = "en", command: str | None = None, args: tuple[str, ...] = (),
            action: str | None = None, group: bool = False) -> Incoming:
    """Build a neutral message the way an adapter would."""
    return Incoming(platform=platform, conversation=ConversationId(f"chat-{user}"),
                    user=UserKey(user), language_hint=lang, text=text, command=command,
                    args=args, action=action, is_group=group)


def texts(replies: list[Reply]) -> str:
    """Join reply texts for assertions."""
    return "\n".join(reply.text for reply in replies)


def actions(replies: list[Reply]) -> list[str]:
    """Return every action of every button."""
    return [b.action for r in replies for b in r.flat_buttons() if hasattr(b, "action")]


def urls(replies: list[Reply]) -> list[str]:
    """Return every link button's URL."""
    return [b.url for r in replies for b in r.flat_buttons() if hasattr(b, "url")]


def pg_url() -> str | None:
    """Return the PostgreSQL URL for storage tests, when CI provides one."""
    return os.environ.get("RECLAIM_TEST_DATABASE_URL") or None
