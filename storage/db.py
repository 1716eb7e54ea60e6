"""Engines and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg), and opening the store."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from storage.repositories import SqlStore

log = logging.getLogger(__name__)

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"
SQLITE_BUSY_TIMEOUT_MS = 5000
# Execution option read by the SQLite "begin" hook: "IMMEDIATE" takes the write lock up front.
SQLITE_BEGIN_OPTION = "reclaim_sqlite_begin"


class StorageError(RuntimeError):
    """The database cannot be used (unreachable, wrong URL, schema out of date)."""


def parse_url(url: str) -> URL:
    """Parse a database URL, accepting only the two supported async drivers."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # ArgumentError and ValueError alike
        raise StorageError("database URL cannot be parsed") from exc
    if parsed.drivername not in (SQLITE_DRIVER, POSTGRES_DRIVER):
        raise StorageError(
            f"database URL must start with {SQLITE_DRIVER}:// or {POSTGRES_DRIVER}://"
        )
    return parsed


def describe(url: URL | str) -> str:
    """Render a URL for logs, password hidden."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """Return the file of a SQLite URL, or None for an in-memory database."""
    database = url.database or ""
    if url.drivername != SQLITE_DRIVER or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        # URI form: the file name is the part before the query string.
        name = database[len("file:") :].split("?", 1)[0]
        return None if name in ("", ":memory:") or "mode=memory" in database else Path(name)
    return Path(database)


def create_engine_for(url: str) -> AsyncEngine:
    """Create the async engine for a database URL (no I/O except creating a SQLite directory)."""
    parsed = parse_url(url)
    if parsed.drivername == SQLITE_DRIVER:
        return _sqlite_engine(parsed)
    # Small pool: a chat bot runs short transactions; pre-ping survives server restarts.
    return create_async_engine(
        parsed,
        pool_size=5,
        max_overflow=10,
        pool_timeout=30,
        pool_recycle=1800,
        pool_pre_ping=True,
    )


def _sqlite_engine(url: URL) -> AsyncEngine:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Set the per-connection pragmas and take BEGIN away from the sqlite3 driver."""
    # The driver's implicit BEGIN skips SELECT and DDL; SQLAlchemy emits BEGIN itself instead
    # (see _on_sqlite_begin), which makes transactions (and migrations) behave as written.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so that switching to WAL waits for another process's lock.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        # Erased rows (forget_person, unsubscribe) are overwritten, not left in free pages.
        cursor.execute("PRAGMA secure_delete = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any, attempts: int = 100) -> None:
    """Put the file in WAL mode (persistent: only the very first connection switches).

    Switching needs the file to itself, and SQLite does not apply busy_timeout to it: when
    several connections open a fresh database at once, the losers see "database is locked".
    They wait briefly and look again, usually finding that the winner already switched.
    """
    for attempt in range(attempts):
        cursor.execute("PRAGMA journal_mode")
        row = cursor.fetchone()
        if row is None or str(row[0]).lower() in ("wal", "memory"):
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as exc:
            if "locked" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.02)


def _on_sqlite_begin(conn: Connection) -> None:
    mode = str(conn.get_execution_options().get(SQLITE_BEGIN_OPTION, ""))
    conn.exec_driver_sql(f"BEGIN {mode}".rstrip())


def writer(engine: AsyncEngine) -> AsyncEngine:
    """Return a view of the engine whose transactions take SQLite's write lock at BEGIN."""
    # A deferred transaction that reads and then writes can fail at once with SQLITE_BUSY
    # under WAL; BEGIN IMMEDIATE waits on busy_timeout instead. PostgreSQL ignores the option.
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory used by the repositories."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Run ``SELECT 1``; raise StorageError naming the (password-less) URL when it fails."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise StorageError(f"cannot connect to the database {describe(engine.url)}") from exc


async def open_store(url: str, *, migrate: bool = True) -> SqlStore:
    """Connect, migrate to head if behind (unless ``migrate`` is False) and return the store."""
    # Imported here: both modules build on the engine helpers above.
    from storage.migrate import ensure_schema
    from storage.repositories import SqlStore

    engine = create_engine_for(url)
    try:
        await ping(engine)
        await ensure_schema(engine, migrate=migrate)
    except BaseException:
        await engine.dispose()
        raise
    log.info("database ready: %s", describe(engine.url))
    return SqlStore(engine)
