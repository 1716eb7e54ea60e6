"""Fixtures: every storage test runs on SQLite and, when configured, on PostgreSQL.

PostgreSQL runs only when RECLAIM_TEST_DATABASE_URL is set (e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); each test then gets a database of its
own, created next to that one and dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import open_store
from storage.repositories import SqlStore
from tests.storage.pg import PG_ENV, fresh_database

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set"),
    ),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database kind under test."""
    return str(request.param)


@pytest.fixture
async def db_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """URL of an empty database (its SQLite directory does not exist yet)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'reclaim.db'}"
        return
    async with fresh_database(os.environ[PG_ENV]) as url:
        yield url


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    """An open, migrated store on a fresh database."""
    opened = await open_store(db_url)
    try:
        yield opened
    finally:
        await opened.close()
