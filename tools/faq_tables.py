"""Build or check the FAQ matcher's packaged tables (handlers/faq_match/tables.json.gz).

    python -m tools.faq_tables build    # after changing examples or the matcher's code
    python -m tools.faq_tables check    # exit 1 if the packaged tables are stale
"""

from __future__ import annotations

import argparse
import sys

from handlers.faq_match.tables import TABLES_FILE, read_tables, write_tables


def main(argv: list[str] | None = None) -> int:
    """Run the build or check command; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "check"))
    args = parser.parse_args(argv)
    if args.command == "build":
        write_tables()
        print(f"wrote {TABLES_FILE} ({TABLES_FILE.stat().st_size / 1e6:.1f} MB)")
        return 0
    if read_tables() is None:
        print(f"{TABLES_FILE} is stale or missing: run `python -m tools.faq_tables build`")
        return 1
    print("FAQ tables are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
