"""Alembic environment: async engines, URL given in code, metadata from storage.models.

``storage.migrate`` passes an open connection in ``config.attributes["connection"]``; the
``alembic`` command line instead names the database with ``-x url=...``, the
``sqlalchemy.url`` option or ``RECLAIM_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from storage.db import parse_url, sqlite_path
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    """Return the URL to migrate when no connection was handed in."""
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("RECLAIM_DATABASE_URL")
    )
    if not url:
        raise RuntimeError("no database: pass -x url=... or set RECLAIM_DATABASE_URL")
    return url


def run_migrations_offline() -> None:
    """Emit the SQL script instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on a sync-facing connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: later migrations use batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open a throwaway async engine (no pool) and migrate through it."""
    url = database_url()
    path = sqlite_path(parse_url(url))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    connectable = async_engine_from_config(
        {"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    try:
        async with connectable.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await connectable.dispose()


def run_coroutine(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion, in a thread if this one already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    worker = threading.Thread(target=target, name="alembic-migrate")
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def run_migrations_online() -> None:
    """Migrate on the shared connection if given, else on a fresh engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    run_coroutine(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
