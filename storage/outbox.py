"""The durable broadcast outbox: jobs, their pending recipients, claims with leases, counts.

A job's recipients are a snapshot of the matching subscriptions, inserted by one
``INSERT ... SELECT`` (nothing is loaded into memory). A recipient row holds no address: the
worker joins ``subscriptions`` when it claims a batch, and ``ON DELETE CASCADE`` drops the row
when the person unsubscribes, forgets or blocks the bot. A sent row is deleted at once (one
small transaction per batch of outcomes), a failed row keeps its reason until the job
finishes; then the recipient rows go and the job keeps only its counts.

Claims are leases: ``lease_owner``/``lease_until`` mark rows a worker holds; the worker renews
them while it works, and rows whose lease expired (a killed worker) are claimed again. On
PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED``, so several processes share one job.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable

from handlers.broadcast import (
    ACTIVE_STATES,
    CANCELLED,
    DONE,
    DRAFT,
    FINAL_STATES,
    PAUSED,
    RUNNING,
    Content,
    JobStatus,
    Progress,
    Target,
)
from storage import models
from storage.db import session_factory, writer

log = logging.getLogger(__name__)

PENDING = 0
FAILED = 2
#: A worker that announced itself within this many seconds counts as delivering.
PRESENCE_TTL = 60.0
REASON_LENGTH = 200

Jobs = models.BroadcastJob
Recipients = models.BroadcastRecipient
Subs = models.Subscription


@dataclass(frozen=True, slots=True)
class Recipient:
    """A claimed delivery: the subscription, its address and language (kept in memory only)."""

    subscription_id: int
    address: str
    language: str


@dataclass(slots=True)
class Outcomes:
    """What happened to a batch of claimed recipients, written in one transaction."""

    sent: list[int] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)
    failed: list[tuple[int, str, int]] = field(default_factory=list)  # (id, reason, attempts)
    released: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sent) + len(self.gone) + len(self.failed) + len(self.released)


@dataclass(frozen=True, slots=True)
class Recorded:
    """How many outcomes counted (rows already gone, e.g. after a cancel, do not)."""

    sent: int = 0
    gone: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class ProgressClaim:
    """The admin's progress message as the reporting worker sees it."""

    progress: Progress | None  # None: nobody to report to (a job queued from the CLI)
    message_id: str | None  # None until the first progress message is sent


@dataclass(frozen=True, slots=True)
class ActiveJob:
    """What a worker needs to know about a job each tick."""

    id: int
    state: str
    content: Content
    platforms: tuple[str, ...]
    needs_final: bool  # finished, but its progress message still awaits the final edit


def _csv(values: Iterable[str]) -> str:
    return ",".join(values)


def _split(raw: str | None) -> tuple[str, ...]:
    return tuple(item for item in (raw or "").split(",") if item)


def _status(row: Any, left: int) -> JobStatus:
    failures = json.loads(row.failures) if row.failures else None
    return JobStatus(
        id=row.id, state=row.state, content=Content.from_json(row.kind, row.content),
        target=Target(_split(row.platforms), _split(row.languages)), revision=row.revision,
        total=row.total, sent=row.sent, failed=row.failed, gone=row.gone, left=left,
        rate=row.rate or 0.0, created_at=row.created_at, started_at=row.started_at,
        finished_at=row.finished_at, failures=failures,
    )


class SqlOutbox:
    """The outbox on the application's SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._read: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._write: async_sessionmaker[AsyncSession] = session_factory(writer(engine))
        self._postgres = engine.dialect.name == "postgresql"
        self._clock = clock

    @property
    def engine(self) -> AsyncEngine:
        """The engine (the PostgreSQL rate limiter shares it)."""
        return self._engine

    @property
    def shared(self) -> bool:
        """Tell whether several processes may work on one job (PostgreSQL)."""
        return self._postgres

    async def _rowcount(self, session: AsyncSession, statement: Executable) -> int:
        result = cast(CursorResult[Any], await session.execute(statement))
        return max(result.rowcount, 0)

    # -- drafts and jobs (the handler port) ------------------------------------------------------

    async def draft(self, owner: str) -> JobStatus | None:
        """Return the admin's current draft, if any."""
        async with self._read() as session, session.begin():
            row = (await session.execute(
                select(Jobs).where(Jobs.owner == owner, Jobs.state == DRAFT)
                .order_by(Jobs.id.desc()).limit(1))).scalars().first()
            return None if row is None else _status(row, 0)

    async def save_draft(self, owner: str, content: Content, target: Target) -> JobStatus:
        """Create or replace the admin's draft (its revision goes up)."""
        values = {"kind": content.kind, "content": content.to_json(),
                  "platforms": _csv(target.platforms), "languages": _csv(target.languages)}
        async with self._write() as session, session.begin():
            job_id = await session.scalar(
                select(Jobs.id).where(Jobs.owner == owner, Jobs.state == DRAFT).limit(1))
            if job_id is None:
                job_id = await session.scalar(insert(Jobs).values(
                    state=DRAFT, owner=owner, created_at=self._clock(), **values,
                    **_zero_counts()).returning(Jobs.id))
            else:
                await session.execute(update(Jobs).where(Jobs.id == job_id).values(
                    revision=Jobs.revision + 1, **values))
            row = (await session.execute(select(Jobs).where(Jobs.id == job_id))).scalar_one()
            return _status(row, 0)

    async def discard_draft(self, owner: str) -> bool:
        """Drop the admin's draft; return whether there was one."""
        async with self._write() as session, session.begin():
            return await self._rowcount(
                session, delete(Jobs).where(Jobs.owner == owner, Jobs.state == DRAFT)) > 0

    async def audience(self, target: Target) -> dict[str, int]:
        """Count the subscribers a resolved target reaches, per language."""
        query = select(Subs.language, func.count(Subs.id)).where(*_matching(target))
        async with self._read() as session, session.begin():
            rows = await session.execute(query.group_by(Subs.language))
            return {str(language): int(count) for language, count in rows}

    async def start(self, job_id: int, target: Target, *, revision: int | None = None,
                    progress: Progress | None = None) -> JobStatus | None:
        """Queue a draft for delivery to a resolved target; None if it is no longer a draft."""
        async with self._write() as session, session.begin():
            return await self._start(session, job_id, target, revision, progress)

    async def create(self, content: Content, target: Target, *,
                     progress: Progress | None = None) -> JobStatus:
        """Create and queue a job in one step (the command line)."""
        async with self._write() as session, session.begin():
            job_id = await session.scalar(insert(Jobs).values(
                state=DRAFT, kind=content.kind, content=content.to_json(), platforms="",
                languages="", created_at=self._clock(), **_zero_counts()).returning(Jobs.id))
            job = await self._start(session, int(job_id or 0), target, None, progress)
        assert job is not None  # created as a draft in this very transaction
        return job

    async def _start(self, session: AsyncSession, job_id: int, target: Target,
                     revision: int | None, progress: Progress | None) -> JobStatus | None:
        now = self._clock()
        claim = update(Jobs).where(Jobs.id == job_id, Jobs.state == DRAFT)
        if revision is not None:
            claim = claim.where(Jobs.revision == revision)
        values: dict[str, Any] = {
            "state": RUNNING, "started_at": now, "owner": None,
            "platforms": _csv(target.platforms), "languages": _csv(target.languages)}
        if progress is not None:
            values.update(progress_platform=progress.platform, progress_address=progress.address,
                          progress_language=progress.language)
        if await self._rowcount(session, claim.values(**values)) == 0:
            return None
        picked = select(literal(job_id), Subs.id, Subs.platform, literal(PENDING), literal(0))
        total = await self._rowcount(session, insert(Recipients).from_select(
            ["job_id", "subscription_id", "platform", "state", "attempts"],
            picked.where(*_matching(target))))
        finished: dict[str, Any] = {}
        if total == 0:
            # Nothing to deliver: the job is done at once, and keeps no address.
            finished = {"state": DONE, "finished_at": now, **_no_progress()}
        await session.execute(update(Jobs).where(Jobs.id == job_id).values(total=total, **finished))
        row = (await session.execute(select(Jobs).where(Jobs.id == job_id))).scalar_one()
        return _status(row, total)

    async def status(self, job_id: int | None = None) -> JobStatus | None:
        """Return one job, or the newest that is not a draft."""
        query = select(Jobs)
        query = query.where(Jobs.id == job_id) if job_id is not None else query.where(
            Jobs.state != DRAFT).order_by(Jobs.id.desc()).limit(1)
        async with self._read() as session, session.begin():
            row = (await session.execute(query)).scalars().first()
            if row is None:
                return None
            left = await self._left(session, row.id) if row.state in ACTIVE_STATES else 0
            return _status(row, left)

    async def _left(self, session: AsyncSession, job_id: int, platform: str | None = None) -> int:
        query = select(func.count()).select_from(Recipients).where(
            Recipients.job_id == job_id, Recipients.state == PENDING)
        if platform is not None:
            query = query.where(Recipients.platform == platform)
        return int(await session.scalar(query) or 0)

    async def control(self, job_id: int | None, action: str) -> JobStatus | None:
        """Pause, resume or cancel a job (the newest active one when no id is given)."""
        before, after = {"pause": ((RUNNING,), PAUSED), "resume": ((PAUSED,), RUNNING),
                         "cancel": (ACTIVE_STATES, CANCELLED)}[action]
        async with self._write() as session, session.begin():
            if job_id is None:
                job_id = await session.scalar(select(Jobs.id).where(
                    Jobs.state.in_(ACTIVE_STATES)).order_by(Jobs.id.desc()).limit(1))
                if job_id is None:
                    return None
            values: dict[str, Any] = {"state": after}
            if after == CANCELLED:
                values.update(finished_at=self._clock())
            changed = await self._rowcount(session, update(Jobs).where(
                Jobs.id == job_id, Jobs.state.in_(before)).values(**values))
            if changed and after == CANCELLED:
                await self._close(session, job_id)
        return await self.status(job_id)

    async def _close(self, session: AsyncSession, job_id: int) -> None:
        """Keep only the counts of a finished job: summarise failures, drop rows and texts."""
        rows = await session.execute(
            select(Recipients.reason, func.count()).where(
                Recipients.job_id == job_id, Recipients.state == FAILED)
            .group_by(Recipients.reason))
        failures = {str(reason or "unknown"): int(count) for reason, count in rows}
        await session.execute(delete(Recipients).where(Recipients.job_id == job_id))
        row = (await session.execute(select(Jobs.kind, Jobs.content).where(
            Jobs.id == job_id))).one()
        kept = Content.from_json(row.kind, row.content).emptied().to_json()
        values: dict[str, Any] = {"content": kept, "rate": 0.0, "owner": None}
        if failures:
            values["failures"] = json.dumps(failures, sort_keys=True)
        # A cancel leaves the progress address to a live worker's final edit; nobody is
        # watching when no worker holds the progress lease, so it goes at once.
        stale = or_(Jobs.progress_lease.is_(None), Jobs.progress_lease < self._clock())
        await session.execute(update(Jobs).where(Jobs.id == job_id).values(**values))
        await session.execute(update(Jobs).where(Jobs.id == job_id, stale).values(**_no_progress()))

    async def delivering(self, within: float = PRESENCE_TTL) -> tuple[str, ...]:
        """Return the platforms a worker (in any process) delivered on lately."""
        rate = models.BroadcastRate
        async with self._read() as session, session.begin():
            rows = await session.execute(select(rate.platform).where(
                rate.worker_seen > self._clock() - within).order_by(rate.platform))
            return tuple(str(platform) for (platform,) in rows)

    # -- the worker's side ------------------------------------------------------------------------

    async def announce(self, platforms: Iterable[str]) -> None:
        """Say that this worker can deliver on these platforms (see :meth:`delivering`)."""
        rate = models.BroadcastRate
        now = self._clock()
        insert_ = pg_insert(rate) if self._postgres else sqlite_insert(rate)
        async with self._write() as session, session.begin():
            for platform in platforms:
                stmt = insert_.values(platform=platform, tat=0.0, worker_seen=now)
                await session.execute(stmt.on_conflict_do_update(
                    index_elements=[rate.platform], set_={"worker_seen": now}))

    async def active_jobs(self) -> list[ActiveJob]:
        """Return running and paused jobs, and finished ones still awaiting their final edit."""
        awaiting = and_(Jobs.state.in_(FINAL_STATES), Jobs.progress_address.is_not(None))
        query = select(Jobs.id, Jobs.state, Jobs.kind, Jobs.content, Jobs.platforms).where(
            or_(Jobs.state.in_(ACTIVE_STATES), awaiting)).order_by(Jobs.id)
        async with self._read() as session, session.begin():
            rows = (await session.execute(query)).all()
        return [ActiveJob(r.id, r.state, Content.from_json(r.kind, r.content), _split(r.platforms),
                          r.state in FINAL_STATES) for r in rows]

    async def job_state(self, job_id: int) -> str | None:
        """Return a job's state (None when it is gone)."""
        async with self._read() as session, session.begin():
            return await session.scalar(select(Jobs.state).where(Jobs.id == job_id))

    async def has_pending(self, job_id: int, platform: str) -> bool:
        """Tell whether a job still has undelivered rows on a platform (leased ones included)."""
        query = select(exists().where(Recipients.job_id == job_id, Recipients.platform == platform,
                                      Recipients.state == PENDING))
        async with self._read() as session, session.begin():
            return bool(await session.scalar(query))

    async def claim(self, job_id: int, platform: str, owner: str, limit: int,
                    lease: float) -> list[Recipient]:
        """Lease up to ``limit`` claimable rows (in subscription order) and join their addresses."""
        now = self._clock()
        # An alias, so the sub-select is not correlated with the rows being updated.
        queued = aliased(Recipients)
        free = or_(queued.lease_until.is_(None), queued.lease_until < now)
        pick = (select(queued.subscription_id)
                .where(queued.job_id == job_id, queued.platform == platform, queued.state == PENDING,
                       free)
                .order_by(queued.subscription_id).limit(limit))
        if self._postgres:
            pick = pick.with_for_update(skip_locked=True)
        # A CTE is evaluated once: a sub-select with LIMIT could be re-run by the planner and,
        # skipping the rows this very UPDATE changed, pick more than ``limit`` rows.
        picked = pick.cte("picked")
        stmt = (update(Recipients)
                .where(Recipients.job_id == job_id,
                       Recipients.subscription_id.in_(select(picked.c.subscription_id)))
                .values(lease_owner=owner, lease_until=now + lease)
                .returning(Recipients.subscription_id))
        async with self._write() as session, session.begin():
            state = await session.scalar(select(Jobs.state).where(Jobs.id == job_id))
            if state != RUNNING:
                return []
            ids = list((await session.execute(stmt)).scalars())
            if not ids:
                return []
            rows = await session.execute(
                select(Subs.id, Subs.address, Subs.language).where(Subs.id.in_(ids))
                .order_by(Subs.id))
            return [Recipient(r.id, r.address, r.language) for r in rows]

    async def renew(self, job_id: int, owner: str, ids: Sequence[int], lease: float) -> None:
        """Extend the lease of rows this worker still holds."""
        if not ids:
            return
        async with self._write() as session, session.begin():
            await session.execute(update(Recipients).where(
                Recipients.job_id == job_id, Recipients.subscription_id.in_(list(ids)),
                Recipients.lease_owner == owner).values(lease_until=self._clock() + lease))

    async def record(self, job_id: int, owner: str, outcomes: Outcomes) -> Recorded:
        """Write a batch of outcomes in one transaction and add them to the job's counts."""
        async with self._write() as session, session.begin():
            sent = await self._delete_rows(session, job_id, outcomes.sent)
            gone = await self._delete_rows(session, job_id, outcomes.gone)
            if outcomes.gone:
                # A 403 or a deleted account ends the subscription itself.
                await session.execute(delete(Subs).where(Subs.id.in_(outcomes.gone)))
            failed = 0
            for sub_id, reason, attempts in outcomes.failed:
                failed += await self._rowcount(session, update(Recipients).where(
                    Recipients.job_id == job_id, Recipients.subscription_id == sub_id,
                    Recipients.state == PENDING).values(
                    state=FAILED, reason=reason[:REASON_LENGTH], attempts=attempts,
                    lease_owner=None, lease_until=None))
            if outcomes.released:
                await session.execute(update(Recipients).where(
                    Recipients.job_id == job_id, Recipients.subscription_id.in_(outcomes.released),
                    Recipients.lease_owner == owner).values(lease_owner=None, lease_until=None))
            if sent or gone or failed:
                await session.execute(update(Jobs).where(Jobs.id == job_id).values(
                    sent=Jobs.sent + sent, gone=Jobs.gone + gone, failed=Jobs.failed + failed))
        return Recorded(sent, gone, failed)

    async def _delete_rows(self, session: AsyncSession, job_id: int, ids: list[int]) -> int:
        if not ids:
            return 0
        return await self._rowcount(session, delete(Recipients).where(
            Recipients.job_id == job_id, Recipients.subscription_id.in_(ids)))

    async def finish_if_complete(self, job_id: int) -> bool:
        """Mark a running job done when no row is pending; True if this call finished it."""
        async with self._write() as session, session.begin():
            if await self._left(session, job_id):
                return False
            done = await self._rowcount(session, update(Jobs).where(
                Jobs.id == job_id, Jobs.state == RUNNING).values(
                state=DONE, finished_at=self._clock()))
            if done:
                await self._close(session, job_id)
            return bool(done)

    async def take_progress(self, job_id: int, owner: str, lease: float) -> ProgressClaim | None:
        """Become (or stay) the one worker that reports a job's progress; None if another is."""
        now = self._clock()
        stmt = (update(Jobs)
                .where(Jobs.id == job_id, Jobs.state.in_(ACTIVE_STATES),
                       or_(Jobs.progress_owner == owner, Jobs.progress_lease.is_(None),
                           Jobs.progress_lease < now))
                .values(progress_owner=owner, progress_lease=now + lease)
                .returning(Jobs.progress_platform, Jobs.progress_address, Jobs.progress_message,
                           Jobs.progress_language))
        async with self._write() as session, session.begin():
            row = (await session.execute(stmt)).first()
        if row is None:
            return None
        return ProgressClaim(_progress(row), row.progress_message)

    async def set_progress_message(self, job_id: int, message_id: str | None, rate: float) -> None:
        """Remember the progress message's id and the delivery rate the watcher measured."""
        values: dict[str, Any] = {"rate": rate}
        if message_id is not None:
            values["progress_message"] = message_id
        async with self._write() as session, session.begin():
            await session.execute(update(Jobs).where(
                Jobs.id == job_id, Jobs.state.in_(ACTIVE_STATES)).values(**values))

    async def release_progress(self, job_id: int) -> ProgressClaim | None:
        """Null a finished job's progress address; return it once, for the final edit."""
        query = select(Jobs.progress_platform, Jobs.progress_address, Jobs.progress_message,
                       Jobs.progress_language).where(
            Jobs.id == job_id, Jobs.state.in_(FINAL_STATES), Jobs.progress_address.is_not(None))
        if self._postgres:
            query = query.with_for_update()
        async with self._write() as session, session.begin():
            row = (await session.execute(query)).first()
            if row is None:
                return None
            await session.execute(update(Jobs).where(Jobs.id == job_id).values(**_no_progress()))
        return ProgressClaim(_progress(row), row.progress_message)


def _progress(row: Any) -> Progress | None:
    if row.progress_platform is None or row.progress_address is None:
        return None
    return Progress(row.progress_platform, row.progress_address, row.progress_language or "en")


def _matching(target: Target) -> list[Any]:
    conditions: list[Any] = [Subs.platform.in_(list(target.platforms))]
    if target.languages:
        conditions.append(Subs.language.in_(list(target.languages)))
    return conditions


def _zero_counts() -> dict[str, Any]:
    return {"revision": 1, "total": 0, "sent": 0, "failed": 0, "gone": 0, "rate": 0.0}


def _no_progress() -> dict[str, Any]:
    return {"progress_platform": None, "progress_address": None, "progress_message": None,
            "progress_language": None, "progress_owner": None, "progress_lease": None}

