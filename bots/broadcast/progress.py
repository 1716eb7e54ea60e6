"""The admin's progress message: one message per job, edited in place at most every 2 s.

One worker at a time reports a job (a lease on the job row, so several processes do not edit
the same message); it also measures the delivery rate, which ``reclaim-bot broadcast status``
shows. When the job ends, the message gets its final figures and loses its buttons, and the
admin's address is erased from the job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from bots.broadcast.limiter import ChatGuard, Pacer
from handlers.broadcast import JobStatus, status_reply
from handlers.i18n import I18n
from handlers.messages import Reply
from handlers.ports import PermanentFailure, RateLimited, Sender, SendError
from storage.outbox import ProgressClaim, SqlOutbox

log = logging.getLogger(__name__)

EDIT_EVERY = 2.0
RATE_WINDOW = 10.0
LEASE = 10.0


@dataclass(slots=True)
class _Seen:
    samples: deque[tuple[float, int]] = field(default_factory=deque)
    last_text: str = ""
    next_at: float = 0.0


class ProgressReporter:
    """Keeps each job's progress message (and its measured rate) up to date."""

    def __init__(self, outbox: SqlOutbox, senders: Mapping[str, Sender], pacers: Mapping[str, Pacer],
                 guard: ChatGuard, i18n: I18n, owner: str, *, every: float = EDIT_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.outbox = outbox
        self.senders = senders
        self.pacers = pacers
        self.guard = guard
        self.i18n = i18n
        self.owner = owner
        self.every = every
        self._clock = clock
        self._seen: dict[int, _Seen] = {}

    async def update(self, job_id: int, *, force: bool = False) -> JobStatus | None:
        """Refresh one running or paused job's message when due; return its status if reported."""
        seen = self._seen.setdefault(job_id, _Seen())
        now = self._clock()
        if now < seen.next_at and not force:
            return None
        seen.next_at = now + self.every
        claim = await self.outbox.take_progress(job_id, self.owner, LEASE)
        if claim is None:
            return None
        status = await self.outbox.status(job_id)
        if status is None:
            return None
        status = replace(status, rate=self._rate(seen, now, status.handled))
        message_id = claim.message_id
        if claim.progress is not None:
            message_id = await self._show(claim, status, seen)
        await self.outbox.set_progress_message(job_id, message_id, status.rate)
        return status

    async def finish(self, job_id: int) -> None:
        """Give a finished job's message its final figures, then erase the address."""
        self._seen.pop(job_id, None)
        claim = await self.outbox.release_progress(job_id)
        if claim is None or claim.progress is None:
            return
        status = await self.outbox.status(job_id)
        if status is not None:
            await self._show(claim, status, _Seen())

    def _rate(self, seen: _Seen, now: float, handled: int) -> float:
        samples = seen.samples
        samples.append((now, handled))
        while len(samples) > 2 and now - samples[0][0] > RATE_WINDOW:
            samples.popleft()
        (t0, h0), (t1, h1) = samples[0], samples[-1]
        return (h1 - h0) / (t1 - t0) if t1 > t0 else 0.0

    async def _show(self, claim: ProgressClaim, status: JobStatus, seen: _Seen) -> str | None:
        """Send or edit the message; return its id (None when it could not be sent)."""
        progress = claim.progress
        assert progress is not None
        sender = self.senders.get(progress.platform)
        reply = status_reply(self.i18n.translator(progress.language), status)
        if sender is None or (reply.text == seen.last_text and claim.message_id is not None):
            return claim.message_id
        await self._pace(progress.platform, progress.address)
        try:
            return await self._send_or_edit(sender, progress.address, claim.message_id, reply, seen)
        except RateLimited as exc:
            pacer = self.pacers.get(progress.platform)
            if pacer is not None:
                await pacer.pause(exc.retry_after)
            return claim.message_id
        except SendError as exc:
            log.debug("progress message not updated: %s", type(exc).__name__)
            return claim.message_id

    async def _send_or_edit(self, sender: Sender, address: str, message_id: str | None,
                            reply: Reply, seen: _Seen) -> str | None:
        if message_id is not None:
            try:
                await sender.edit(address, message_id, reply)
                seen.last_text = reply.text
                return message_id
            except PermanentFailure:
                pass  # the message was deleted, or is too old to edit: post a new one
        new_id = await sender.send(address, reply)
        seen.last_text = reply.text
        return new_id

    async def _pace(self, platform: str, address: str) -> None:
        # Progress edits count against the platform's limits like any other send.
        wait = self.guard.wait_for(address)
        if wait:
            await asyncio.sleep(wait)
        pacer = self.pacers.get(platform)
        if pacer is not None:
            await pacer.acquire()
        self.guard.mark(address)
