"""Catalog maintenance and checks for both gettext domains (the bot's and the campaign's).

    python -m tools.catalogs extract   # refresh the .pot templates from code and campaign file
    python -m tools.catalogs update    # merge templates into all 24 .po files (creating missing)
    python -m tools.catalogs compile   # write .mo files (Docker build; optional elsewhere)
    python -m tools.catalogs check     # CI: complete, placeholders, HTML subset, up to date

A failing check prints one line per problem naming the domain, language and message.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from handlers.campaign import load_campaign
from handlers.config import DEFAULT_CAMPAIGN
from handlers.html import ALLOWED_TAGS, tags_used
from handlers.i18n import LANGUAGES, LOCALES_DIR, MAIN_DOMAIN

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
TRANSLATOR_NOTE = "not yet reviewed by a native speaker"  # part of po_json.REVIEW_NOTE


@dataclass(frozen=True)
class Domain:
    """One gettext domain: where its catalogs live and how it is extracted."""

    name: str
    locales: Path
    mapping: Path
    sources: tuple[Path, ...]

    @property
    def pot(self) -> Path:
        return self.locales / f"{self.name}.pot"

    def po(self, language: str) -> Path:
        return self.locales / language / "LC_MESSAGES" / f"{self.name}.po"


def domains(campaign_file: Path = DEFAULT_CAMPAIGN) -> list[Domain]:
    """Return the bot's domain and the campaign's."""
    campaign = load_campaign(campaign_file)
    return [
        Domain(MAIN_DOMAIN, LOCALES_DIR, ROOT / "babel.cfg", (ROOT / "bots", ROOT / "handlers")),
        Domain(campaign.domain, campaign.locales_dir, ROOT / "babel-campaign.cfg",
               (campaign.path.parent,)),
    ]


def _pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract(domain: Domain, output: Path) -> None:
    """Extract a domain's messages into a template."""
    output.parent.mkdir(parents=True, exist_ok=True)
    _pybabel("extract", "-F", str(domain.mapping), "--add-comments=TRANSLATORS:",
             "--sort-output", "--no-location", "--no-wrap", "--project", "reclaim-bot",
             "-o", str(output), *[str(s) for s in domain.sources])


def update(domain: Domain) -> None:
    """Create missing catalogs and merge the template into every language."""
    for language in LANGUAGES:
        if language == "en":
            continue
        po = domain.po(language)
        if not po.exists():
            _pybabel("init", "-i", str(domain.pot), "-d", str(domain.locales), "-D", domain.name,
                     "-l", language)
        _pybabel("update", "-i", str(domain.pot), "-d", str(domain.locales), "-D", domain.name,
                 "-l", language, "--no-fuzzy-matching", "--ignore-obsolete", "--no-wrap")


def compile_all(domain: Domain) -> None:
    """Compile every catalog to .mo."""
    _pybabel("compile", "-d", str(domain.locales), "-D", domain.name)


def _read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _ids(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _strings(message: Message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def check_domain(domain: Domain) -> Iterator[str]:
    """Yield one line per problem in a domain."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "fresh.pot"
        extract(domain, fresh)
        fresh_ids = {m.id for m in _read(fresh) if m.id}
    committed_ids = {m.id for m in _read(domain.pot) if m.id} if domain.pot.exists() else set()
    if fresh_ids != committed_ids:
        yield (f"{domain.name}: {domain.pot.relative_to(ROOT)} is not current with the code "
               f"(run python -m tools.catalogs extract && python -m tools.catalogs update)")
    for language in LANGUAGES:
        if language == "en":
            continue
        yield from check_language(domain, language, fresh_ids)


def check_language(domain: Domain, language: str, wanted: set[object]) -> Iterator[str]:
    """Yield the problems of one language's catalog."""
    path = domain.po(language)
    if not path.exists():
        yield f"{domain.name}/{language}: catalog missing ({path.relative_to(ROOT)})"
        return
    catalog = _read(path, language)
    have = {m.id: m for m in catalog if m.id}
    for msgid in sorted(wanted - set(have), key=str):
        yield f"{domain.name}/{language}: not in catalog: {_short(msgid)}"
    for message in have.values():
        yield from _check_message(domain.name, language, message, catalog.num_plurals)
    if TRANSLATOR_NOTE not in (catalog.header_comment or ""):
        yield f"{domain.name}/{language}: header lacks the translators' review note"


def _check_message(domain: str, language: str, message: Message, plurals: int) -> Iterator[str]:
    where = f"{domain}/{language}: {_short(message.id)}"
    strings = _strings(message)
    if message.fuzzy or not all(s.strip() for s in strings):
        yield f"{where}: untranslated or fuzzy"
        return
    if isinstance(message.id, tuple) and len(strings) != plurals:
        yield f"{where}: needs {plurals} plural forms, has {len(strings)}"
    source = set().union(*(set(PLACEHOLDER.findall(i)) for i in _ids(message)))
    for text in strings:
        if set(PLACEHOLDER.findall(text)) != source:
            yield f"{where}: placeholders {sorted(PLACEHOLDER.findall(text))} != {sorted(source)}"
        if not tags_used(text) <= ALLOWED_TAGS:
            yield f"{where}: HTML outside the allowed subset: {sorted(tags_used(text) - ALLOWED_TAGS)}"
        if _tag_counts(text) != _tag_counts(_ids(message)[0]):
            yield f"{where}: HTML tags differ from the source"


def _tag_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tag in re.findall(r"</?([a-zA-Z]+)", text):
        counts[tag.lower()] = counts.get(tag.lower(), 0) + 1
    return counts


def _short(msgid: object) -> str:
    text = msgid[0] if isinstance(msgid, tuple) else str(msgid)
    text = text.replace("\n", " ")
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


def main(argv: list[str] | None = None) -> int:
    """Run one catalog command."""
    parser = argparse.ArgumentParser(prog="python -m tools.catalogs")
    parser.add_argument("command", choices=["extract", "update", "compile", "check"])
    args = parser.parse_args(argv)
    problems: list[str] = []
    for domain in domains():
        if args.command == "extract":
            extract(domain, domain.pot)
        elif args.command == "update":
            update(domain)
        elif args.command == "compile":
            compile_all(domain)
        else:
            problems += list(check_domain(domain))
    for problem in problems:
        print(problem)
    if args.command == "check":
        print(f"catalog check: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
