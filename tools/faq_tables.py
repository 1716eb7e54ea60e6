"""Build or check the FAQ matcher's and detector's packaged tables (handlers/faq_match/*.json.gz).

    python -m tools.faq_tables build    # after changing examples or the matcher's code
    python -m tools.faq_tables check    # exit 1 if the packaged tables are stale
"""

from __future__ import annotations

import argparse
import sys

from handlers.faq_match.tables import TABLE_FILES, read_tables, write_tables


def main(argv: list[str] | None = None) -> int:
    """Run the build or check command; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "check"))
    args = parser.parse_args(argv)
    if args.command == "build":
        for path in write_tables():
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return 0
    stale = [path for part, path in TABLE_FILES.items() if read_tables(part) is None]
    for path in stale:
        print(f"{path} is stale or missing: run `python -m tools.faq_tables build`")
    if not stale:
        print("FAQ tables are current")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
