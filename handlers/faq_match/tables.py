"""Prebuilt matcher and detector tables, packaged so start-up does not re-derive them.

Deriving the naive-Bayes tables from ~20,000 example questions takes about a second of pure
Python, and the language detector's profiles nearly as long again; reading both back from
the packaged file takes about a third of that. The file records a fingerprint of the example
files and of the code that derives the tables, so a stale file is never used: the bot logs a
warning and builds from the examples instead, and a test fails until the file is rebuilt with
``python -m tools.faq_tables build``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TABLES_FILE = HERE / "tables.json.gz"
EXAMPLES_DIR = HERE / "examples"
#: Bump when the layout of the file changes.
FORMAT = 1
#: The code that turns examples into tables: a change to any of it makes the file stale.
SOURCES = ("text.py", "matcher.py", "langdetect.py")


def fingerprint(examples_dir: Path = EXAMPLES_DIR) -> str:
    """SHA-256 over the example files and the code that derives the tables from them."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    for path in [*sorted(examples_dir.glob("*.jsonl")), *(HERE / name for name in SOURCES)]:
        digest.update(f"\n{path.name}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_tables(path: Path = TABLES_FILE) -> dict[str, Any] | None:
    """The packaged tables if they are current, else None (the caller builds from examples)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        current = fingerprint()
    except FileNotFoundError:
        log.info("No packaged FAQ tables at %s; building them from the examples", path)
        return None
    except (OSError, ValueError):
        log.warning("Unreadable FAQ tables at %s; building them from the examples", path)
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != current:
        log.warning(
            "Packaged FAQ tables are stale (examples or code changed); building them from the "
            "examples. Run `python -m tools.faq_tables build` to refresh them."
        )
        return None
    return data


def build_tables() -> dict[str, Any]:
    """Derive the matcher's and the detector's tables from the packaged examples."""
    # Imported here: the matcher and the detector import this module to read the tables.
    from handlers.faq_match.langdetect import LanguageDetector
    from handlers.faq_match.matcher import FaqMatcher, load_examples

    examples = load_examples(EXAMPLES_DIR)
    return {
        "fingerprint": fingerprint(),
        "matcher": FaqMatcher.from_examples(examples).tables(),
        "detector": LanguageDetector.from_examples(examples).tables(),
    }


def write_tables(path: Path = TABLES_FILE) -> None:
    """Build the tables and write them, gzipped JSON, to ``path``."""
    text = json.dumps(build_tables(), ensure_ascii=False, separators=(",", ":"))
    # mtime=0 keeps the file byte-identical when nothing changed.
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
