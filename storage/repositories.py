"""The SQLAlchemy implementation of :class:`handlers.ports.Store`.

Every method is one short transaction. Writes go through :func:`storage.db.writer`, so on
SQLite they take the write lock at BEGIN and queue on busy_timeout instead of failing.
Counters are upserts (``INSERT ... ON CONFLICT DO UPDATE``), atomic on both backends.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import OrderedDict
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable

from handlers.ports import ArrivalMarker, PersonKey, Stats, Subscription
from storage import models
from storage.db import session_factory, writer

log = logging.getLogger(__name__)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class SqlStore:
    """Preferences, counters, subscriptions and update dedup on one SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._read: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._write: async_sessionmaker[AsyncSession] = session_factory(writer(engine))
        self._postgres = engine.dialect.name == "postgresql"
        # Every message reads the person's language, and a SQLite round trip costs about 1 ms
        # of CPU. SQLite means one bot process, so a small in-process cache (invalidated on
        # every write here) is safe; PostgreSQL replicas share choices, so they always read.
        self._languages: LanguageCache | None = None if self._postgres else LanguageCache()

    @property
    def engine(self) -> AsyncEngine:
        """The engine, for components that add their own tables (e.g. the outbox)."""
        return self._engine

    def _insert(self, model: type[models.Base]) -> PgInsert | SqliteInsert:
        # ON CONFLICT lives in the dialect-specific insert constructs.
        return pg_insert(model) if self._postgres else sqlite_insert(model)

    async def _rowcount(self, session: AsyncSession, statement: Executable) -> int:
        result = cast(CursorResult[Any], await session.execute(statement))
        return max(result.rowcount, 0)

    # -- preferences -------------------------------------------------------------------------

    async def get_language(self, person: PersonKey) -> tuple[str, bool] | None:
        """Return ``(language, chosen)`` or None."""
        cache = self._languages
        if cache is not None:
            hit = cache.get(person)
            if hit is not MISSING:
                return hit
        value = await self._load_language(person)
        if cache is not None:
            cache.put(person, value)
        return value

    async def _load_language(self, person: PersonKey) -> tuple[str, bool] | None:
        async with self._read() as session, session.begin():
            row = (
                await session.execute(
                    select(models.Preference.language, models.Preference.chosen).where(
                        models.Preference.person == person
                    )
                )
            ).first()
        return None if row is None else (row.language, bool(row.chosen))

    async def set_language(self, person: PersonKey, language: str, *, chosen: bool) -> None:
        """Remember a language; a detected one never overwrites a chosen one."""
        stmt = self._insert(models.Preference).values(
            person=person, language=language, chosen=chosen
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[models.Preference.person],
            set_={"language": stmt.excluded.language, "chosen": stmt.excluded.chosen},
            where=None if chosen else models.Preference.chosen.is_(False),
        )
        async with self._write() as session, session.begin():
            await session.execute(stmt)
        if self._languages is not None:
            self._languages.drop(person)

    # -- referral counters -------------------------------------------------------------------

    async def record_arrival(
        self, code: str, platform: str, day: dt.date, marker: ArrivalMarker | None
    ) -> bool:
        """Count one arrival unless ``marker`` was seen before; return whether it counted."""
        async with self._write() as session, session.begin():
            if marker is not None:
                claim = (
                    self._insert(models.ArrivalMarker)
                    .values(marker=marker)
                    .on_conflict_do_nothing(index_elements=[models.ArrivalMarker.marker])
                    .returning(models.ArrivalMarker.marker)
                )
                if (await session.execute(claim)).first() is None:
                    return False
            stmt = self._insert(models.ReferralArrival).values(
                code=code, platform=platform, day=day, count=1
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[
                        models.ReferralArrival.code,
                        models.ReferralArrival.platform,
                        models.ReferralArrival.day,
                    ],
                    set_={"count": models.ReferralArrival.count + 1},
                )
            )
        return True

    async def arrivals_for_code(self, code: str) -> int:
        """Total arrivals through one code, all platforms and days."""
        async with self._read() as session, session.begin():
            total = await session.scalar(
                select(func.coalesce(func.sum(models.ReferralArrival.count), 0)).where(
                    models.ReferralArrival.code == code
                )
            )
        return int(total or 0)

    async def record_sign_click(self, language: str, country: str | None, day: dt.date) -> None:
        """Count one click on a signing link."""
        stmt = self._insert(models.SignClick).values(
            language=language, country=country or "", day=day, count=1
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[
                models.SignClick.language,
                models.SignClick.country,
                models.SignClick.day,
            ],
            set_={"count": models.SignClick.count + 1},
        )
        async with self._write() as session, session.begin():
            await session.execute(stmt)

    async def stats(self, *, top: int = 10) -> Stats:
        """Return every anonymous figure, the subscriber counts included."""
        arrivals = models.ReferralArrival
        clicks = models.SignClick
        subs = models.Subscription
        async with self._read() as session, session.begin():
            by_platform = await _sums(session, arrivals.platform, func.sum(arrivals.count))
            by_day = await _sums(session, arrivals.day, func.sum(arrivals.count))
            by_language = await _sums(session, clicks.language, func.sum(clicks.count))
            by_country = await _sums(session, clicks.country, func.sum(clicks.count))
            clicks_by_day = await _sums(session, clicks.day, func.sum(clicks.count))
            subs_by_platform = await _sums(session, subs.platform, func.count(subs.id))
            subs_by_language = await _sums(session, subs.language, func.count(subs.id))
            total = func.sum(arrivals.count).label("total")
            top_rows = await session.execute(
                select(arrivals.code, total)
                .group_by(arrivals.code)
                .order_by(total.desc(), arrivals.code)
                .limit(max(top, 0))
            )
            top_codes = [(str(code), int(count)) for code, count in top_rows]
        return Stats(
            arrivals_total=sum(by_platform.values()),
            arrivals_by_platform=by_platform,
            arrivals_by_day=by_day,
            sign_clicks_total=sum(by_language.values()),
            sign_clicks_by_language=by_language,
            sign_clicks_by_country=by_country,
            sign_clicks_by_day=clicks_by_day,
            subscribers=sum(subs_by_platform.values()),
            subscribers_by_platform=subs_by_platform,
            subscribers_by_language=subs_by_language,
            top_codes=top_codes,
        )

    # -- subscriptions -----------------------------------------------------------------------

    async def subscribe(
        self, person: PersonKey, platform: str, address: str, language: str
    ) -> bool:
        """Create or refresh the subscription; return True if it is new."""
        fields = {"platform": platform, "address": address, "language": language}
        create = (
            self._insert(models.Subscription)
            .values(person=person, created_day=_today(), **fields)
            .on_conflict_do_nothing(index_elements=[models.Subscription.person])
            .returning(models.Subscription.id)
        )
        async with self._write() as session, session.begin():
            if (await session.execute(create)).first() is not None:
                return True
            await session.execute(
                update(models.Subscription)
                .where(models.Subscription.person == person)
                .values(**fields)
            )
        return False

    async def unsubscribe(self, person: PersonKey) -> bool:
        """Remove the person's subscription; return True if there was one."""
        async with self._write() as session, session.begin():
            removed = await self._rowcount(
                session,
                delete(models.Subscription).where(models.Subscription.person == person),
            )
        return removed > 0

    async def is_subscribed(self, person: PersonKey) -> bool:
        """Tell whether the person has opted in."""
        async with self._read() as session, session.begin():
            found = await session.scalar(
                select(exists().where(models.Subscription.person == person))
            )
        return bool(found)

    async def set_subscription_language(self, person: PersonKey, language: str) -> None:
        """Keep the subscription's language in step with the person's choice."""
        async with self._write() as session, session.begin():
            await session.execute(
                update(models.Subscription)
                .where(models.Subscription.person == person)
                .values(language=language)
            )

    async def remove_address(self, platform: str, address: str) -> int:
        """End subscriptions to an address the platform says is gone (403, left room)."""
        async with self._write() as session, session.begin():
            removed = await self._rowcount(
                session,
                delete(models.Subscription).where(
                    models.Subscription.platform == platform,
                    models.Subscription.address == address,
                ),
            )
        if removed:
            log.debug("removed %d subscription(s) to a gone %s address", removed, platform)
        return removed

    async def list_subscriptions(
        self, *, platform: str | None = None, after_id: int = 0, limit: int = 500
    ) -> list[Subscription]:
        """Return subscriptions in id order, one page after ``after_id`` (keyset paging)."""
        subs = models.Subscription
        query = select(subs.id, subs.platform, subs.address, subs.language).where(
            subs.id > after_id
        )
        if platform is not None:
            query = query.where(subs.platform == platform)
        async with self._read() as session, session.begin():
            rows = await session.execute(query.order_by(subs.id).limit(limit))
            return [
                Subscription(id=r.id, platform=r.platform, address=r.address, language=r.language)
                for r in rows
            ]

    # -- erasure and lifecycle ---------------------------------------------------------------

    async def forget_person(self, person: PersonKey) -> int:
        """Erase everything reachable for a person; return the number of rows removed."""
        if self._languages is not None:
            self._languages.drop(person)
        async with self._write() as session, session.begin():
            removed = await self._rowcount(
                session, delete(models.Preference).where(models.Preference.person == person)
            )
            removed += await self._rowcount(
                session,
                delete(models.Subscription).where(models.Subscription.person == person),
            )
        return removed

    async def claim_update(
        self, platform: str, update_id: int, *, day: dt.date | None = None
    ) -> bool:
        """Record a platform update as handled: True the first time, False for a duplicate."""
        stmt = (
            self._insert(models.ProcessedUpdate)
            .values(platform=platform, update_id=update_id, day=day or _today())
            .on_conflict_do_nothing(
                index_elements=[models.ProcessedUpdate.platform, models.ProcessedUpdate.update_id]
            )
            .returning(models.ProcessedUpdate.update_id)
        )
        async with self._write() as session, session.begin():
            return (await session.execute(stmt)).first() is not None

    async def prune_updates(self, older_than_days: int, *, today: dt.date | None = None) -> int:
        """Forget processed updates older than that many days; return how many."""
        cutoff = (today or _today()) - dt.timedelta(days=older_than_days)
        async with self._write() as session, session.begin():
            return await self._rowcount(
                session, delete(models.ProcessedUpdate).where(models.ProcessedUpdate.day < cutoff)
            )

    async def close(self) -> None:
        """Release connections."""
        await self._engine.dispose()


async def _sums(session: AsyncSession, key: Any, total: Any) -> dict[str, int]:
    """Group by ``key`` and return ``{str(key): total}`` in key order (ISO dates for days)."""
    rows = await session.execute(select(key, total).group_by(key).order_by(key))
    out: dict[str, int] = {}
    for name, value in rows:
        label = name.isoformat() if isinstance(name, dt.date) else str(name)
        out[label] = int(value or 0)
    return out


MISSING: Any = object()


class LanguageCache:
    """A bounded LRU of language lookups with a short expiry (SQLite, one process)."""

    def __init__(self, size: int = 20_000, ttl: float = 300.0) -> None:
        self._size = size
        self._ttl = ttl
        self._items: OrderedDict[PersonKey, tuple[float, tuple[str, bool] | None]] = OrderedDict()

    def get(self, person: PersonKey) -> Any:
        """Return the cached value (None included) or MISSING."""
        item = self._items.get(person)
        if item is None or item[0] < time.monotonic():
            return MISSING
        self._items.move_to_end(person)
        return item[1]

    def put(self, person: PersonKey, value: tuple[str, bool] | None) -> None:
        """Remember a value, evicting the least recently used beyond the bound."""
        self._items[person] = (time.monotonic() + self._ttl, value)
        self._items.move_to_end(person)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def drop(self, person: PersonKey) -> None:
        """Forget a person's entry (after a write)."""
        self._items.pop(person, None)
