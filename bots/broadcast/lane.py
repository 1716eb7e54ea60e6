"""One platform's delivery of one job in this process: claim, pace, send, record.

Small loops share a lane: the feeder claims batches of recipients (leased rows, joined with
their addresses) into a bounded buffer; the dispatcher takes a recipient, waits for a rate
slot and starts its send; the flusher writes outcomes every 0.1 s in one transaction (sent
rows are deleted, so a restart never sends them again); a heartbeat renews the lease of
every recipient held in memory; a watcher stops the lane within 0.25 s of a pause or cancel.
At most ``2 x batch`` recipients (plus the sends in flight) are ever in memory.

Per-chat spacing: a job sends one message per chat; retries wait at least one second, and a
lane starts its next job at least a second after the previous one ended on that platform.
The in-process :class:`ChatGuard` (and Redis, when shared) check it again for each send.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bots.broadcast.limiter import CHAT_GAP, ChatGuard, Pacer, SlotSource
from handlers.broadcast import RUNNING
from handlers.messages import Reply
from handlers.ports import PermanentFailure, RateLimited, RecipientGone, Sender, SendError
from storage.outbox import Outcomes, Recipient, Recorded, SqlOutbox

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0)
FLUSH_EVERY = 0.1
FLUSH_AT = 200
IDLE_POLL = 0.5
WATCH_EVERY = 0.25
#: On a stop, how long in-flight sends may take (SIGTERM leaves Docker's 10 s for everything).
DRAIN_TIMEOUT = 5.0

Render = Callable[[str], Reply | None]
ChatKey = Callable[[str], str]


@dataclass(slots=True)
class Item:
    """A claimed recipient and how often its send failed temporarily."""

    recipient: Recipient
    attempts: int = 0


@dataclass(slots=True)
class LaneStats:
    """Figures for the benchmark and the logs."""

    started: int = 0
    committed: int = 0
    max_in_flight: int = 0
    rate_limited: int = 0
    late: int = 0
    #: When each send went out within its slot (time.monotonic, comparable across processes
    #: on Linux); kept only when tracing, for tests of the shared limit.
    grants: list[float] | None = None

    @property
    def in_flight(self) -> int:
        """Sends started whose outcome is not yet in the database."""
        return self.started - self.committed


@dataclass(slots=True)
class LaneConfig:
    """Sizes and timings of a lane."""

    batch: int
    concurrency: int
    lease: float = 15.0

    @classmethod
    def for_rate(cls, rate: float, lease: float = 15.0) -> LaneConfig:
        """About a second of sends per claim; enough concurrency for slow answers."""
        return cls(batch=max(10, min(500, math.ceil(rate))),
                   concurrency=max(8, min(500, math.ceil(rate * 0.5))), lease=lease)


@dataclass(slots=True)
class _Deferred:
    heap: list[tuple[float, int, Item]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)

    def push(self, at: float, item: Item) -> None:
        heapq.heappush(self.heap, (at, next(self.seq), item))

    def pop_ready(self, now: float) -> Item | None:
        if self.heap and self.heap[0][0] <= now:
            return heapq.heappop(self.heap)[2]
        return None

    def next_at(self) -> float | None:
        return self.heap[0][0] if self.heap else None

    def items(self) -> list[Item]:
        return [entry[2] for entry in self.heap]


class Lane:
    """Delivers one job on one platform until it is done, paused, cancelled or stopped."""

    def __init__(self, *, platform: str, sender: Sender, pacer: Pacer, guard: ChatGuard,
                 source: SlotSource, outbox: SqlOutbox, owner: str, config: LaneConfig,
                 chat_key: ChatKey, on_recorded: Callable[[Recorded], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.platform = platform
        self.sender = sender
        self.pacer = pacer
        self.guard = guard
        self.source = source
        self.outbox = outbox
        self.owner = owner
        self.config = config
        self.chat_key = chat_key
        self.on_recorded = on_recorded
        self.stats = LaneStats()
        self._clock = clock
        self.job_id = 0
        self._render: Render = lambda _language: None
        self._active = False
        self._ready: deque[Item] = deque()
        self._deferred = _Deferred()
        self._inflight: dict[asyncio.Task[None], Item] = {}
        self._results = Outcomes()
        self._exhausted = False
        self._wake_feeder = asyncio.Event()
        self._wake_dispatcher = asyncio.Event()
        self._sem = asyncio.Semaphore(config.concurrency)

    # -- control ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop taking new recipients (pause, cancel, shutdown); in-flight sends finish."""
        self._active = False
        self._wake_dispatcher.set()
        self._wake_feeder.set()

    async def run(self, job_id: int, render: Render) -> bool:
        """Deliver until the platform has nothing pending; True when it got there."""
        self.job_id, self._render, self._active = job_id, render, True
        self._exhausted = False
        helpers = [asyncio.create_task(self._feed()), asyncio.create_task(self._flush_loop()),
                   asyncio.create_task(self._heartbeat()), asyncio.create_task(self._watch())]
        complete = False
        try:
            complete = await self._dispatch()
        finally:
            self._active = False
            await self._drain()
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._release_all()
            await self._flush()
        return complete

    # -- the loops --------------------------------------------------------------------------------

    async def _feed(self) -> None:
        batch = self.config.batch
        while self._active:
            if len(self._ready) + len(self._deferred.heap) >= batch:
                self._wake_feeder.clear()
                await self._wake_feeder.wait()
                continue
            try:
                claimed = await self.outbox.claim(self.job_id, self.platform, self.owner, batch,
                                                  self.config.lease)
            except Exception:
                log.warning("could not claim broadcast recipients; retrying", exc_info=True)
                await asyncio.sleep(IDLE_POLL)
                continue
            self._ready.extend(Item(recipient) for recipient in claimed)
            self._exhausted = not claimed
            self._wake_dispatcher.set()
            if not claimed:
                self._wake_feeder.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_feeder.wait(), IDLE_POLL)

    async def _dispatch(self) -> bool:
        while self._active:
            item = await self._next_item()
            if item is None:
                return self._active
            if not await self._chat_free(item):
                continue
            # Render first: loading a catalog must not happen between a slot and its send.
            reply = self._render(item.recipient.language)
            await self._sem.acquire()
            try:
                deadline = await self.pacer.acquire()
            except BaseException:
                self._sem.release()
                self._ready.appendleft(item)
                raise
            if not self._active:
                self._sem.release()
                self._ready.appendleft(item)
                break
            self.guard.mark(item.recipient.address)
            self._start_send(item, reply, deadline)
        return False

    async def _next_item(self) -> Item | None:
        """Return the next recipient to send to; None when the job is done on this platform."""
        while self._active:
            item = self._deferred.pop_ready(self._clock())
            if item is None and self._ready:
                item = self._ready.popleft()
            if item is not None:
                if len(self._ready) < self.config.batch // 2:
                    self._wake_feeder.set()
                return item
            if self._exhausted and not self._inflight and not self._deferred.heap:
                await self._flush()
                if not await self.outbox.has_pending(self.job_id, self.platform):
                    return None
            await self._idle_wait()
        return None

    async def _idle_wait(self) -> None:
        self._wake_dispatcher.clear()
        next_at = self._deferred.next_at()
        timeout = IDLE_POLL if next_at is None else min(max(next_at - self._clock(), 0.0), IDLE_POLL)
        self._wake_feeder.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake_dispatcher.wait(), timeout)

    async def _chat_free(self, item: Item) -> bool:
        address = item.recipient.address
        wait = self.guard.wait_for(address)
        if wait == 0.0 and self.source.shared:
            # A little longer than the gap: our slot may come a few ms after the hold.
            if not await self.source.hold_chat(self.chat_key(address), CHAT_GAP + 0.2):
                wait = CHAT_GAP
        if wait > 0.0:
            self._deferred.push(self._clock() + wait, item)
            return False
        return True

    def _start_send(self, item: Item, reply: Reply | None, deadline: float) -> None:
        self.stats.started += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        task = asyncio.create_task(self._send(item, reply, deadline))
        self._inflight[task] = item
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._sem.release()
        self._wake_dispatcher.set()

    async def _send(self, item: Item, reply: Reply | None, deadline: float) -> None:
        recipient = item.recipient
        if reply is None:
            self._results.failed.append((recipient.subscription_id, "no text for its language", 0))
            return
        try:
            if self._clock() > deadline:
                # The loop was busy since the slot was granted: take a fresh one, so late
                # sends never bunch up with punctual ones.
                self.stats.late += 1
                deadline = await self.pacer.acquire()
            if self.stats.grants is not None:
                self.stats.grants.append(self._clock())
            await self.sender.send(recipient.address, reply)
        except RateLimited as exc:
            self.stats.rate_limited += 1
            self.stats.committed += 1  # not a delivery: it goes back to the queue
            await self.pacer.pause(exc.retry_after)
            self._deferred.push(self._clock() + max(exc.retry_after, CHAT_GAP), item)
        except RecipientGone:
            self._results.gone.append(recipient.subscription_id)
        except PermanentFailure as exc:
            self._results.failed.append((recipient.subscription_id, _reason(exc), item.attempts + 1))
        except Exception as exc:  # TemporaryFailure, and anything unexpected
            self._retry(item, exc)
        else:
            self._results.sent.append(recipient.subscription_id)
        if len(self._results) >= FLUSH_AT:
            self._wake_dispatcher.set()

    def _retry(self, item: Item, exc: BaseException) -> None:
        item.attempts += 1
        if item.attempts >= MAX_ATTEMPTS:
            self._results.failed.append((item.recipient.subscription_id, _reason(exc), item.attempts))
            return
        self.stats.committed += 1  # back in the queue, not in flight
        if not isinstance(exc, SendError):
            log.warning("unexpected error sending a %s broadcast", self.platform, exc_info=exc)
        self._deferred.push(self._clock() + BACKOFF[item.attempts - 1], item)

    # -- writing outcomes -------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await self._flush()

    async def _flush(self) -> None:
        if not len(self._results):
            return
        outcomes, self._results = self._results, Outcomes()
        try:
            recorded = await self.outbox.record(self.job_id, self.owner, outcomes)
        except Exception:
            log.warning("could not record %d broadcast outcomes; retrying", len(outcomes),
                        exc_info=True)
            _merge(self._results, outcomes)
            return
        self.stats.committed += len(outcomes) - len(outcomes.released)
        if self.on_recorded is not None:
            self.on_recorded(recorded)

    async def _watch(self) -> None:
        """Stop within a quarter second of a pause or cancel, wherever it was asked for."""
        while self._active:
            await asyncio.sleep(WATCH_EVERY)
            try:
                state = await self.outbox.job_state(self.job_id)
            except Exception:
                log.warning("could not read a broadcast's state", exc_info=True)
                continue
            if state != RUNNING:
                self.stop()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.lease / 3)
            held = [i.recipient.subscription_id for i in self._held()]
            try:
                await self.outbox.renew(self.job_id, self.owner, held, self.config.lease)
            except Exception:
                log.warning("could not renew broadcast leases", exc_info=True)

    def _held(self) -> list[Item]:
        return [*self._ready, *self._deferred.items(), *self._inflight.values()]

    async def _drain(self) -> None:
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=DRAIN_TIMEOUT)

    async def _release_all(self) -> None:
        waiting = [*self._ready, *self._deferred.items()]
        self._ready.clear()
        self._deferred = _Deferred()
        self._results.released += [item.recipient.subscription_id for item in waiting]


def _merge(into: Outcomes, other: Outcomes) -> None:
    into.sent += other.sent
    into.gone += other.gone
    into.failed += other.failed
    into.released += other.released


def _reason(exc: BaseException) -> str:
    """A short failure reason for the job's summary (the platform's words, no addresses)."""
    return f"{type(exc).__name__}: {exc}"[:200]
