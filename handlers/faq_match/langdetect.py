"""Light offline language identification for the 24 official EU languages.

Used for a person's first message on a platform without a language hint (Matrix). Character
1-3-gram profiles are built from the FAQ example files (``examples/<lang>.jsonl``), smoothed
towards the pooled profile of all languages, and scored naive-Bayes style. Script and letter
cues (Greek -> el, Cyrillic -> bg, ő/ű -> hu, ř/ů -> cs, ...) are added on top, which also lets
a language without an example file be recognised by its letters.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from handlers.faq_match.matcher import load_examples
from handlers.faq_match.tables import read_tables

log = logging.getLogger(__name__)

EU_LANGUAGES = frozenset(
    "bg cs da de el en es et fi fr ga hr hu it lt lv mt nl pl pt ro sk sl sv".split()
)

#: Texts with fewer letters than this are too short to tell apart ("ok", "1", "hi").
MIN_LETTERS = 4
#: Only the start of a message is looked at: enough to identify a language, and bounded.
MAX_CHARS = 300
#: Below this confidence the detector answers None and the caller keeps its default.
MIN_CONFIDENCE = 0.6
#: Dirichlet smoothing mass towards the pooled profile (in n-gram counts).
SMOOTHING = 1000.0
#: Per-n-gram log penalty for a language without a profile, scored on the pooled profile of
#: all languages: a mixture of every language would otherwise beat the right specific one.
UNPROFILED_PENALTY = 0.2
#: Log-likelihood bonus per distinctive letter, split among the languages that use it.
CUE_BONUS = 6.0
#: Log-likelihood margin over the runner-up that maps to confidence 1 - 1/e.
MARGIN_SCALE = 3.0

#: Letters that point to few languages. Shared letters are split, so "ä" says less than "ő".
_CUES: dict[str, tuple[str, ...]] = {
    "ő": ("hu",), "ű": ("hu",),
    "ł": ("pl",), "ś": ("pl",), "ź": ("pl",), "ć": ("pl", "hr"), "ń": ("pl",),
    "ż": ("pl", "mt"), "ą": ("pl", "lt"), "ę": ("pl", "lt"),
    "ř": ("cs",), "ů": ("cs",), "ě": ("cs",),
    "ľ": ("sk",), "ĺ": ("sk",), "ŕ": ("sk",), "ô": ("sk", "fr", "pt"),
    "ť": ("cs", "sk"), "ď": ("cs", "sk"), "ň": ("cs", "sk"),
    "ā": ("lv",), "ē": ("lv",), "ī": ("lv",), "ķ": ("lv",), "ļ": ("lv",), "ņ": ("lv",),
    "ģ": ("lv",), "ū": ("lv", "lt"),
    "ė": ("lt",), "į": ("lt",), "ų": ("lt",),
    "ħ": ("mt",), "ġ": ("mt",), "ċ": ("mt",),
    "õ": ("et", "pt"), "ã": ("pt",),
    "ș": ("ro",), "ț": ("ro",), "ş": ("ro",), "ţ": ("ro",), "ă": ("ro",),
    "đ": ("hr",),
    "æ": ("da",), "ø": ("da",), "å": ("da", "sv"),
    "ß": ("de",), "ñ": ("es",), "¿": ("es",), "¡": ("es",),
    "ç": ("fr", "pt"), "œ": ("fr",), "ÿ": ("fr",),
}


def detect_language(text: str, candidates: Iterable[str]) -> tuple[str | None, float]:
    """Guess the language of ``text`` among ``candidates``: (code, confidence) or (None, 0)."""
    try:
        return _default_detector().detect(text, candidates)
    except Exception:  # language detection is a nicety; it must never break a conversation
        log.exception("Language detection failed")
        return None, 0.0


@lru_cache(maxsize=1)
def _default_detector() -> LanguageDetector:
    """The detector for the packaged example files, made once on first use."""
    packaged = read_tables("detector")
    if packaged is not None:
        return LanguageDetector.from_tables(packaged)
    return LanguageDetector.from_examples(load_examples())


class LanguageDetector:
    """Naive Bayes over character 1-3-grams, plus script and letter cues."""

    def __init__(self, texts: Mapping[str, Iterable[str]]) -> None:
        """Build profiles from sample texts per language code."""
        profiles: dict[str, Counter[str]] = {}
        for lang, samples in texts.items():
            counts: Counter[str] = Counter()
            for sample in samples:
                counts.update(_grams(_normalise(sample)))
            if counts:
                profiles[lang] = counts
        self._set_profiles(profiles)

    def _set_profiles(self, profiles: dict[str, Counter[str]]) -> None:
        self._counts = profiles
        pooled: Counter[str] = Counter()
        for counts in self._counts.values():
            pooled.update(counts)
        self._pooled_total = sum(pooled.values()) or 1
        self._pooled = pooled
        self._totals = {lang: sum(c.values()) for lang, c in self._counts.items()}

    @classmethod
    def from_examples(cls, examples: Mapping[str, Sequence[tuple[str, str]]]) -> LanguageDetector:
        """Build from FAQ examples (language -> [(topic, question)])."""
        return cls({lang: [q for _, q in items] for lang, items in examples.items()})

    def tables(self) -> dict[str, Any]:
        """The n-gram profiles as JSON-ready data: language -> [grams, counts]."""
        return {lang: [list(c), list(c.values())] for lang, c in self._counts.items()}

    @classmethod
    def from_tables(cls, tables: Mapping[str, Any]) -> LanguageDetector:
        """Restore a detector from :meth:`tables` output."""
        detector = cls.__new__(cls)
        detector._set_profiles(
            {lang: Counter(dict(zip(g, n, strict=True))) for lang, (g, n) in tables.items()}
        )
        return detector

    def languages(self) -> frozenset[str]:
        """Languages with an n-gram profile (others can still be found by their letters)."""
        return frozenset(self._counts)

    def detect(self, text: str, candidates: Iterable[str]) -> tuple[str | None, float]:
        """Guess the language of ``text`` among ``candidates``: (code, confidence) or (None, 0)."""
        allowed = sorted(set(candidates))
        if not isinstance(text, str) or not allowed:
            return None, 0.0
        norm = _normalise(text[:MAX_CHARS])
        letters = [c for c in norm if c.isalpha()]
        if len(letters) < MIN_LETTERS:
            return None, 0.0
        script = _script_language(letters)
        if script is not None:
            return (script, 1.0) if script in allowed else (None, 0.0)
        grams = _grams(norm)
        if not grams:
            return None, 0.0
        n_grams = sum(grams.values())
        scores = {lang: self._log_likelihood(lang, grams) for lang in allowed if lang in self._counts}
        unprofiled = [lang for lang in allowed if lang not in self._counts]
        if unprofiled:
            # All languages without a profile share one score; only letter cues tell them apart.
            pooled = self._log_likelihood("", grams) - UNPROFILED_PENALTY * n_grams
            scores.update((lang, pooled) for lang in unprofiled)
        for lang, bonus in _cue_bonus(norm).items():
            if lang in scores:
                scores[lang] += bonus
        return _decide(scores)

    def _log_likelihood(self, lang: str, grams: Counter[str]) -> float:
        """Log-likelihood of the grams under the language's smoothed profile."""
        counts = self._counts.get(lang)  # None: score on the pooled profile alone
        pooled = self._pooled
        pooled_total = self._pooled_total
        total = self._totals.get(lang, 0)
        score = 0.0
        for gram, n in grams.items():
            # Unseen grams fall back on the pooled profile, and grams no language has on a floor.
            background = (pooled.get(gram, 0) + 0.5) / (pooled_total + 0.5)
            seen = counts.get(gram, 0) if counts is not None else 0
            score += n * math.log((seen + SMOOTHING * background) / (total + SMOOTHING))
        return score


def _decide(scores: dict[str, float]) -> tuple[str | None, float]:
    """Pick the best language if it beats the runner-up clearly enough."""
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best_lang, best = ranked[0]
    if len(ranked) == 1:
        return best_lang, 1.0
    # The whole margin, not a per-n-gram average: one short word is weak evidence however
    # typical its letters look.
    confidence = 1.0 - math.exp(-(best - ranked[1][1]) / MARGIN_SCALE)
    if confidence < MIN_CONFIDENCE:
        return None, confidence
    return best_lang, confidence


def _normalise(text: str) -> str:
    """NFC and lowercase, keeping diacritics (they are the best clue to the language)."""
    return unicodedata.normalize("NFC", text).lower()


def _grams(text: str) -> Counter[str]:
    """Character 1-3-grams of each word, padded with spaces at word boundaries."""
    counts: Counter[str] = Counter()
    for word in "".join(c if c.isalpha() else " " for c in text).split():
        padded = f" {word} "
        size = len(padded)
        counts.update(padded[i : i + n] for n in (1, 2, 3) for i in range(size - n + 1))
    counts.pop(" ", None)
    return counts


def _script_language(letters: list[str]) -> str | None:
    """Greek letters mean el and Cyrillic bg, when they are the majority."""
    greek = sum(1 for c in letters if "\u0370" <= c <= "\u03ff" or "\u1f00" <= c <= "\u1fff")
    cyrillic = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    if greek * 2 > len(letters):
        return "el"
    if cyrillic * 2 > len(letters):
        return "bg"
    return None


def _cue_bonus(text: str) -> dict[str, float]:
    """Extra log-likelihood for languages whose distinctive letters appear in the text."""
    bonus: dict[str, float] = {}
    for char in text:
        langs = _CUES.get(char)
        if langs:
            share = CUE_BONUS / len(langs)
            for lang in langs:
                bonus[lang] = bonus.get(lang, 0.0) + share
    return bonus


def known_languages(examples_dir: Path | None = None) -> frozenset[str]:
    """EU languages that have an example file (and so an n-gram profile)."""
    folder = examples_dir or Path(__file__).resolve().parent / "examples"
    return frozenset(p.stem for p in folder.glob("*.jsonl")) & EU_LANGUAGES
