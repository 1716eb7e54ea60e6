"""Translation and language negotiation (gettext catalogs, Babel formatting).

Catalogs are standard gettext: ``locales/<lang>/LC_MESSAGES/messages.po`` for the bot's own
strings and one domain per campaign next to its campaign file. A compiled ``.mo`` is used when
it is newer than its ``.po``; otherwise the ``.po`` is compiled in memory, so a plain checkout
or install works without a build step.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

log = logging.getLogger(__name__)

#: The 24 official EU languages, in the order of their ISO 639-1 codes.
LANGUAGES: tuple[str, ...] = (
    "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr",
    "hu", "it", "lt", "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv",
)
DEFAULT_LANGUAGE = "en"
MAIN_DOMAIN = "messages"
#: Formatting conventions for an EU audience: Babel's bare "en" and "pt" are the US and Brazil.
FORMAT_LOCALES = {"en": "en_GB", "pt": "pt_PT"}
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


def normalize_language(tag: str | None) -> str | None:
    """Map a platform hint such as ``pt-BR`` or ``de_AT`` to a supported code, or None."""
    if not tag:
        return None
    try:
        language = Locale.parse(tag.replace("-", "_")).language
    except (UnknownLocaleError, ValueError, TypeError):
        language = tag.split("-")[0].split("_")[0].lower()
    return language if language in LANGUAGES else None


def negotiate(stored: str | None, hint: str | None) -> str:
    """Pick the language: the person's stored choice, then the platform hint, then English."""
    return normalize_language(stored) or normalize_language(hint) or DEFAULT_LANGUAGE


def load_catalog(locales_dir: Path, language: str, domain: str) -> gettext.NullTranslations:
    """Load one catalog, preferring an up-to-date .mo, else compiling the .po in memory."""
    base = locales_dir / language / "LC_MESSAGES" / domain
    po, mo = base.with_suffix(".po"), base.with_suffix(".mo")
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    if not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@dataclass(frozen=True, slots=True)
class CatalogSource:
    """Where one gettext domain lives."""

    locales_dir: Path
    domain: str


class Translator:
    """Everything language-specific for one reply: gettext, plural forms, Babel formatting."""

    def __init__(
        self, language: str, main: gettext.NullTranslations, campaign: gettext.NullTranslations
    ) -> None:
        self.language = language
        self._main = main
        self._campaign = campaign

    def _(self, message: str) -> str:
        """Translate a bot interface string."""
        return self._main.gettext(message)

    def gettext(self, message: str) -> str:
        """Translate a bot interface string (standard name, for extraction)."""
        return self._main.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Translate a string with a count, using the language's plural rules."""
        return self._main.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        """Translate a string that needs a context to be unambiguous."""
        return self._main.pgettext(context, message)

    def campaign(self, message: str) -> str:
        """Translate a text from the campaign file (its own domain)."""
        return self._campaign.gettext(message) if message else message

    @cached_property
    def locale(self) -> Locale:
        """Return the Babel locale for formatting."""
        return Locale.parse(FORMAT_LOCALES.get(self.language, self.language))

    def number(self, value: int | float | Decimal) -> str:
        """Format a number the local way (250,000 / 250.000 / 250 000)."""
        return format_decimal(value, locale=self.locale)

    def date(self, value: dt.date | dt.datetime) -> str:
        """Format a date in the long local form (1 August 2022)."""
        return format_date(value, format="long", locale=self.locale)

    def country_name(self, code: str) -> str:
        """Return a country's name in this language from Babel's locale data."""
        return str(self.locale.territories.get(_babel_territory(code), code))

    def language_name(self, code: str) -> str:
        """Return a language's own name (its endonym), capitalised."""
        name = Locale.parse(code).get_display_name(code) or code
        return name[:1].upper() + name[1:]


def _babel_territory(code: str) -> str:
    # The EU writes Greece as EL in some places; ISO (and Babel) say GR.
    return {"EL": "GR", "UK": "GB"}.get(code.upper(), code.upper())


class I18n:
    """Loads catalogs lazily per language and hands out translators."""

    def __init__(self, main: CatalogSource, campaign: CatalogSource | None = None) -> None:
        self._main = main
        self._campaign = campaign
        self._cache: dict[str, Translator] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        """Return the supported languages."""
        return LANGUAGES

    def translator(self, language: str) -> Translator:
        """Return the translator for a supported language (English for anything else)."""
        if language not in LANGUAGES:
            language = DEFAULT_LANGUAGE
        cached = self._cache.get(language)
        if cached is None:
            cached = Translator(language, self._load(self._main, language), self._campaign_catalog(language))
            self._cache[language] = cached
        return cached

    def _campaign_catalog(self, language: str) -> gettext.NullTranslations:
        if self._campaign is None:
            return gettext.NullTranslations()
        return self._load(self._campaign, language)

    @staticmethod
    def _load(source: CatalogSource, language: str) -> gettext.NullTranslations:
        if language == DEFAULT_LANGUAGE:
            # English is the source language: msgids are the texts.
            return gettext.NullTranslations()
        return load_catalog(source.locales_dir, language, source.domain)

    def preload(self, languages: Iterable[str] = LANGUAGES) -> None:
        """Load catalogs up front (a server does this once at start-up)."""
        for language in languages:
            self.translator(language)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (module-level constants)."""
    return message


def fmt(template: str, **values: object) -> str:
    """Fill ``{name}`` placeholders; unlike str.format, a stray brace never raises."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", str(value))
    return out
