"""Send pacing: at most N attempts in any 1-second window per platform, shared by all processes.

The schedule is GCRA-like: a shared "theoretical arrival time" (TAT) per platform hands out
slots ``interval`` apart. A process reserves a short run of slots at once (about 50 ms worth)
and sends each at its time. With several processes, a slot used later than ``tolerance``
after its time is thrown away, and slots are spaced ``(1 + tolerance + margin) / rate``
apart: then any 1-second window holds sends whose slots lie in a span of 1 + tolerance
seconds, which is at most ``rate`` slots, whatever the lateness of each process. A single
process also keeps a log of its last ``rate`` sends instead (see :class:`Pacer`). The margin
leaves room for network jitter, so the platform's own count stays within the rate too.

A 429 pushes the shared TAT ``retry_after`` into the future, pausing every process; a process
notices at its next reservation (within ~50 ms), the one that got the 429 at once.

Where the TAT lives: in Redis when ``RECLAIM_REDIS_URL`` is set (a Lua script, Redis's own
clock), else in PostgreSQL (one row per platform, updated atomically), else in memory (SQLite
means one worker process).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

Clock = Callable[[], float]
#: How late a shared slot may still be used. Generous enough for a loaded machine's database
#: round trip; the spacing pays for it (about 93 % of the rate when several processes share).
DEFAULT_TOLERANCE = 0.05
#: Extra spacing for what happens after we send (network and server jitter), so that the
#: platform too counts no more than the rate in any second.
DEFAULT_MARGIN = 0.025
CHUNK_SECONDS = 0.05
#: In one process, how late a slot may still be used (the send log keeps the limit).
CATCH_UP = 0.05
CHAT_GAP = 1.0
KEY_TTL_MS = 120_000


class SlotSource(Protocol):
    """Where send slots come from."""

    #: True when other processes draw from the same schedule.
    shared: bool

    async def reserve(self, key: str, count: int, interval: float) -> float:
        """Reserve ``count`` slots ``interval`` apart; return the seconds until the first."""
        ...

    async def pause(self, key: str, seconds: float) -> None:
        """Push the schedule at least ``seconds`` into the future (a 429)."""
        ...

    async def hold_chat(self, chat_key: str, seconds: float) -> bool:
        """Reserve one chat for ``seconds``; False if another process holds it."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemorySlots:
    """The schedule of one process."""

    shared = False

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}

    async def reserve(self, key: str, count: int, interval: float) -> float:
        """Reserve slots from the in-memory TAT."""
        now = self._clock()
        start = max(self._tat.get(key, 0.0), now)
        self._tat[key] = start + count * interval
        return start - now

    async def pause(self, key: str, seconds: float) -> None:
        """Move the in-memory TAT."""
        self._tat[key] = max(self._tat.get(key, 0.0), self._clock() + seconds)

    async def hold_chat(self, chat_key: str, seconds: float) -> bool:
        """One process: the local chat guard is enough."""
        return True

    async def close(self) -> None:
        """Nothing to release."""


_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local span = tonumber(ARGV[1]) * tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.0f', tat + span), 'PX', ARGV[3])
return tat - now
"""
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local target = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < target then
  redis.call('SET', KEYS[1], string.format('%.0f', target), 'PX', ARGV[2])
end
return 1
"""


class RedisSlots:
    """The schedule in Redis, shared by every process (Redis's clock, microseconds)."""

    shared = True

    def __init__(self, url: str, prefix: str = "reclaim:broadcast:") -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url)
        self._prefix = prefix
        self._reserve = self._redis.register_script(_RESERVE)
        self._pause = self._redis.register_script(_PAUSE)

    async def reserve(self, key: str, count: int, interval: float) -> float:
        """Run the reservation script."""
        wait_us = await self._reserve(keys=[self._prefix + "tat:" + key],
                                      args=[max(1, round(interval * 1e6)), count, KEY_TTL_MS])
        return max(int(wait_us), 0) / 1e6

    async def pause(self, key: str, seconds: float) -> None:
        """Run the pause script."""
        ttl = KEY_TTL_MS + int(seconds * 1000)
        await self._pause(keys=[self._prefix + "tat:" + key], args=[round(seconds * 1e6), ttl])

    async def hold_chat(self, chat_key: str, seconds: float) -> bool:
        """``SET NX PX``: the first process to ask gets the chat."""
        held = await self._redis.set(self._prefix + "chat:" + chat_key, b"1", nx=True,
                                     px=max(1, round(seconds * 1000)))
        return bool(held)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


class PostgresSlots:
    """The schedule in a PostgreSQL row per platform (the database's clock)."""

    shared = True

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._known: set[str] = set()

    async def _scalar(self, sql: str, params: dict[str, Any]) -> Any:
        # Autocommit: one round trip, so the answer is as fresh as it can be.
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None

    async def _ensure(self, key: str) -> None:
        if key not in self._known:
            await self._scalar("INSERT INTO broadcast_rate (platform, tat) VALUES (:p, 0) "
                               "ON CONFLICT (platform) DO NOTHING", {"p": key})
            self._known.add(key)

    async def reserve(self, key: str, count: int, interval: float) -> float:
        """Move the row's TAT in one atomic UPDATE and return the wait."""
        await self._ensure(key)
        wait = await self._scalar(
            "WITH now AS (SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 AS t) "
            "UPDATE broadcast_rate SET tat = GREATEST(broadcast_rate.tat, now.t) + :span "
            "FROM now WHERE platform = :p RETURNING broadcast_rate.tat - :span - now.t",
            {"p": key, "span": count * interval})
        return max(float(wait or 0.0), 0.0)

    async def pause(self, key: str, seconds: float) -> None:
        """Push the row's TAT past the pause."""
        await self._ensure(key)
        await self._scalar(
            "UPDATE broadcast_rate SET tat = GREATEST(tat, "
            "EXTRACT(EPOCH FROM clock_timestamp())::float8 + :s) WHERE platform = :p",
            {"p": key, "s": seconds})

    async def hold_chat(self, chat_key: str, seconds: float) -> bool:
        """Per-chat spacing across processes holds by construction (see ``Lane``)."""
        return True

    async def close(self) -> None:
        """The engine belongs to the store."""


class Pacer:
    """Hands out send slots for one platform in this process; awaits until each is due.

    Shared schedule (Redis, PostgreSQL): slots ``(1 + tolerance + margin) / rate`` apart, each
    usable for ``tolerance`` seconds, which bounds every window for all processes together.
    This process alone (SQLite): slots ``(1 + margin) / rate`` apart plus a log of the last
    ``rate`` sends, so any ``1 + margin`` seconds hold at most ``rate`` of them; a slot may then
    be used late (up to ``catch_up``), and a short stall costs no throughput.
    """

    def __init__(self, source: SlotSource, key: str, rate: float, *,
                 tolerance: float = DEFAULT_TOLERANCE, margin: float = DEFAULT_MARGIN,
                 chunk_seconds: float = CHUNK_SECONDS, catch_up: float = CATCH_UP,
                 clock: Clock = time.monotonic) -> None:
        self.source = source
        self.key = key
        self.rate = rate
        self.shared = source.shared
        self.tolerance = tolerance if self.shared else catch_up
        self.window = 1.0 + margin
        self.interval = ((1.0 + tolerance + margin) if self.shared else self.window) / rate
        self._chunk = max(1, math.floor(rate * chunk_seconds))
        self._clock = clock
        self._slots: deque[tuple[float, float]] = deque()  # (due, last moment to use it)
        self._log: deque[float] | None = None if self.shared else deque(
            maxlen=max(1, math.floor(rate)))
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self._recent: deque[float] = deque()
        self.missed = 0
        self.busiest = 0  # the most slots granted here in any 1-second window

    @property
    def paused_for(self) -> float:
        """Return the seconds left of a 429 pause (0 when not paused)."""
        return max(self._paused_until - self._clock(), 0.0)

    async def acquire(self) -> float:
        """Wait for the next slot (in order, one per caller); return the last moment to use it."""
        async with self._lock:
            while True:
                now = self._clock()
                wait = self._wait(now)
                if wait is None:
                    await self._refill()
                elif wait > 0:
                    await asyncio.sleep(wait)
                else:
                    return self._grant(now)

    def _wait(self, now: float) -> float | None:
        """Seconds until the next slot may be used; None when a new run of slots is needed."""
        if now < self._paused_until:
            return self._paused_until - now
        while self._slots and self._slots[0][1] < now:
            self._slots.popleft()
            self.missed += 1
        if not self._slots:
            return None
        wait = self._slots[0][0] - now
        log = self._log
        if log is not None and len(log) == log.maxlen:
            wait = max(wait, log[0] + self.window - now)
        return wait

    def _grant(self, now: float) -> float:
        deadline = self._slots.popleft()[1]
        if self._log is not None:
            self._log.append(now)
        recent = self._recent
        recent.append(now)
        while now - recent[0] >= 1.0:
            recent.popleft()
        self.busiest = max(self.busiest, len(recent))
        return deadline

    async def _refill(self) -> None:
        before = self._clock()
        wait = await self.source.reserve(self.key, self._chunk, self.interval)
        after = self._clock()
        # The true slot may be up to one round trip earlier than we think: spend less of the
        # tolerance on local lateness. No floor: a round trip slower than the tolerance makes
        # this run unusable (it is refilled), which costs throughput but never the limit.
        budget = max(self.tolerance - (after - before), 0.0)
        base = after + wait
        for i in range(self._chunk):
            due = base + i * self.interval
            self._slots.append((due, due + budget))

    async def pause(self, seconds: float) -> None:
        """Stop every send on this platform for ``seconds`` (here at once, elsewhere soon)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._slots.clear()
        try:
            await self.source.pause(self.key, seconds)
        except Exception:
            log.warning("could not share a %s pause", self.key, exc_info=True)


class ChatGuard:
    """At least ``gap`` seconds between two sends to one chat, in this process."""

    def __init__(self, gap: float = CHAT_GAP, clock: Clock = time.monotonic) -> None:
        self.gap = gap
        self._clock = clock
        self._last: dict[str, float] = {}
        self._next_prune = 0.0

    def wait_for(self, chat: str) -> float:
        """Return the seconds until ``chat`` may get another message."""
        last = self._last.get(chat)
        return 0.0 if last is None else max(last + self.gap - self._clock(), 0.0)

    def mark(self, chat: str) -> None:
        """Record a send to ``chat`` now."""
        now = self._clock()
        self._last[chat] = now
        if now >= self._next_prune:
            # Forget chats whose gap has passed: memory stays at about rate x gap entries.
            self._last = {k: v for k, v in self._last.items() if v + self.gap > now}
            self._next_prune = now + self.gap


def slot_source(redis_url: str | None, engine: AsyncEngine | None) -> SlotSource:
    """Pick the shared schedule: Redis if configured, else PostgreSQL, else this process."""
    if redis_url:
        return RedisSlots(redis_url)
    if engine is not None and engine.dialect.name == "postgresql":
        return PostgresSlots(engine)
    return MemorySlots()
