"""Migrations: from empty, idempotent, locked against concurrent starts, matching the models."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from storage import migrate
from storage.db import StorageError, create_engine_for, open_store
from storage.migrate import current_revision, ensure_schema, head_revisions, upgrade
from storage.models import Base

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2025, 5, 1)
TABLES = {
    "alembic_version",
    "arrival_markers",
    "preferences",
    "processed_updates",
    "referral_arrivals",
    "sign_clicks",
    "subscriptions",
    "broadcast_jobs",
    "broadcast_recipients",
    "broadcast_rate",
}

#: The newest migration; every upgrade must end there.
HEAD = max(head_revisions())


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_head_is_sequential() -> None:
    assert head_revisions() == {HEAD} and len(head_revisions()) == 1


async def test_upgrade_from_empty_and_rerun(db_url: str) -> None:
    assert await current_revision(db_url) is None
    assert await upgrade(db_url) == HEAD
    assert await current_revision(db_url) == HEAD
    assert await upgrade(db_url) == HEAD  # idempotent
    engine = create_engine_for(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == TABLES
        assert await ensure_schema(engine) is False  # at head: nothing to do
    finally:
        await engine.dispose()


async def test_models_match_migrations(db_url: str) -> None:
    await upgrade(db_url)
    engine = create_engine_for(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_concurrent_open_store_on_fresh_database(db_url: str) -> None:
    stores = await asyncio.gather(*(open_store(db_url) for _ in range(3)))
    try:
        for store in stores:
            assert await store.record_arrival("abc", "telegram", DAY, None)
        assert await stores[0].arrivals_for_code("abc") == 3
    finally:
        for store in stores:
            await store.close()
    assert await current_revision(db_url) == HEAD


async def test_concurrent_processes_migrate_once(db_url: str, tmp_path: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "from storage.db import open_store\n"
        "async def main():\n"
        "    store = await open_store(sys.argv[1])\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, db_url, cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    results = [await proc.communicate() for proc in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
    assert await current_revision(db_url) == HEAD


async def test_open_without_migrate_refuses_old_schema(db_url: str) -> None:
    with pytest.raises(StorageError, match="db upgrade"):
        await open_store(db_url, migrate=False)
    await upgrade(db_url)
    store = await open_store(db_url, migrate=False)
    await store.close()


async def test_newer_schema_is_tolerated(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    await upgrade(db_url)
    engine = create_engine_for(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '999'"))
    finally:
        await engine.dispose()
    with caplog.at_level(logging.WARNING, logger="storage.migrate"):
        store = await open_store(db_url)
    await store.close()
    assert "newer than this code" in caplog.text
    assert await current_revision(db_url) == "999"


async def test_alembic_command_inside_running_loop(db_url: str) -> None:
    # No shared connection: env.py opens its own engine, in a thread since a loop runs here.
    config = migrate.alembic_config()
    config.set_main_option("sqlalchemy.url", db_url)
    command.upgrade(config, "head")
    assert await current_revision(db_url) == HEAD


def test_alembic_command_line_from_any_cwd(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "storage" / "alembic.ini"),
         "-x", f"url={url}", "upgrade", "head"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert asyncio.run(current_revision(url)) == HEAD


def test_upgrade_from_sync_code(tmp_path: Path) -> None:
    # What `reclaim-bot db upgrade` does: asyncio.run around the async API.
    url = f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}"
    assert asyncio.run(upgrade(url)) == HEAD


async def test_bad_urls_are_refused() -> None:
    with pytest.raises(StorageError):
        create_engine_for("mysql://localhost/db")
    with pytest.raises(StorageError, match="cannot connect") as caught:
        await open_store("postgresql+asyncpg://nobody:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(caught.value)
