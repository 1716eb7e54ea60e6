"""The outbox contract on SQLite and PostgreSQL: snapshots, leases, cascades, counts, cleanup."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from handlers.broadcast import (
    CANCELLED,
    DONE,
    MILESTONE,
    PAUSED,
    RUNNING,
    TEXT,
    Content,
    Progress,
    Target,
)
from handlers.ports import PersonKey
from storage import models
from storage.db import create_engine_for
from storage.outbox import Outcomes, SqlOutbox
from storage.repositories import SqlStore
from tests.broadcast.conftest import add_subscribers, pg_only
from tests.storage.dump import dump_all_text, find_leaks

MILE = Content(MILESTONE, number=250_000)
TELEGRAM = Target(("telegram",))


class FakeClock:
    """A settable wall clock for leases."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def _rows(store: SqlStore, job_id: int) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(
            models.BroadcastRecipient).where(models.BroadcastRecipient.job_id == job_id)) or 0)


async def test_start_snapshots_matching_subscribers(store: SqlStore, outbox: SqlOutbox) -> None:
    await add_subscribers(store, 9)  # en, de, fr x 3
    await add_subscribers(store, 4, platform="matrix", first=5000, prefix="m")
    await add_subscribers(store, 2, platform="console", first=9000, prefix="c")
    assert await outbox.audience(Target(("telegram", "matrix"))) == {"en": 5, "de": 4, "fr": 4}
    assert await outbox.audience(Target(("telegram",), ("de", "fr"))) == {"de": 3, "fr": 3}
    job = await outbox.create(MILE, Target(("telegram",), ("de",)))
    assert (job.state, job.total, job.left) == (RUNNING, 3, 3)
    await add_subscribers(store, 3, first=2000, prefix="late")  # after the snapshot
    status = await outbox.status(job.id)
    assert status is not None and status.total == 3 and status.left == 3


async def test_empty_target_is_done_at_once(outbox: SqlOutbox) -> None:
    job = await outbox.create(MILE, TELEGRAM, progress=Progress("telegram", "42", "en"))
    assert (job.state, job.total) == (DONE, 0)
    assert await outbox.active_jobs() == []


async def test_drafts_one_per_owner_with_revisions(outbox: SqlOutbox) -> None:
    first = await outbox.save_draft("admin1", MILE, Target())
    second = await outbox.save_draft("admin1", Content(TEXT, texts=(("en", "Hi"),)), TELEGRAM)
    other = await outbox.save_draft("admin2", MILE, Target())
    assert second.id == first.id and second.revision == first.revision + 1
    assert other.id != first.id
    draft = await outbox.draft("admin1")
    assert draft is not None and draft.content.text_for("en") == "Hi"
    assert await outbox.start(first.id, TELEGRAM, revision=first.revision) is None  # stale
    assert await outbox.status() is None  # drafts are not jobs yet
    assert await outbox.discard_draft("admin2") and not await outbox.discard_draft("admin2")


async def test_claims_are_disjoint_and_expired_leases_come_back(store: SqlStore) -> None:
    clock = FakeClock()
    outbox = SqlOutbox(store.engine, clock=clock)
    everyone = set(await add_subscribers(store, 10))
    job = await outbox.create(MILE, TELEGRAM)
    a = await outbox.claim(job.id, "telegram", "A", 4, lease=10)
    b = await outbox.claim(job.id, "telegram", "B", 4, lease=10)
    assert len(a) == 4 and len(b) == 4
    assert not {r.subscription_id for r in a} & {r.subscription_id for r in b}
    assert [r.address for r in a] == sorted(r.address for r in a)  # addresses joined, in order
    await outbox.record(job.id, "A", Outcomes(sent=[r.subscription_id for r in a[:2]]))
    clock.now += 5
    await outbox.renew(job.id, "B", [r.subscription_id for r in b], lease=10)
    clock.now += 6  # A's lease expired; B renewed in time
    c = await outbox.claim(job.id, "telegram", "C", 10, lease=10)
    held_by_b = {r.subscription_id for r in b}
    sent = {r.subscription_id for r in a[:2]}
    assert {r.subscription_id for r in c} == everyone - held_by_b - sent
    status = await outbox.status(job.id)
    assert status is not None and (status.sent, status.left) == (2, 8)


async def test_unsubscribe_and_forget_cancel_pending_sends(store: SqlStore, outbox: SqlOutbox) -> None:
    await add_subscribers(store, 3)
    job = await outbox.create(MILE, TELEGRAM)
    claimed = await outbox.claim(job.id, "telegram", "A", 3, lease=10)
    assert await store.unsubscribe(PersonKey("p1000"))
    assert await store.forget_person(PersonKey("p1001")) == 1
    recorded = await outbox.record(job.id, "A", Outcomes(sent=[r.subscription_id for r in claimed]))
    assert recorded.sent == 1  # the two cancelled rows were already gone
    assert await outbox.finish_if_complete(job.id)
    status = await outbox.status(job.id)
    assert status is not None and (status.state, status.sent, status.total) == (DONE, 1, 3)


async def test_outcomes_counts_and_cleanup(store: SqlStore, outbox: SqlOutbox, db_url: str) -> None:
    await add_subscribers(store, 4)
    content = Content(TEXT, texts=(("en", "Secret campaign plan"),), fallback="en")
    job = await outbox.create(content, TELEGRAM, progress=Progress("telegram", "777123", "en"))
    ids = [r.subscription_id for r in await outbox.claim(job.id, "telegram", "A", 10, lease=10)]
    taken = await outbox.take_progress(job.id, "A", lease=60)  # a live worker reports progress
    assert taken is not None and taken.progress == Progress("telegram", "777123", "en")
    assert await outbox.take_progress(job.id, "B", lease=60) is None  # one reporter at a time
    dump = await dump_all_text(db_url)
    allowed = frozenset({"subscriptions", "broadcast_jobs"})  # the progress address, while running
    assert find_leaks(dump, ["1000", "1001", "777123"], allowed=allowed) == []
    await outbox.record(job.id, "A", Outcomes(sent=ids[:1], gone=ids[1:2],
                                              failed=[(ids[2], "PermanentFailure: 400 x", 1)]))
    assert not await outbox.finish_if_complete(job.id)  # one still pending
    await outbox.record(job.id, "A", Outcomes(released=ids[3:]))
    assert len(await outbox.claim(job.id, "telegram", "B", 10, lease=10)) == 1
    assert await store.list_subscriptions() and len(await store.list_subscriptions()) == 3  # 403
    await outbox.record(job.id, "B", Outcomes(sent=ids[3:]))
    assert await outbox.finish_if_complete(job.id)
    assert not await outbox.finish_if_complete(job.id)  # only once
    status = await outbox.status(job.id)
    assert status is not None
    assert (status.state, status.sent, status.gone, status.failed, status.left) == (DONE, 2, 1, 1, 0)
    assert status.failures == {"PermanentFailure: 400 x": 1}
    assert await _rows(store, job.id) == 0
    claim = await outbox.release_progress(job.id)
    assert claim is not None and claim.progress == Progress("telegram", "777123", "en")
    assert await outbox.release_progress(job.id) is None
    dump = await dump_all_text(db_url)
    assert find_leaks(dump, ["777123", "Secret campaign plan"]) == []


async def test_pause_resume_cancel(store: SqlStore, outbox: SqlOutbox, db_url: str) -> None:
    await add_subscribers(store, 5)
    job = await outbox.create(MILE, TELEGRAM, progress=Progress("telegram", "777123", "en"))
    paused = await outbox.control(None, "pause")
    assert paused is not None and paused.state == PAUSED
    assert await outbox.claim(job.id, "telegram", "A", 5, lease=10) == []
    assert await outbox.control(job.id, "pause") is not None  # no change, still reported
    resumed = await outbox.control(job.id, "resume")
    assert resumed is not None and resumed.state == RUNNING
    claimed = await outbox.claim(job.id, "telegram", "A", 2, lease=10)
    await outbox.record(job.id, "A", Outcomes(sent=[r.subscription_id for r in claimed]))
    cancelled = await outbox.control(None, "cancel")
    assert cancelled is not None and (cancelled.state, cancelled.sent, cancelled.left) == (
        CANCELLED, 2, 0)
    assert await _rows(store, job.id) == 0
    assert await outbox.control(None, "cancel") is None  # nothing active any more
    # No worker was reporting progress, so the address went with the cancel.
    assert find_leaks(await dump_all_text(db_url), ["777123"]) == []


async def test_claims_share_one_job_across_processes(store: SqlStore, backend: str,
                                                     db_url: str) -> None:
    pg_only(backend)
    await add_subscribers(store, 400)
    engines = [create_engine_for(db_url) for _ in range(4)]
    try:
        outboxes = [SqlOutbox(engine) for engine in engines]
        job = await outboxes[0].create(MILE, TELEGRAM)

        async def drain(outbox: SqlOutbox, owner: str) -> list[int]:
            got: list[int] = []
            while batch := await outbox.claim(job.id, "telegram", owner, 25, lease=30):
                got += [r.subscription_id for r in batch]
                await asyncio.sleep(0)
            return got

        results = await asyncio.gather(*(drain(o, f"w{i}") for i, o in enumerate(outboxes)))
        flat = [sub_id for result in results for sub_id in result]
        assert len(flat) == len(set(flat)) == 400
        assert sum(1 for result in results if result) >= 2
    finally:
        for engine in engines:
            await engine.dispose()


async def test_workers_announce_the_platforms_they_deliver_on(store: SqlStore) -> None:
    clock = FakeClock()
    outbox = SqlOutbox(store.engine, clock=clock)
    assert await outbox.delivering() == ()
    await outbox.announce(["matrix", "telegram"])
    clock.now += 30
    await outbox.announce(["telegram"])
    assert await outbox.delivering() == ("matrix", "telegram")
    clock.now += 40  # the Matrix worker went away
    assert await outbox.delivering() == ("telegram",)
