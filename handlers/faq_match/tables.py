"""Prebuilt matcher and detector tables, packaged so start-up does not re-derive them.

Deriving the naive-Bayes tables from ~24,000 example questions takes one to two seconds of pure
Python, and the language detector's profiles nearly as long again; reading them back from
the packaged files takes a fraction of that. Long lists of numbers are stored as base64 of
packed little-endian arrays inside the JSON: parsing a million JSON floats took most of the
start-up time (0.35 s of 0.45 s), decoding the arrays takes a quarter of it, and doubles keep
every bit. Each file records a fingerprint of the example
files and of the code that derives the tables, so a stale file is never used: the bot logs a
warning and builds from the examples instead, and a test fails until the file is rebuilt with
``python -m tools.faq_tables build``.
"""

from __future__ import annotations

import array
import base64
import gzip
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
EXAMPLES_DIR = HERE / "examples"
#: One file per consumer, so the matcher (at start-up) and the language detector (on first
#: use) each read and parse only their own tables.
TABLE_FILES = {
    "matcher": HERE / "matcher_tables.json.gz",
    "detector": HERE / "detector_tables.json.gz",
}
#: Bump when the layout of the files changes.
FORMAT = 3
#: Array type codes of packed number lists: 8-byte doubles and 4-byte ints.
_FLOATS, _INTS = "d", "i"
#: The code that turns examples into tables: a change to any of it makes the files stale.
SOURCES = ("text.py", "matcher.py", "langdetect.py")


def fingerprint(examples_dir: Path = EXAMPLES_DIR) -> str:
    """SHA-256 over the example files and the code that derives the tables from them."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    for path in [*sorted(examples_dir.glob("*.jsonl")), *(HERE / name for name in SOURCES)]:
        digest.update(f"\n{path.name}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_tables(part: str, path: Path | None = None) -> dict[str, Any] | None:
    """The packaged ``part`` tables ("matcher" or "detector") if current, else None."""
    path = path or TABLE_FILES[part]
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        current = fingerprint()
    except FileNotFoundError:
        log.info("No packaged FAQ %s tables at %s; building them from the examples", part, path)
        return None
    except (OSError, ValueError):
        log.warning("Unreadable FAQ %s tables at %s; building them from the examples", part, path)
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != current:
        log.warning(
            "Packaged FAQ %s tables are stale (examples or code changed); building them from "
            "the examples. Run `python -m tools.faq_tables build` to refresh them.",
            part,
        )
        return None
    try:
        tables = _unpack(data.get("tables"))
    except (ValueError, TypeError):
        log.warning("Unreadable FAQ %s tables at %s; building them from the examples", part, path)
        return None
    return tables if isinstance(tables, dict) else None


def write_tables() -> list[Path]:
    """Derive both tables from the packaged examples and write them, gzipped JSON."""
    # Imported here: the matcher and the detector import this module to read the tables.
    from handlers.faq_match.langdetect import LanguageDetector
    from handlers.faq_match.matcher import FaqMatcher, load_examples

    examples = load_examples(EXAMPLES_DIR)
    built = {
        "matcher": FaqMatcher.from_examples(examples).tables(),
        "detector": LanguageDetector.from_examples(examples).tables(),
    }
    stamp = fingerprint()
    for part, tables in built.items():
        text = json.dumps({"fingerprint": stamp, "tables": _pack(tables)}, ensure_ascii=False,
                          separators=(",", ":"))
        # mtime=0 keeps a file byte-identical when nothing changed.
        TABLE_FILES[part].write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    return list(TABLE_FILES.values())


def _pack(value: Any) -> Any:
    """Replace every non-empty list of floats (or of ints) by {"d"|"i": base64 of the array}."""
    if isinstance(value, dict):
        return {key: _pack(item) for key, item in value.items()}
    if isinstance(value, list) and value:
        for code, kind in ((_FLOATS, float), (_INTS, int)):
            if all(type(item) is kind for item in value):  # exact types: bools stay lists
                packed = array.array(code, value)
                if sys.byteorder == "big":
                    packed.byteswap()
                return {code: base64.b64encode(packed.tobytes()).decode("ascii")}
        return [_pack(item) for item in value]
    return value


def _unpack(value: Any) -> Any:
    """Inverse of :func:`_pack`."""
    if isinstance(value, dict):
        if len(value) == 1 and (code := next(iter(value))) in (_FLOATS, _INTS):
            packed = array.array(code)
            packed.frombytes(base64.b64decode(value[code], validate=True))
            if sys.byteorder == "big":
                packed.byteswap()
            return packed.tolist()
        return {key: _unpack(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unpack(item) for item in value]
    return value
