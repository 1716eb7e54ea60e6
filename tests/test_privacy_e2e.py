"""A scripted conversation of many users through the real core and SQL store, then a dump of
the whole database: no platform id, name or message text may appear outside subscriptions."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.app import build_deps
from handlers.config import Settings
from handlers.faq_match.matcher import FaqMatcher
from handlers.messages import MATRIX, TELEGRAM, Platform
from handlers.router import Core
from storage.db import open_store
from tests.conftest import Clock, message
from tests.storage.dump import dump_all_text, find_leaks
from tests.storage.pg import PG_ENV, fresh_database

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql",
                 marks=pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set")),
]


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
        return
    async with fresh_database(os.environ[PG_ENV]) as url:
        yield url


def people() -> list[tuple[Platform, str, str]]:
    """Return (platform, user id, conversation) triples that are easy to spot in a dump."""
    out: list[tuple[Platform, str, str]] = []
    for i in range(12):
        out.append((TELEGRAM, f"7{i:08d}31", f"7{i:08d}31"))
        out.append((MATRIX, f"@citizen{i}zq:example.org", f"!room{i}zq:example.org"))
    return out


async def test_no_platform_id_or_text_outside_subscriptions(
    db_url: str, settings: Settings, clock: Clock, matcher: FaqMatcher
) -> None:
    store = await open_store(db_url)
    try:
        deps = await build_deps(settings, store=store, clock=clock, matcher=matcher)
        core = Core(deps)
        sharer = people()[0]
        code = deps.keyring.referral_code(sharer[0], sharer[1])
        secret_texts = ["my name is Zebediah Quux", "I live at 12 Marigold Lane, what about data?"]
        for index, (platform, user, _room) in enumerate(people()):
            def say(user: str = user, platform: Platform = platform, **kw: object) -> object:
                return core.handle(message(user=user, platform=platform, **kw))  # type: ignore[arg-type]
            await say(command="start", args=(code,))
            await say(text=secret_texts[index % 2], lang=None)
            await say(action="lang:de" if index % 3 == 0 else "faq:why-ban")
            await say(command="sign", args=("FR",))
            await say(command="share")
            if index % 2 == 0:
                await say(command="subscribe")
            if index % 4 == 0:
                await say(action="forget:yes")
        dump = await dump_all_text(db_url)
        needles = [user for _p, user, _r in people()] + [room for *_x, room in people()]
        needles += [*secret_texts, "Zebediah", "Marigold"]
        assert find_leaks(dump, needles) == []
        assert sum(len(cells) for cells in dump.values()) > 0
        subs = dump.get("subscriptions", [])
        assert any(user in " ".join(subs) for _p, user, _r in people())  # the opt-ins are there
        stats = await store.stats()
        assert stats.arrivals_total == len(people()) - 1
    finally:
        await store.close()
