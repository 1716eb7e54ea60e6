"""Dump every cell of every table as text, for privacy assertions.

The end-to-end privacy test reuses this: populate a database through the bot, then assert
that no raw platform id, name or message text appears outside ``subscriptions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

ALLOWED_TABLES = frozenset({"subscriptions"})


async def dump_all_text(url: str) -> dict[str, list[str]]:
    """Return ``{table: [cell text, ...]}`` for every table (reflected, so future ones too)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_dump)
    finally:
        await engine.dispose()


def _dump(conn: Connection) -> dict[str, list[str]]:
    metadata = MetaData()
    metadata.reflect(conn)
    out: dict[str, list[str]] = {}
    for table in metadata.sorted_tables:
        cells: list[str] = []
        for row in conn.execute(select(table)):
            cells.extend(_text(value) for value in row if value is not None)
        out[table.name] = cells
    return out


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def find_leaks(
    dump: Mapping[str, list[str]],
    needles: Iterable[str],
    allowed: frozenset[str] = ALLOWED_TABLES,
) -> list[str]:
    """Return ``"table: needle"`` for each needle found in a cell of a non-allowed table."""
    found: list[str] = []
    for needle in needles:
        for table, cells in dump.items():
            if table not in allowed and any(needle in cell for cell in cells):
                found.append(f"{table}: {needle!r}")
    return found
