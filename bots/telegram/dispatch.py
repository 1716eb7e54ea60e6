"""Concurrency that keeps order: chats run side by side, one chat's updates run one by one.

PTB's ``concurrent_updates`` can reorder replies within a chat, so the Application keeps its
default sequential fetcher and hands every update to this processor, which only *enqueues* it:
one FIFO per chat (or per inline-mode user), drained by a worker task that exists while the
queue has work and ends when it is empty. A global semaphore caps how many chats are handled
at once, so one slow handler holds one slot and never stalls other chats. A chat that floods
the bot has a bounded queue: beyond it, updates are dropped and ``on_flood`` is told once per
burst (the burst ends when that chat's queue runs empty).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any

from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)

KeyFn = Callable[[object], Hashable | None]
FloodFn = Callable[[object, bool], Coroutine[Any, Any, None]]


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Per-chat FIFO queues with one worker each, a global concurrency cap and a flood guard."""

    def __init__(
        self,
        key: KeyFn,
        *,
        max_pending_per_chat: int = 20,
        max_active: int = 128,
        max_backlog: int = 2000,
        on_flood: FloodFn | None = None,
    ) -> None:
        # 1: PTB's fetcher then calls us sequentially, in arrival order; we never block it.
        super().__init__(max_concurrent_updates=1)
        self._key = key
        self.max_pending_per_chat = max_pending_per_chat
        self._active = asyncio.Semaphore(max_active)
        self._on_flood = on_flood
        self._queues: dict[Hashable, deque[Awaitable[Any]]] = {}
        self._workers: dict[Hashable, asyncio.Task[None]] = {}
        self._flooded: set[Hashable] = set()
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.max_backlog = max_backlog
        self._room = asyncio.Event()
        self._room.set()
        self.pending = 0  # updates queued or running
        self.dropped = 0

    async def wait_for_room(self) -> None:
        """Return once fewer than ``max_backlog`` updates are pending (intake backpressure)."""
        await self._room.wait()

    def _count(self, delta: int) -> None:
        self.pending += delta
        if self.pending >= self.max_backlog:
            self._room.clear()
        else:
            self._room.set()

    @property
    def active_chats(self) -> int:
        """Chats with a live worker."""
        return len(self._workers)

    async def initialize(self) -> None:
        """Nothing to allocate: workers start on demand."""

    async def shutdown(self) -> None:
        """Cancel what is still running or queued (call :meth:`drain` first to finish it)."""
        for task in [*self._workers.values(), *self._side_tasks]:
            task.cancel()
        for task in [*self._workers.values(), *self._side_tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until every queue is empty; False if ``timeout`` seconds were not enough."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Queue the update's processing behind earlier updates of the same chat."""
        key = self._key(update)
        if key is None:
            key = ("update", id(coroutine))  # no chat: nothing to keep in order with
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        elif len(queue) >= self.max_pending_per_chat:
            self._drop(key, update, coroutine)
            return
        queue.append(coroutine)
        self._count(1)
        if key not in self._workers:
            self._idle.clear()
            self._workers[key] = asyncio.create_task(self._work(key, queue),
                                                     name="telegram-chat-worker")

    def _drop(self, key: Hashable, update: object, coroutine: Awaitable[Any]) -> None:
        """Refuse one update of a flooding chat; tell on_flood (first of the burst or not)."""
        if isinstance(coroutine, Coroutine):
            coroutine.close()  # never started: closing avoids a "never awaited" warning
        self.dropped += 1
        first = key not in self._flooded
        self._flooded.add(key)
        if first:
            log.info("a chat is sending faster than it is answered; dropping its extra updates")
        if self._on_flood is not None:
            task = asyncio.create_task(self._on_flood(update, first), name="telegram-flood")
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)

    async def _work(self, key: Hashable, queue: deque[Awaitable[Any]]) -> None:
        """Run one chat's updates in order; end (and forget the chat) when its queue is empty."""
        try:
            while queue:
                coroutine = queue.popleft()
                try:
                    async with self._active:
                        await coroutine
                except Exception:
                    # Application.process_update already routes handler errors to the error
                    # handler; this only guards the worker itself.
                    log.exception("processing a Telegram update failed")
                finally:
                    self._count(-1)
        finally:
            for leftover in queue:
                if isinstance(leftover, Coroutine):
                    leftover.close()
                self._count(-1)
            del self._queues[key]
            del self._workers[key]
            self._flooded.discard(key)
            if not self._workers:
                self._idle.set()
