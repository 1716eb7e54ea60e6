"""``reclaim-bot broadcast ...`` as a black box: previews, confirmation, status, control, delivery."""

from __future__ import annotations

import asyncio
import json
import sys

from storage.outbox import SqlOutbox
from storage.repositories import SqlStore
from tests.broadcast.conftest import ROOT, add_subscribers, cli_env, reaped, run_cli
from tests.fakes.telegram_api import FakeBotApi


async def test_milestone_asks_then_queues_and_is_steered(env: dict[str, str], store: SqlStore,
                                                         outbox: SqlOutbox) -> None:
    await add_subscribers(store, 6)
    code, out, err = await run_cli(["broadcast", "milestone", "250000"], env, stdin="n\n")
    assert code == 1, err
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if "):" in line}
    assert "250.000" in lines["de (2)"] and "250\u202f000" in lines["fr (2)"]
    assert lines["en (2)"].endswith("🎉 We passed 250,000 signatures!") and "Not queued" in out
    assert await outbox.status() is None
    code, out, err = await run_cli(["broadcast", "milestone", "250,000", "--lang", "de,fr"], env,
                                   stdin="y\n")
    assert code == 0, err
    assert "Goes to 4 subscriber(s) on telegram" in out and "Queued broadcast #1" in out
    code, out, _ = await run_cli(["broadcast", "status"], env)
    assert code == 0 and "Broadcast #1 · milestone 250,000 · sending" in out
    assert "░░░░" in out and "left 4 (of 4)" in out
    code, out, _ = await run_cli(["broadcast", "pause"], env)
    assert code == 0 and "paused" in out
    code, out, _ = await run_cli(["broadcast", "resume", "1"], env)
    assert code == 0 and "sending" in out
    code, out, _ = await run_cli(["broadcast", "cancel"], env)
    assert code == 0 and "cancelled" in out
    code, out, _ = await run_cli(["broadcast", "status", "1", "--json"], env)
    data = json.loads(out)
    assert (data["state"], data["total"], data["content"]["number"]) == ("cancelled", 4, 250000)
    code, _out, err = await run_cli(["broadcast", "cancel"], env)
    assert code == 1 and "no running or paused" in err


async def test_bad_input_and_missing_platform(env: dict[str, str]) -> None:
    code, _out, err = await run_cli(["broadcast", "milestone", "many", "--yes"], env)
    assert code == 2 and "positive number" in err
    code, _out, err = await run_cli(["broadcast", "milestone", "100", "--lang", "xx", "--yes"], env)
    assert code == 2
    code, _out, err = await run_cli(["broadcast", "milestone", "100", "--platform", "matrix",
                                     "--yes"], env)
    assert code == 2 and "no platform configured" in err
    no_token = {k: v for k, v in env.items() if k != "RECLAIM_TELEGRAM_TOKEN"}
    code, _out, err = await run_cli(["broadcast", "run", "--until-idle"], no_token)
    assert code == 2 and "nothing to deliver" in err


async def test_wait_follows_a_delivery_by_the_worker(env: dict[str, str], store: SqlStore,
                                                     fake: FakeBotApi) -> None:
    await add_subscribers(store, 30)
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bots", "broadcast", "run", cwd=ROOT, env=cli_env(env),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    async with reaped(worker):
        code, out, err = await run_cli(["broadcast", "milestone", "1000", "--yes", "--wait"], env)
        worker.terminate()
        await worker.wait()
    assert code == 0, err
    assert "finished" in out and "Sent 30 · failed 0 · left 0 (of 30)" in out
    assert len(fake.sent_messages()) == 30
