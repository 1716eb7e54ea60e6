"""The worker end to end against the fake Bot API: delivery, errors, control, limits, crashes."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bots.metrics import Metrics
from handlers.broadcast import CANCELLED, DONE, MILESTONE, PAUSED, RUNNING, Content, Progress, Target
from handlers.context import Deps
from handlers.ports import PersonKey
from storage import models
from storage.outbox import SqlOutbox
from storage.repositories import SqlStore
from tests.broadcast.conftest import (
    REDIS_ENV,
    ROOT,
    add_subscribers,
    cli_env,
    max_per_window,
    pg_only,
    reaped,
    running_worker,
    send_times,
    wait_for_job,
)
from tests.fakes.telegram_api import FakeBotApi

MILE = Content(MILESTONE, number=250_000)
TELEGRAM = Target(("telegram",))
ADMIN_CHAT = 42


def _per_chat(fake: FakeBotApi) -> Counter[object]:
    return Counter(p.get("chat_id") for p in fake.sent_messages() if p.get("chat_id") != ADMIN_CHAT)


async def _rows(store: SqlStore) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(
            select(func.count()).select_from(models.BroadcastRecipient)) or 0)


async def test_milestone_reaches_everyone_once_in_their_language(
        bc_deps: Deps, outbox: SqlOutbox, store: SqlStore, fake: FakeBotApi) -> None:
    await add_subscribers(store, 60)
    job = await outbox.create(MILE, TELEGRAM, progress=Progress("telegram", str(ADMIN_CHAT), "en"))
    metrics = Metrics()
    async with running_worker(bc_deps, metrics=metrics):
        status = await wait_for_job(outbox, job.id)
        await asyncio.sleep(0.3)  # the final edit follows the finish
    assert (status.state, status.sent, status.failed, status.left) == (DONE, 60, 0, 0)
    per_chat = _per_chat(fake)
    assert len(per_chat) == 60 and set(per_chat.values()) == {1}
    texts = {p["chat_id"]: p["text"] for p in fake.sent_messages()}
    assert "250,000" in texts[1000] and "250.000" in texts[1001] and "250\u202f000" in texts[1002]
    assert fake.sent_messages(1000)[0]["allow_paid_broadcast"] is True  # 200/s is above 30/s
    markup = fake.sent_messages(1000)[0]["reply_markup"]
    assert markup["inline_keyboard"][0][0]["callback_data"] == "unsub"
    admin = [c for c in fake.calls if c.params.get("chat_id") == ADMIN_CHAT]
    assert admin[0].method == "sendMessage" and "Broadcast #1" in admin[0].params["text"]
    assert admin[-1].method == "editMessageText" and "finished" in admin[-1].params["text"]
    assert "reply_markup" not in admin[-1].params  # no buttons on a finished job
    assert await _rows(store) == 0
    assert await outbox.release_progress(job.id) is None  # the address is gone
    assert metrics.broadcast_sent.value(platform="telegram") == 60


async def test_429_pauses_every_send_then_resumes(bc_deps: Deps, outbox: SqlOutbox,
                                                  store: SqlStore, fake: FakeBotApi) -> None:
    await add_subscribers(store, 80)
    fake.fail_next("sendMessage", status=429, retry_after=1, chat_id=1010)
    job = await outbox.create(MILE, TELEGRAM)
    async with running_worker(bc_deps):
        status = await wait_for_job(outbox, job.id)
    assert status.sent == 80
    refused = next(c for c in fake.calls if c.status == 429)
    # Sends already on their way when the 429 came back may land just after it; then nothing.
    during = [t for t in send_times(fake) if refused.time + 0.05 < t < refused.time + 0.95]
    assert during == []
    assert _per_chat(fake)[1010] == 1


async def test_errors_gone_permanent_and_temporary(bc_deps: Deps, outbox: SqlOutbox,
                                                   store: SqlStore, fake: FakeBotApi) -> None:
    await add_subscribers(store, 12)
    fake.fail_next("sendMessage", status=403, chat_id=1003)
    fake.fail_next("sendMessage", status=400, description="Bad Request: message is too long",
                   chat_id=1004)
    fake.fail_next("sendMessage", count=2, status=502, chat_id=1005)
    job = await outbox.create(MILE, TELEGRAM)
    async with running_worker(bc_deps):
        status = await wait_for_job(outbox, job.id)
    assert (status.sent, status.gone, status.failed) == (10, 1, 1)
    assert status.failures == {"PermanentFailure: 400 Bad Request: message is too long": 1}
    assert not any(s.address == "1003" for s in await store.list_subscriptions())
    attempts = [c.time for c in fake.calls if c.params.get("chat_id") == 1005]
    assert len(attempts) == 3 and all(b - a >= 0.99 for a, b in itertools.pairwise(attempts))


async def test_rate_and_per_chat_limits_hold(bc_deps: Deps, outbox: SqlOutbox,
                                             store: SqlStore, fake: FakeBotApi) -> None:
    bc_deps.settings = replace(bc_deps.settings, telegram_rate=25.0)
    await add_subscribers(store, 75)
    job = await outbox.create(MILE, TELEGRAM)
    async with running_worker(bc_deps):
        await wait_for_job(outbox, job.id)
    times = send_times(fake)
    assert max_per_window(times) <= 25
    # Not much slower than the limit either (0.8: a busy 2-core CI machine measured 0.88).
    assert len(times) / (max(times) - min(times)) >= 0.8 * 25
    assert set(_per_chat(fake).values()) == {1}
    assert "allow_paid_broadcast" not in fake.sent_messages()[0]  # 25/s is free


async def test_pause_resume_cancel_while_sending(bc_deps: Deps, outbox: SqlOutbox,
                                                 store: SqlStore, fake: FakeBotApi) -> None:
    bc_deps.settings = replace(bc_deps.settings, telegram_rate=20.0)
    await add_subscribers(store, 200)
    job = await outbox.create(MILE, TELEGRAM, progress=Progress("telegram", str(ADMIN_CHAT), "en"))
    async with running_worker(bc_deps):
        await fake.wait_for(lambda: len(_per_chat(fake)) >= 20, timeout=10)
        await outbox.control(job.id, "pause")
        await wait_for_job(outbox, job.id, states=(PAUSED,))
        await asyncio.sleep(0.8)  # in-flight sends land
        frozen = len(_per_chat(fake))
        await asyncio.sleep(1.0)
        assert len(_per_chat(fake)) == frozen
        await outbox.control(job.id, "resume")
        await fake.wait_for(lambda: len(_per_chat(fake)) >= frozen + 20, timeout=10)
        cancelled = await outbox.control(job.id, "cancel")
        assert cancelled is not None and cancelled.state == CANCELLED
        await asyncio.sleep(0.8)
        after = len(_per_chat(fake))
        await asyncio.sleep(1.0)
        assert len(_per_chat(fake)) == after < 200
    assert await _rows(store) == 0
    final = [c for c in fake.calls if c.params.get("chat_id") == ADMIN_CHAT][-1]
    assert "cancelled" in final.params["text"]
    assert set(_per_chat(fake).values()) == {1}


async def test_unsubscribing_mid_job_cancels_that_send(bc_deps: Deps, outbox: SqlOutbox,
                                                       store: SqlStore, fake: FakeBotApi) -> None:
    bc_deps.settings = replace(bc_deps.settings, telegram_rate=50.0)
    await add_subscribers(store, 120)
    job = await outbox.create(MILE, TELEGRAM)
    async with running_worker(bc_deps):
        await fake.wait_for(lambda: len(_per_chat(fake)) >= 5, timeout=10)
        assert await store.unsubscribe(PersonKey("p1119"))
        status = await wait_for_job(outbox, job.id)
    assert 1119 not in _per_chat(fake)
    assert status.state == DONE and status.sent == 119


async def test_kill_and_restart_loses_nobody(env: dict[str, str], outbox: SqlOutbox,
                                             store: SqlStore, fake: FakeBotApi,
                                             tmp_path: Path) -> None:
    await add_subscribers(store, 150)
    job = await outbox.create(MILE, TELEGRAM)
    worker_env = cli_env({**env, "RECLAIM_TELEGRAM_RATE": "40"})
    args = [sys.executable, "-m", "bots", "broadcast", "run", "--lease", "2"]
    first = await asyncio.create_subprocess_exec(*args, cwd=ROOT, env=worker_env,
                                                 stderr=asyncio.subprocess.DEVNULL,
                                                 stdout=asyncio.subprocess.DEVNULL)
    try:
        await fake.wait_for(lambda: len(_per_chat(fake)) >= 60, timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    await asyncio.sleep(0.3)  # requests already on the wire are answered
    status = await outbox.status(job.id)
    assert status is not None and status.state == RUNNING
    pending = await _pending_chats(store, job.id)
    in_flight_at_kill = pending & set(_per_chat(fake))
    second = await asyncio.create_subprocess_exec(*args, "--until-idle", cwd=ROOT, env=worker_env,
                                                  stdout=asyncio.subprocess.PIPE,
                                                  stderr=asyncio.subprocess.PIPE)
    async with reaped(second):
        _out, err = await asyncio.wait_for(second.communicate(), 60)
    assert second.returncode == 0, err.decode()
    per_chat = _per_chat(fake)
    duplicated = {chat for chat, n in per_chat.items() if n > 1}
    assert len(per_chat) == 150  # nobody lost
    assert duplicated <= in_flight_at_kill  # only sends in flight at the kill repeat
    final = await outbox.status(job.id)
    assert final is not None and final.state == DONE and final.left == 0


async def _pending_chats(store: SqlStore, job_id: int) -> set[object]:
    r, s = models.BroadcastRecipient, models.Subscription
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(s.address).join(r, r.subscription_id == s.id).where(
            r.job_id == job_id))
        return {int(address) for (address,) in rows}


async def _run_pair(env: dict[str, str], tmp_path: Path) -> list[dict[str, Any]]:
    procs = []
    for i in range(2):
        args = [sys.executable, "-m", "bots", "broadcast", "run", "--until-idle", "--trace",
                "--stats-file", str(tmp_path / f"stats{i}.json")]
        procs.append(await asyncio.create_subprocess_exec(
            *args, cwd=ROOT, env=cli_env(env), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE))
    async with reaped(*procs):
        for proc in procs:
            _out, err = await asyncio.wait_for(proc.communicate(), 90)
            assert proc.returncode == 0, err.decode()
    return [json.loads((tmp_path / f"stats{i}.json").read_text()) for i in range(2)]


@pytest.mark.parametrize("limiter", ["postgresql", "redis"])
async def test_two_processes_share_one_job_and_one_rate(env: dict[str, str], backend: str,
                                                        outbox: SqlOutbox, store: SqlStore,
                                                        fake: FakeBotApi, tmp_path: Path,
                                                        limiter: str) -> None:
    pg_only(backend)
    env = {**env, "RECLAIM_TELEGRAM_RATE": "60"}
    if limiter == "redis":
        redis = os.environ.get(REDIS_ENV)
        if not redis:
            pytest.skip(f"{REDIS_ENV} not set")
        env["RECLAIM_REDIS_URL"] = redis
    await add_subscribers(store, 300)
    job = await outbox.create(MILE, TELEGRAM)
    started = time.monotonic()
    stats = await _run_pair(env, tmp_path)
    assert all(s["started"] > 0 for s in stats), stats  # both worked on the job
    per_chat = _per_chat(fake)
    assert len(per_chat) == 300 and set(per_chat.values()) == {1}
    # The limiter's promise, exactly: slots granted by both processes together.
    assert max_per_window([t for s in stats for t in s["grants"]]) <= 60
    # What the platform saw: two processes' requests reach it a few tens of ms after their
    # grants, unevenly on a loaded 2-core CI box, so a window can catch a few extra (CI once
    # measured 63); a 10% margin absorbs that while a broken shared limit (~120) still fails.
    assert max_per_window(send_times(fake)) <= 66
    assert time.monotonic() - started < 30
    final = await outbox.status(job.id)
    assert final is not None and final.state == DONE and final.sent == 300
