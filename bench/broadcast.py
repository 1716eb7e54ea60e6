"""Benchmark broadcast delivery against the fake Telegram Bot API: rate, memory, crash safety.

Runs the real worker (``python -m bots broadcast run``) as a subprocess on SQLite in a
temporary folder, against the fake Bot API in another process (``FakeBotApiProcess``, light
journal). Measures, from the fake's journal timestamps (sends per sliding 1-s window, mean and
max over the steady state, i.e. without the first and last second):

* 30/s over at least 60 s, and 1000/s (paid broadcasts) for 10,000 and 100,000 subscribers:
  the achieved rate as a fraction of the configured one, and the busiest 1-s window both at
  the fake server and as the worker sent them (the fake's garbage-collection pauses, which
  grow with its journal, can bunch arrivals by tens of milliseconds);
* the worker's peak RSS (``VmHWM`` from ``/proc/<pid>/status``) for 10,000 and 100,000;
* a SIGKILL halfway through a 30/s broadcast and a restart: subscribers who got nothing
  (lost) and extra messages (duplicates), next to the sends in flight at the kill (delivered
  by the platform but not yet recorded) and the worker's own maximum in flight.

The last line is one JSON object with the headline figures.

    python bench/broadcast.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from handlers.broadcast import MILESTONE, Content, Target  # noqa: E402
from handlers.i18n import LANGUAGES  # noqa: E402
from storage import models  # noqa: E402
from storage.db import open_store  # noqa: E402
from storage.outbox import SqlOutbox  # noqa: E402
from storage.repositories import SqlStore  # noqa: E402
from tests.fakes.telegram_api import ControlClient, FakeBotApiProcess  # noqa: E402

TOKEN = "123456:bench"
FIRST_CHAT = 10_000_000
EDGE = 1.0  # seconds left out at each end when averaging (ramp up and down)
GRID = 0.01  # window starts for the mean


@dataclass
class Run:
    """What one worker run produced."""

    rate: float
    subscribers: int
    times: list[float]
    per_chat: Counter[int]
    peak_mb: float
    seconds: float
    figures: dict[str, Any]

    def windows(self) -> tuple[float, float]:
        """Return (mean, max) sends per 1-s window: mean over the steady state, max over all."""
        times = self.times
        peak = max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)),
                   default=0)
        start, end = times[0] + EDGE, times[-1] - EDGE - 1.0
        counts = []
        s = start
        while s <= end:
            counts.append(bisect.bisect_left(times, s + 1.0) - bisect.bisect_left(times, s))
            s += GRID
        mean = sum(counts) / len(counts) if counts else 0.0
        return mean, peak


class Bench:
    """Owns the fake server and a scratch folder."""

    def __init__(self, fake: FakeBotApiProcess, scratch: Path) -> None:
        self.fake = fake
        self.control: ControlClient = fake.control  # type: ignore[assignment]
        self.scratch = scratch
        self._runs = 0

    async def database(self, subscribers: int) -> tuple[str, SqlStore, int]:
        """A fresh SQLite database with ``subscribers`` Telegram subscriptions and one job."""
        self._runs += 1
        folder = self.scratch / f"run{self._runs}"
        url = f"sqlite+aiosqlite:///{folder / 'reclaim.db'}"
        store = await open_store(url)
        day = dt.date(2025, 5, 1)
        for first in range(0, subscribers, 10_000):
            rows = [{"person": f"bench{i}", "platform": "telegram", "address": str(FIRST_CHAT + i),
                     "language": LANGUAGES[i % len(LANGUAGES)], "created_day": day}
                    for i in range(first, min(first + 10_000, subscribers))]
            async with store.engine.begin() as conn:
                await conn.execute(insert(models.Subscription), rows)
        job = await SqlOutbox(store.engine).create(Content(MILESTONE, number=250_000),
                                                   Target(("telegram",)))
        return url, store, job.id

    def env(self, url: str, rate: float) -> dict[str, str]:
        """The worker's environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECLAIM_")}
        env.update({
            "RECLAIM_DATABASE_URL": url, "RECLAIM_DATA_DIR": str(self.scratch / "data"),
            "RECLAIM_SECRET_KEY": "bench-secret-key-0123456789", "RECLAIM_TELEGRAM_TOKEN": TOKEN,
            "RECLAIM_TELEGRAM_API_URL": self.fake.root, "RECLAIM_TELEGRAM_RATE": str(rate),
            "RECLAIM_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)})
        return env

    async def start_worker(self, url: str, rate: float, stats: Path,
                           until_idle: bool) -> asyncio.subprocess.Process:
        """Start ``reclaim-bot broadcast run`` as a child process."""
        args = [sys.executable, "-m", "bots", "broadcast", "run", "--stats-file", str(stats)]
        if until_idle:
            args.append("--until-idle")
        return await asyncio.create_subprocess_exec(
            *args, cwd=ROOT, env=self.env(url, rate), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)

    async def journal(self) -> tuple[list[float], Counter[int]]:
        """Arrival times of every sendMessage attempt, and successes per chat."""
        calls, _next = await self.control.calls(0, "sendMessage")
        times = sorted(c["time"] for c in calls)
        per_chat = Counter(int(c["params"]["chat_id"]) for c in calls if not c["failed"])
        return times, per_chat

    async def run(self, subscribers: int, rate: float) -> Run:
        """Deliver one milestone to ``subscribers`` at ``rate`` and measure it."""
        url, store, _job = await self.database(subscribers)
        await store.close()
        await self.control.clear()
        stats = self.scratch / f"stats{self._runs}.json"
        started = time.monotonic()
        proc = await self.start_worker(url, rate, stats, until_idle=True)
        peak = await watch_memory(proc)
        _out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed: {err.decode()[-2000:]}")
        seconds = time.monotonic() - started
        times, per_chat = await self.journal()
        return Run(rate, subscribers, times, per_chat, peak, seconds,
                   json.loads(stats.read_text()))

    async def kill_and_restart(self, subscribers: int, rate: float) -> dict[str, Any]:
        """SIGKILL the worker halfway, restart it, and count lost and repeated messages."""
        url, store, job_id = await self.database(subscribers)
        await self.control.clear()
        stats = self.scratch / f"stats{self._runs}.json"
        proc = await self.start_worker(url, rate, stats, until_idle=False)
        if not await self.control.wait_messages(subscribers // 2, timeout=600):
            raise RuntimeError("the worker did not get halfway")
        figures = json.loads(stats.read_text()) if stats.exists() else {}
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await asyncio.sleep(0.5)  # requests already on the wire get their answers
        _times, delivered = await self.journal()
        pending = await pending_chats(store, job_id)
        in_flight_at_kill = len(pending & set(delivered))
        await store.close()
        restarted = time.monotonic()
        proc = await self.start_worker(url, rate, stats, until_idle=True)
        _out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"restarted worker failed: {err.decode()[-2000:]}")
        _times, per_chat = await self.journal()
        everyone = {FIRST_CHAT + i for i in range(subscribers)}
        return {"lost": len(everyone - set(per_chat)),
                "duplicates": sum(n - 1 for n in per_chat.values() if n > 1),
                "in_flight_at_kill": in_flight_at_kill,
                "max_in_flight": int(figures.get("max_in_flight", 0)),
                "sent_before_kill": len(delivered),
                "restart_seconds": time.monotonic() - restarted}


async def pending_chats(store: SqlStore, job_id: int) -> set[int]:
    """Chats whose delivery the database still has as pending."""
    r, s = models.BroadcastRecipient, models.Subscription
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(s.address).join(r, r.subscription_id == s.id)
                                  .where(r.job_id == job_id))
        return {int(address) for (address,) in rows}


async def watch_memory(proc: asyncio.subprocess.Process) -> float:
    """Poll the child's VmHWM (peak RSS) until it exits; return it in MB."""
    peak_kb = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.returncode is None:
        try:
            for line in (await asyncio.to_thread(status.read_text)).splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        try:
            await asyncio.wait_for(proc.wait(), 0.1)
        except TimeoutError:
            pass
    return peak_kb / 1024


def report(name: str, run: Run) -> float:
    """Print one run's figures; return the mean rate fraction."""
    mean, peak = run.windows()
    lost = run.subscribers - len(run.per_chat)
    dups = sum(n - 1 for n in run.per_chat.values() if n > 1)
    span = run.times[-1] - run.times[0] if run.times else 0.0
    sender = run.figures.get("busiest_second", 0)
    print(f"{name}: {run.subscribers:,} subscribers at {run.rate:g}/s in {span:.1f} s of sending "
          f"({run.seconds:.1f} s with start-up): steady-state mean {mean:.1f}/s = "
          f"{mean / run.rate:.3f} of the limit; busiest 1-s window {peak} at the fake server "
          f"(its own pauses included), {sender} as sent; peak RSS {run.peak_mb:.1f} MB; "
          f"lost {lost}, duplicates {dups}; worker: {run.figures}", flush=True)
    return mean / run.rate


async def main(quick: bool) -> dict[str, Any]:
    """Run every measurement and return the headline figures."""
    slow = 700 if quick else 2_000  # 2,000 at 30/s: about 69 s of sending
    big = 20_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="reclaim-bench-") as folder:
        async with FakeBotApiProcess() as fake:
            bench = Bench(fake, Path(folder))
            r30 = await bench.run(slow, 30)
            f30 = report("30/s", r30)
            r10k = await bench.run(10_000, 1000)
            f10k = report("1000/s, 10k", r10k)
            r100k = await bench.run(big, 1000)
            f100k = report(f"1000/s, {big // 1000}k", r100k)
            kill = await bench.kill_and_restart(1_000, 30)
            print(f"SIGKILL halfway at 30/s, then restart: {kill}", flush=True)
    return {"rate_fraction_30": round(f30, 3), "rate_fraction_1000_10k": round(f10k, 3),
            "rate_fraction_1000_100k": round(f100k, 3), "peak_mb_10k": round(r10k.peak_mb, 1),
            "peak_mb_100k": round(r100k.peak_mb, 1), "lost_after_kill": kill["lost"],
            "duplicates_after_kill": kill["duplicates"], "max_in_flight": kill["max_in_flight"]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    started = time.monotonic()
    figures = asyncio.run(main(parser.parse_args().quick))
    print(f"total {time.monotonic() - started:.0f} s", flush=True)
    print(json.dumps(figures))
