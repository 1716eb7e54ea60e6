"""Fixtures: a migrated store (SQLite, and PostgreSQL when configured), its outbox, a fake Bot API."""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from bots.app import build_deps
from bots.broadcast.worker import BroadcastWorker, build_worker
from bots.metrics import Metrics
from handlers.broadcast import FINAL_STATES, JobStatus, attach_outbox
from handlers.config import Settings
from handlers.context import Deps
from handlers.faq_match.matcher import FaqMatcher
from handlers.router import Core
from storage import models
from storage.outbox import SqlOutbox
from storage.repositories import SqlStore
from tests.conftest import Clock
from tests.fakes.telegram_api import FakeBotApi
from tests.storage.conftest import backend, db_url, store  # noqa: F401 - fixtures
from tests.storage.pg import PG_ENV

ROOT = Path(__file__).resolve().parents[2]
REDIS_ENV = "RECLAIM_TEST_REDIS_URL"
TOKEN = "123:ABC"
LANGS = ("en", "de", "fr")


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    """An in-process fake Bot API."""
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
def env(env: dict[str, str], fake: FakeBotApi, db_url: str) -> dict[str, str]:  # noqa: F811
    """Telegram configured against the fake, at a rate that keeps tests quick."""
    return {**env, "RECLAIM_TELEGRAM_TOKEN": TOKEN, "RECLAIM_TELEGRAM_API_URL": fake.root,
            "RECLAIM_TELEGRAM_RATE": "200", "RECLAIM_DATABASE_URL": db_url}


@pytest.fixture
async def bc_deps(settings: Settings, store: SqlStore, clock: Clock,  # noqa: F811
                  matcher: FaqMatcher) -> Deps:
    """The real services on the SQL store."""
    return await build_deps(settings, store=store, clock=clock, matcher=matcher)


@pytest.fixture
def outbox(store: SqlStore) -> SqlOutbox:  # noqa: F811
    """The outbox on the test database."""
    return SqlOutbox(store.engine)


@pytest.fixture
def bc_core(bc_deps: Deps, outbox: SqlOutbox) -> Core:
    """A core whose handlers reach the outbox."""
    attach_outbox(bc_deps, outbox)
    return Core(bc_deps)


async def add_subscribers(store: SqlStore, n: int, *, platform: str = "telegram",  # noqa: F811
                          languages: Sequence[str] = LANGS, first: int = 1000,
                          prefix: str = "p") -> list[int]:
    """Insert ``n`` subscriptions (chat ids from ``first``) in one statement; return their ids."""
    rows = [{"person": f"{prefix}{first + i}", "platform": platform, "address": str(first + i),
             "language": languages[i % len(languages)], "created_day": dt.date(2025, 5, 1)}
            for i in range(n)]
    async with store.engine.begin() as conn:
        await conn.execute(insert(models.Subscription), rows)
    subs = await store.list_subscriptions(platform=platform, limit=10 * n + 10)
    return [s.id for s in subs if s.address in {r["address"] for r in rows}]


async def wait_for_job(outbox: SqlOutbox, job_id: int, *, states: Sequence[str] = FINAL_STATES,
                       timeout: float = 30.0) -> JobStatus:  # noqa: ASYNC109
    """Poll until the job reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        status = await outbox.status(job_id)
        assert status is not None
        if status.state in states:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {status.state}: {status}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_worker(deps: Deps, **kwargs: Any) -> AsyncIterator[BroadcastWorker]:
    """Run the real worker (telegram sender against the fake) for the duration of a block."""
    worker = build_worker(deps, metrics=kwargs.pop("metrics", Metrics()), **kwargs)
    assert worker is not None
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


def max_per_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most events in any half-open window of ``window`` seconds."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)),
               default=0)


def send_times(fake: FakeBotApi, *, exclude: frozenset[Any] = frozenset()) -> list[float]:
    """Arrival times of every sendMessage and editMessageText attempt (failed ones too)."""
    return [c.time for c in fake.calls if c.method in ("sendMessage", "editMessageText")
            and c.params.get("chat_id") not in exclude]


def cli_env(env: dict[str, str]) -> dict[str, str]:
    """The environment for a CLI subprocess: ours, without the caller's RECLAIM_ variables."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("RECLAIM_")}
    full.update(env)
    full["PYTHONPATH"] = str(ROOT)
    return full


async def run_cli(args: Sequence[str], env: dict[str, str], stdin: str = "",
                  timeout: float = 60.0) -> tuple[int, str, str]:  # noqa: ASYNC109
    """Run ``python -m bots ...`` without blocking the loop (the fake serves meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bots", *args, cwd=ROOT, env=cli_env(env),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    async with reaped(proc):
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


@asynccontextmanager
async def reaped(*procs: asyncio.subprocess.Process) -> AsyncIterator[None]:
    """Kill child processes still running when the block ends (a failed test leaves none)."""
    try:
        yield
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def pg_only(backend: str) -> None:  # noqa: F811
    """Skip unless the test runs on PostgreSQL."""
    if backend != "postgresql" or not os.environ.get(PG_ENV):
        pytest.skip("PostgreSQL only")
