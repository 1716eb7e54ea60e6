"""Scale-out: two `reclaim-bot serve` processes in webhook mode share one PostgreSQL.

A load balancer is played by the test: updates go to either process, and some are delivered
twice (Telegram retries a webhook it thinks failed, possibly to the other replica). Counts must
stay exact and a broadcast must reach every subscriber exactly once, both workers sharing it.
Both processes must also stop cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from handlers.identity import Keyring
from tests.fakes.telegram_api import FakeBotApi
from tests.storage.pg import PG_ENV, fresh_database
from tests.synapse.harness import free_port

pytestmark = pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set")

ROOT = Path(__file__).resolve().parent.parent
SECRET = "scale-out-secret-key-0123456789"
WEBHOOK_SECRET = "scaleOutWebhookSecret"
USERS = 30


def env_for(db_url: str, api_root: str, port: int, data_dir: Path) -> dict[str, str]:
    """Return the environment of one replica."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECLAIM_")}
    base.update({
        "RECLAIM_DATABASE_URL": db_url, "RECLAIM_SECRET_KEY": SECRET,
        "RECLAIM_TELEGRAM_TOKEN": "123:scaleout", "RECLAIM_TELEGRAM_API_URL": api_root,
        "RECLAIM_TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "RECLAIM_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET, "RECLAIM_HTTP_PORT": str(port),
        "RECLAIM_DATA_DIR": str(data_dir), "RECLAIM_TELEGRAM_RATE": "100",
        "RECLAIM_LOG_LEVEL": "WARNING",
    })
    return base


async def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait (up to a minute) until a replica answers /readyz."""
    deadline = asyncio.get_running_loop().time() + 60
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"replica exited early with {proc.returncode}")
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("replica did not become ready")


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_database(os.environ[PG_ENV]) as url:
        yield url


def cli(args: list[str], environ: dict[str, str]) -> str:
    """Run the CLI against the shared database and return its output."""
    result = subprocess.run([sys.executable, "-m", "bots", *args], env=environ, cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_two_replicas_count_exactly_and_deliver_once(pg_url: str, tmp_path: Path) -> None:
    async with FakeBotApi() as api:
        ports = [free_port(), free_port()]
        envs = [env_for(pg_url, api.root, port, tmp_path / f"r{i}") for i, port in enumerate(ports)]
        # Migrate once up front, as an operator would before rolling out replicas.
        cli(["db", "upgrade"], envs[0])
        procs = [subprocess.Popen([sys.executable, "-m", "bots", "serve"], env=e, cwd=ROOT)  # noqa: ASYNC220
                 for e in envs]
        try:
            for port, proc in zip(ports, procs, strict=True):
                await wait_ready(port, proc)
            await exercise(api, ports, envs[0])
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=20) for proc in procs]
    assert codes == [0, 0]  # graceful shutdown on SIGTERM


async def exercise(api: FakeBotApi, ports: list[int], environ: dict[str, str]) -> None:
    code = Keyring(SECRET).referral_code("telegram", "999")
    users = [5_000 + i for i in range(USERS)]
    for index, user in enumerate(users):
        for text in (f"/start {code}", "/subscribe"):
            update = api.make_message_update(user, user, text)
            url = f"http://127.0.0.1:{ports[index % 2]}/telegram/webhook"
            assert await api.push_webhook(url, update, WEBHOOK_SECRET) == 200
            if index % 3 == 0:  # a retried delivery, landing on the other replica
                other = f"http://127.0.0.1:{ports[(index + 1) % 2]}/telegram/webhook"
                assert await api.push_webhook(other, update, WEBHOOK_SECRET) == 200
    await api.wait_for(lambda: all(len(api.sent_messages(u)) >= 2 for u in users), timeout=60)
    await asyncio.sleep(1.0)  # let any duplicate processing show up
    assert all(len(api.sent_messages(u)) == 2 for u in users), "an update was handled twice"
    stats = json.loads(cli(["stats", "--json"], environ))
    assert stats["arrivals"]["total"] == USERS and stats["subscribers"] == USERS

    api.clear()
    cli(["broadcast", "milestone", "1000", "--yes"], environ)
    await api.wait_for(lambda: len(api.sent_messages()) >= USERS, timeout=90)
    await asyncio.sleep(2.0)
    per_chat = Counter(str(m.get("chat_id")) for m in api.sent_messages())
    assert sorted(per_chat) == sorted(str(u) for u in users)
    assert set(per_chat.values()) == {1}, "a subscriber got the broadcast twice"
