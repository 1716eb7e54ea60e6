"""The broadcast worker: a ``serve`` component (or ``reclaim-bot broadcast run``) that delivers.

Every half second it looks at the outbox: it starts a lane per platform on the oldest running
job with pending recipients there, stops lanes whose job was paused or cancelled, refreshes
progress messages, and marks jobs done. Jobs queued by the chat commands or the CLI are
picked up within a tick. On PostgreSQL several processes share jobs and one rate limit; on
SQLite one process delivers (a file lock makes any other wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bots.broadcast.lane import Lane, LaneConfig, Render
from bots.broadcast.limiter import (
    CHAT_GAP,
    DEFAULT_TOLERANCE,
    ChatGuard,
    Pacer,
    SlotSource,
    slot_source,
)
from bots.broadcast.progress import ProgressReporter
from bots.metrics import Metrics
from handlers.broadcast import RUNNING, Content, attach_outbox, render_message
from handlers.context import Deps
from handlers.messages import Reply
from handlers.ports import Sender
from storage.db import sqlite_path
from storage.outbox import ActiveJob, Recorded, SqlOutbox

log = logging.getLogger(__name__)

TICK = 0.5
FINISH_CHECK_EVERY = 2.0
ANNOUNCE_EVERY = 10.0
STOP_GRACE = 7.0


class BroadcastWorker:
    """Delivers queued broadcasts on every platform it has a sender for."""

    name = "broadcast"

    def __init__(self, deps: Deps, outbox: SqlOutbox, senders: Mapping[str, Sender], *,
                 source: SlotSource | None = None, metrics: Metrics | None = None,
                 lease: float = 15.0, tolerance: float = DEFAULT_TOLERANCE,
                 owned: tuple[Any, ...] = (), stats_path: Path | None = None,
                 trace: bool = False) -> None:
        self.deps = deps
        self.outbox = outbox
        self.senders = dict(senders)
        self.source = source if source is not None else slot_source(
            deps.settings.redis_url, outbox.engine)
        self.metrics = metrics
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
        self.guard = ChatGuard()
        rates = {"telegram": deps.settings.telegram_rate, "matrix": deps.settings.matrix_rate}
        self.pacers = {p: Pacer(self.source, p, rates.get(p, 10.0), tolerance=tolerance)
                       for p in self.senders}
        self.lanes = {p: self._lane(p, LaneConfig.for_rate(self.pacers[p].rate, lease))
                      for p in self.senders}
        for lane in self.lanes.values():
            lane.stats.grants = [] if trace else None
        self.progress = ProgressReporter(outbox, self.senders, self.pacers, self.guard,
                                         deps.i18n, self.owner)
        self._owned = owned
        self._stats_path = stats_path
        self._lane_tasks: dict[str, asyncio.Task[None]] = {}
        self._cooldown: dict[str, float] = {}
        self._next_finish_check = 0.0
        self._next_announce = 0.0
        self._main: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        self.idle = asyncio.Event()
        self.until_idle = False
        self._stopping = False

    def _lane(self, platform: str, config: LaneConfig) -> Lane:
        keyring = self.deps.keyring

        def chat_key(address: str) -> str:
            # Keyed, so the shared limiter never holds a readable chat id.
            return keyring.person_key(platform, "chat:" + address)

        def recorded(counts: Recorded) -> None:
            if self.metrics is not None:
                self.metrics.broadcast_sent.inc(counts.sent, platform=platform)
                self.metrics.broadcast_failed.inc(counts.failed + counts.gone, platform=platform)

        return Lane(platform=platform, sender=self.senders[platform], pacer=self.pacers[platform],
                    guard=self.guard, source=self.source, outbox=self.outbox, owner=self.owner,
                    config=config, chat_key=chat_key, on_recorded=recorded)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the senders this worker owns and start watching the outbox."""
        for sender in self._owned:
            await sender.start()
        self._main = asyncio.create_task(self._run(), name="broadcast-worker")

    async def stop(self) -> None:
        """Stop taking recipients, let in-flight sends finish and record them, release the rest."""
        self._stopping = True
        for lane in self.lanes.values():
            lane.stop()
        if self._lane_tasks:
            await asyncio.wait(list(self._lane_tasks.values()), timeout=STOP_GRACE)
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
        for sender in self._owned:
            with contextlib.suppress(Exception):
                await sender.close()
        await self.source.close()
        self._unlock()
        self._write_stats()

    async def _run(self) -> None:
        await self._take_sqlite_lock()
        reporter = asyncio.create_task(self._report_loop(), name="broadcast-progress")
        try:
            while True:
                try:
                    await self._tick()
                except Exception:
                    log.warning("broadcast worker tick failed", exc_info=True)
                self._write_stats()
                await asyncio.sleep(TICK)
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter

    async def _report_loop(self) -> None:
        """Progress messages in their own loop: an edit waiting for a slot never delays a tick."""
        while True:
            try:
                for job in await self.outbox.active_jobs():
                    if job.needs_final:
                        await self.progress.finish(job.id)
                        continue
                    status = await self.progress.update(job.id)
                    if status is not None and self.metrics is not None:
                        self.metrics.broadcast_pending.set(status.left)
            except Exception:
                log.warning("broadcast progress update failed", exc_info=True)
            await asyncio.sleep(TICK)

    # -- one look at the outbox -------------------------------------------------------------------

    async def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_announce and self.senders:
            await self.outbox.announce(self.senders)
            self._next_announce = now + ANNOUNCE_EVERY
        live = [job for job in await self.outbox.active_jobs() if not job.needs_final]
        states = {job.id: job.state for job in live}
        for platform, lane in self.lanes.items():
            if platform in self._lane_tasks and states.get(lane.job_id) != RUNNING:
                lane.stop()
        await self._start_lanes(live)
        await self._finish_orphans(live)
        if self.until_idle and not self._lane_tasks and not await self._has_work(live):
            self.idle.set()

    async def _has_work(self, jobs: list[ActiveJob]) -> bool:
        """Tell whether a running job still has recipients on a platform this worker serves."""
        for job in jobs:
            for platform in set(job.platforms) & set(self.lanes):
                if job.state == RUNNING and await self.outbox.has_pending(job.id, platform):
                    return True
        return False

    async def _start_lanes(self, jobs: list[ActiveJob]) -> None:
        if self._stopping:
            return
        now = time.monotonic()
        for platform in self.lanes:
            if platform in self._lane_tasks or now < self._cooldown.get(platform, 0.0):
                continue
            for job in jobs:
                if (job.state == RUNNING and platform in job.platforms
                        and await self.outbox.has_pending(job.id, platform)):
                    task = asyncio.create_task(self._deliver(platform, job),
                                               name=f"broadcast-{platform}-{job.id}")
                    self._lane_tasks[platform] = task
                    break

    async def _deliver(self, platform: str, job: ActiveJob) -> None:
        log.info("broadcast %d: delivering on %s", job.id, platform)
        try:
            complete = await self.lanes[platform].run(job.id, self._renderer(job.content))
            if complete and await self.outbox.finish_if_complete(job.id):
                log.info("broadcast %d finished", job.id)
                await self.progress.finish(job.id)
        except Exception:
            log.warning("broadcast %d: %s lane failed", job.id, platform, exc_info=True)
        finally:
            self._cooldown[platform] = time.monotonic() + CHAT_GAP
            self._lane_tasks.pop(platform, None)

    async def _finish_orphans(self, jobs: list[ActiveJob]) -> None:
        """Finish running jobs that no lane here works on (another worker's, or empty ones)."""
        now = time.monotonic()
        if now < self._next_finish_check:
            return
        self._next_finish_check = now + FINISH_CHECK_EVERY
        working = {lane.job_id for p, lane in self.lanes.items() if p in self._lane_tasks}
        for job in jobs:
            if job.state == RUNNING and job.id not in working and (
                    await self.outbox.finish_if_complete(job.id)):
                await self.progress.finish(job.id)

    def _renderer(self, content: Content) -> Render:
        cache: dict[str, Reply | None] = {}
        i18n = self.deps.i18n

        def render(language: str) -> Reply | None:
            if language not in cache:
                cache[language] = render_message(i18n.translator(language), content)
            return cache[language]

        return render

    # -- one SQLite worker, figures ---------------------------------------------------------------

    async def _take_sqlite_lock(self) -> None:
        """On SQLite, wait until no other process delivers (its limiter is in memory)."""
        path = sqlite_path(self.outbox.engine.url)
        if path is None or self.outbox.shared or sys.platform == "win32":
            return
        import fcntl

        fd = os.open(f"{path}.broadcast-lock", os.O_RDWR | os.O_CREAT, 0o600)
        warned = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock_fd = fd
                return
            except BlockingIOError:
                if not warned:
                    log.warning("another process delivers broadcasts on this SQLite database; "
                                "waiting")
                    warned = True
                await asyncio.sleep(2.0)

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def figures(self) -> dict[str, Any]:
        """Return counters for the benchmark: sends started, in flight, slots missed."""
        stats = [lane.stats for lane in self.lanes.values()]
        return {"started": sum(s.started for s in stats),
                "in_flight": sum(s.in_flight for s in stats),
                "max_in_flight": max((s.max_in_flight for s in stats), default=0),
                "rate_limited": sum(s.rate_limited for s in stats),
                "late": sum(s.late for s in stats),
                "missed_slots": sum(p.missed for p in self.pacers.values()),
                "busiest_second": max((p.busiest for p in self.pacers.values()), default=0),
                **({"grants": [t for s in stats for t in s.grants or ()]}
                   if any(s.grants is not None for s in stats) else {})}

    def _write_stats(self) -> None:
        if self._stats_path is None:
            return
        temporary = self._stats_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.figures()))
        temporary.replace(self._stats_path)


def build_worker(deps: Deps, *, matrix: Sender | None = None, metrics: Metrics | None = None,
                 lease: float = 15.0, stats_path: Path | None = None,
                 trace: bool = False) -> BroadcastWorker | None:
    """Build the worker for the configured platforms (None when the store is not SQL)."""
    from bots.broadcast.telegram import FREE_BROADCAST_RATE, TelegramSender

    engine = getattr(deps.store, "engine", None)
    if engine is None:
        return None
    outbox = SqlOutbox(engine)
    attach_outbox(deps, outbox)
    settings = deps.settings
    senders: dict[str, Sender] = {}
    owned: list[TelegramSender] = []
    if settings.telegram_enabled and settings.telegram_token:
        telegram = TelegramSender(settings.telegram_api_url, settings.telegram_token,
                                  paid_broadcast=settings.telegram_rate > FREE_BROADCAST_RATE,
                                  connections=LaneConfig.for_rate(settings.telegram_rate).concurrency)
        senders["telegram"], owned = telegram, [telegram]
    if matrix is not None:
        senders["matrix"] = matrix
    return BroadcastWorker(deps, outbox, senders, metrics=metrics, lease=lease,
                           owned=tuple(owned), stats_path=stats_path, trace=trace)
