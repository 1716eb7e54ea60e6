"""A Babel extractor for campaign files: every text of the TOML becomes a msgid.

Used by ``babel-campaign.cfg`` (``[handlers.campaign_extract:extract_campaign: **.toml]``), so
``pybabel extract`` builds the campaign's own catalog template like any other.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from handlers.campaign import _parse

Extracted = tuple[int, str, str, list[str]]


def extract_campaign(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[Extracted]:
    """Yield ``(lineno, funcname, message, comments)`` for every campaign text."""
    data = fileobj.read()
    raw = tomllib.loads(data.decode("utf-8"))
    campaign = _parse(raw, Path(getattr(fileobj, "name", "campaign.toml")))
    lines = data.decode("utf-8").splitlines()
    seen: set[str] = set()
    for text, comment in _texts(campaign):
        if text and text not in seen:
            seen.add(text)
            yield _line_of(lines, text), "gettext", text, [comment]


def _texts(campaign: Any) -> Iterator[tuple[str, str]]:
    yield campaign.name, "TRANSLATORS: the campaign's name"
    yield campaign.official_title, "TRANSLATORS: the initiative's official title (use the official translation)"
    yield campaign.threshold_note, "TRANSLATORS: campaign text"
    for key, text in campaign.texts.items():
        yield text, f"TRANSLATORS: campaign text '{key}'; keep {{placeholders}} as they are"
    for link in campaign.links:
        yield link.label, "TRANSLATORS: a link label"
    for country in campaign.countries.values():
        yield country.note, f"TRANSLATORS: note for country {country.code}"
    for entry in campaign.faq.values():
        yield entry.title, f"TRANSLATORS: FAQ menu button for '{entry.topic}', at most 32 characters"
        yield entry.answer, f"TRANSLATORS: FAQ answer for '{entry.topic}'; keep the HTML tags"


def _line_of(lines: list[str], text: str) -> int:
    first = text.strip().splitlines()[0][:40] if text.strip() else ""
    for number, line in enumerate(lines, start=1):
        if first and first in line:
            return number
    return 1
