"""Move translations between a .po catalog and a simple JSON file (for batch translation work).

    python -m tools.po_json export CATALOG.po OUT.json [--all]
        writes {"msgid": {"comments": [...], "plural": "msgid_plural or null", "nplurals": N,
                          "msgstr": "" or ["", ...]}} for untranslated (or all) messages
    python -m tools.po_json import CATALOG.po IN.json
        fills msgstr from {"msgid": "translation"} or {"msgid": ["form0", "form1", ...]},
        clears the fuzzy flag and writes the translators' review note into the header
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

REVIEW_NOTE = ("# Machine-assisted translation (AI), not yet reviewed by a native speaker.\n"
               "# Campaign volunteers: please review and correct it in Weblate or Poedit.")


def _read(path: Path) -> Catalog:
    language = path.parent.parent.name
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _key(msgid: object) -> str:
    return msgid[0] if isinstance(msgid, tuple) else str(msgid)


def export(path: Path, out: Path, everything: bool) -> int:
    """Write the (untranslated) messages of a catalog as JSON; return how many."""
    catalog = _read(path)
    data: dict[str, Any] = {}
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not everything and all(s for s in strings) and not message.fuzzy:
            continue
        data[_key(message.id)] = {
            "comments": list(message.auto_comments),
            "plural": message.id[1] if isinstance(message.id, tuple) else None,
            "nplurals": catalog.num_plurals if isinstance(message.id, tuple) else 1,
            "msgstr": list(strings) if isinstance(message.id, tuple) else strings[0],
        }
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    return len(data)


def import_(path: Path, source: Path) -> int:
    """Fill a catalog from JSON translations; return how many messages were filled."""
    catalog = _read(path)
    translations: dict[str, Any] = json.loads(source.read_text())
    filled = 0
    for message in catalog:
        if not message.id or _key(message.id) not in translations:
            continue
        value = translations[_key(message.id)]
        if isinstance(value, dict):
            value = value.get("msgstr")
        if isinstance(message.id, tuple):
            forms = list(value) if isinstance(value, list) else [value] * catalog.num_plurals
            message.string = tuple(forms[: catalog.num_plurals])
        else:
            message.string = value[0] if isinstance(value, list) else value
        message.flags.discard("fuzzy")
        filled += 1
    catalog.header_comment = REVIEW_NOTE
    catalog.fuzzy = False
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=0, omit_header=False)
    path.write_bytes(buffer.getvalue())
    return filled


def main(argv: list[str] | None = None) -> int:
    """Run export or import."""
    parser = argparse.ArgumentParser(prog="python -m tools.po_json")
    parser.add_argument("command", choices=["export", "import"])
    parser.add_argument("catalog", type=Path)
    parser.add_argument("json", type=Path)
    parser.add_argument("--all", action="store_true", help="export translated messages too")
    args = parser.parse_args(argv)
    if args.command == "export":
        print(f"exported {export(args.catalog, args.json, args.all)} message(s)")
    else:
        print(f"filled {import_(args.catalog, args.json)} message(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
