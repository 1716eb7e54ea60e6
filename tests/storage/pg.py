"""Throwaway PostgreSQL databases for tests: created fresh, dropped afterwards."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

PG_ENV = "RECLAIM_TEST_DATABASE_URL"
# One token per test session, so parallel sessions and leftovers never collide.
_SESSION = secrets.token_hex(4)
_counter = itertools.count(1)


def _plain_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_database(base_url: str) -> AsyncIterator[str]:
    """Create ``reclaim_test_<session>_<n>`` next to ``base_url``'s database; yield its URL."""
    name = f"reclaim_test_{_SESSION}_{next(_counter)}"
    admin = await asyncpg.connect(_plain_dsn(base_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_plain_dsn(base_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
