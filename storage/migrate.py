"""Alembic migrations, run programmatically on the application's own engine.

The upgrade shares an already open connection with Alembic (``config.attributes``), so it
runs on whichever event loop is current: from the CLI (``asyncio.run(upgrade(url))``) and from
inside the running bot alike. Two processes starting at once are serialised by a lock:
``pg_advisory_xact_lock`` on PostgreSQL, a file lock plus ``BEGIN IMMEDIATE`` on SQLite.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import (
    StorageError,
    create_engine_for,
    describe,
    ping,
    sqlite_path,
    writer,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Fixed key for pg_advisory_xact_lock: "RECLAIM" in ASCII, so it is recognisable in pg_locks.
PG_MIGRATION_LOCK_KEY = 0x5245434C41494D
VERSION_TABLE = "alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    """Build the Alembic configuration in code: no ini file, no URL in any file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revisions() -> frozenset[str]:
    """Return the head revision(s) shipped with this code."""
    return frozenset(_script().get_heads())


@functools.cache
def known_revisions() -> frozenset[str]:
    """Return every revision id shipped with this code."""
    return frozenset(script.revision for script in _script().walk_revisions())


def _database_heads(connection: Connection) -> frozenset[str]:
    # Read the version table directly: MigrationContext logs at INFO on every start.
    if not inspect(connection).has_table(VERSION_TABLE):
        return frozenset()
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    return frozenset(str(row[0]) for row in rows)


async def database_heads(engine: AsyncEngine) -> frozenset[str]:
    """Return the revision(s) recorded in the database (empty for a fresh one)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_database_heads)


async def ensure_schema(engine: AsyncEngine, *, migrate: bool = True) -> bool:
    """Upgrade the schema when it is behind; return True if a migration ran."""
    current = await database_heads(engine)
    heads = head_revisions()
    if current == heads:
        return False
    unknown = current - known_revisions()
    if unknown:
        # A newer release migrated this database (e.g. during a rolling deploy): migrations
        # only add, so an older process may still run against it.
        log.warning(
            "database schema %s is newer than this code's %s", sorted(unknown), sorted(heads)
        )
        return False
    if not migrate:
        raise StorageError(
            f"database schema is at {sorted(current) or 'nothing'}, code needs {sorted(heads)}: "
            "run `reclaim-bot db upgrade`"
        )
    await _upgrade_locked(engine)
    return True


async def _upgrade_locked(engine: AsyncEngine) -> None:
    """Take the migration lock and upgrade to head in one transaction."""
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            # Transaction-scoped: released at commit or rollback, even if the process dies.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY}
            )
            await conn.run_sync(_upgrade_to_head)
        return
    path = sqlite_path(engine.url)
    async with _file_lock(path):
        async with writer(engine).begin() as conn:
            await conn.run_sync(_upgrade_to_head)


def _upgrade_to_head(connection: Connection) -> None:
    # Re-reads the version under the lock, so a second process finds nothing left to do.
    before = _database_heads(connection)
    command.upgrade(alembic_config(connection), "head")
    after = _database_heads(connection)
    if before != after:
        log.info("database migrated from %s to %s", sorted(before) or "empty", sorted(after))


@asynccontextmanager
async def _file_lock(database: Path | None) -> AsyncIterator[None]:
    """Hold an exclusive lock on a file next to the SQLite database (no-op in memory)."""
    if database is None or sys.platform == "win32":
        # BEGIN IMMEDIATE alone still serialises migrations, up to busy_timeout.
        yield
        return
    import fcntl

    fd = os.open(f"{database}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # flock blocks, so wait in a worker thread; the event loop keeps serving.
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _single(heads: frozenset[str]) -> str | None:
    return ",".join(sorted(heads)) or None


async def upgrade(url: str) -> str:
    """Upgrade the database at ``url`` to the newest revision and return that revision."""
    engine = create_engine_for(url)
    try:
        await ping(engine)
        await ensure_schema(engine)
        revision = _single(await database_heads(engine))
    finally:
        await engine.dispose()
    log.info("database %s at revision %s", describe(url), revision)
    return revision or ""


async def current_revision(url: str) -> str | None:
    """Return the database's revision, or None when it has never been migrated."""
    engine = create_engine_for(url)
    try:
        await ping(engine)
        return _single(await database_heads(engine))
    finally:
        await engine.dispose()
