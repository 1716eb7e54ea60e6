"""The campaign as data: loaded from one TOML file, validated, with its state on a clock.

The file holds English texts that are gettext msgids of the campaign's own domain (extracted by
:func:`handlers.campaign_extract.extract_campaign`), so the next initiative needs no code change.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from handlers.i18n import DEFAULT_LANGUAGE

FAQ_TOPICS: tuple[str, ...] = (
    "what-is-eci", "initiative-demands", "what-is-bms", "why-ban", "where-used",
    "accuracy-bias", "who-can-sign", "how-to-sign", "data-safety", "living-abroad",
    "thresholds", "what-next", "ai-act", "who-is-behind", "how-to-help", "bot-privacy",
)
TEXT_KEYS: tuple[str, ...] = (
    "tagline", "summary", "demands", "organisers", "why", "before_open", "during", "closed",
    "follow_up", "sign_closed", "data_part_a", "data_part_b", "data_unknown", "abroad_hint",
)


class CampaignError(ValueError):
    """The campaign file is unreadable or incomplete; the message says where."""


class State(Enum):
    """Where the collection window stands."""

    BEFORE = "before"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Country:
    """One member state's signing rules for this initiative."""

    code: str
    threshold: int
    min_age: int
    data: str  # "A", "B" or "unknown" (Annex III part of Regulation 2019/788)
    note: str = ""


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One FAQ topic: a short menu label and the answer (both msgids)."""

    topic: str
    title: str
    answer: str


@dataclass(frozen=True, slots=True)
class Link:
    """A labelled link (organiser, resource)."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Campaign:
    """Everything the bot says and links about one initiative."""

    id: str
    domain: str
    name: str
    official_title: str
    registration_number: str
    registration_date: dt.date
    register_url: str
    website: str
    hashtag: str
    signature_goal: int
    countries_needed: int
    threshold_note: str
    opens: dt.datetime
    closes: dt.datetime
    sign_url_template: str
    sign_languages: frozenset[str]
    after_close_url_template: str
    outcome_signatures: int | None
    outcome_approximate: bool
    texts: dict[str, str]
    organisers: tuple[Link, ...]
    links: tuple[Link, ...]
    countries: dict[str, Country]
    faq: dict[str, FaqEntry]
    path: Path

    def state(self, now: dt.datetime) -> State:
        """Return the collection state at ``now`` (an aware datetime)."""
        if now < self.opens:
            return State.BEFORE
        if now <= self.closes:
            return State.OPEN
        return State.CLOSED

    def text(self, key: str) -> str:
        """Return an English campaign text (translate with ``Translator.campaign``)."""
        return self.texts.get(key, "")

    def sign_url(self, language: str, country: str | None = None) -> str:
        """Return the official form's URL in a language the form has (else English)."""
        lang = language if language in self.sign_languages else DEFAULT_LANGUAGE
        return self.sign_url_template.format(lang=lang, country=(country or "").upper())

    def after_close_url(self, language: str) -> str:
        """Return the page people should see once collection has closed."""
        return self.after_close_url_template.format(lang=language)

    def register_page(self, language: str) -> str:
        """Return the official register page in a language."""
        return self.register_url.format(lang=language)

    @property
    def locales_dir(self) -> Path:
        """Return the folder that holds this campaign's gettext catalogs."""
        return self.path.parent / "locales"

    def msgids(self) -> list[str]:
        """Return every translatable text of the campaign (for checks)."""
        out = [self.name, self.official_title, self.threshold_note, *self.texts.values()]
        out += [link.label for link in self.links]
        out += [c.note for c in self.countries.values() if c.note]
        for entry in self.faq.values():
            out += [entry.title, entry.answer]
        return [text for text in out if text]


def load_campaign(path: Path) -> Campaign:
    """Read and validate a campaign file."""
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CampaignError(f"{path}: {exc}") from exc
    try:
        return _parse(raw, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise CampaignError(f"{path}: missing or invalid {exc}") from exc


def _parse(raw: dict[str, Any], path: Path) -> Campaign:
    c, window, signing, outcome = raw["campaign"], raw["window"], raw["signing"], raw.get("outcome", {})
    texts = {key: str(raw["texts"].get(key, "")) for key in TEXT_KEYS}
    faq = {topic: _faq(topic, raw["faq"][topic]) for topic in FAQ_TOPICS}
    campaign = Campaign(
        id=str(c["id"]), domain=str(c["domain"]), name=str(c["name"]),
        official_title=str(c.get("official_title", "")),
        registration_number=str(c.get("registration_number", "")),
        registration_date=_date(c["registration_date"]),
        register_url=str(c["register_url"]), website=str(c["website"]),
        hashtag=str(c.get("hashtag", "")), signature_goal=int(c["signature_goal"]),
        countries_needed=int(c["countries_needed"]), threshold_note=str(c.get("threshold_note", "")),
        opens=_aware(window["opens"], "window.opens"), closes=_aware(window["closes"], "window.closes"),
        sign_url_template=str(signing["url"]),
        sign_languages=frozenset(signing.get("languages", [DEFAULT_LANGUAGE])),
        after_close_url_template=str(signing.get("after_close_url", c["register_url"])),
        outcome_signatures=outcome.get("signatures"), outcome_approximate=bool(outcome.get("approximate", False)),
        texts=texts,
        organisers=tuple(Link(str(o["name"]), str(o["url"])) for o in raw.get("organisers", [])),
        links=tuple(Link(str(o["label"]), str(o["url"])) for o in raw.get("links", [])),
        countries={code.upper(): _country(code, data) for code, data in raw["countries"].items()},
        faq=faq, path=path.resolve(),
    )
    _validate(campaign)
    return campaign


def _faq(topic: str, data: dict[str, Any]) -> FaqEntry:
    return FaqEntry(topic=topic, title=str(data["title"]), answer=str(data["answer"]).strip())


def _country(code: str, data: dict[str, Any]) -> Country:
    return Country(code=code.upper(), threshold=int(data["threshold"]), min_age=int(data["min_age"]),
                   data=str(data.get("data", "unknown")), note=str(data.get("note", "")))


def _date(value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _aware(value: object, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{name} (needs a date-time with a UTC offset)")
    return value


def _validate(c: Campaign) -> None:
    if c.opens >= c.closes:
        raise ValueError("window (opens must be before closes)")
    if "{lang}" not in c.sign_url_template:
        raise ValueError("signing.url (needs a {lang} placeholder)")
    for key in ("summary", "before_open", "during", "closed", "sign_closed"):
        if not c.texts[key]:
            raise ValueError(f"texts.{key}")
    if len(c.countries) == 0:
        raise ValueError("countries (none listed)")
    bad = [code for code, country in c.countries.items() if country.data not in ("A", "B", "unknown")]
    if bad:
        raise ValueError(f"countries.{bad[0]}.data (must be A, B or unknown)")
