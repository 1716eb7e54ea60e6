"""Text folding and feature extraction for the FAQ matcher."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from itertools import pairwise

#: Only this many characters of a message are analysed: questions are short, and a cap keeps
#: the latency flat whatever a person (or a bot) pastes in.
MAX_CHARS = 500

#: Letters that NFKD does not decompose but people routinely type without their stroke or
#: ligature (Polish ł, Danish ø, Croatian đ, Maltese ħ; German ß is already "ss" after casefold).
_EXTRA_FOLDS = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ħ": "h",
        "ı": "i",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ð": "d",
    }
)

#: Word characters (letters and digits); apostrophes split words so "l'initiative" -> "initiative".
_WORD_RE = re.compile(r"[^\W_]+")

#: Prefixes that keep the feature kinds apart in one feature space; plain char n-grams have none.
STEM = "\x01"
BIGRAM = "\x02"

#: Words are cut to this many characters: a cheap, language-neutral "light stem" that maps
#: "signatures"/"signature", "Unterschriften"/"Unterschrift", "firmas"/"firmar" together.
STEM_LEN = 5

NGRAM_SIZES = (4,)


def fold(text: str) -> str:
    """Lowercase and strip accents (Greek tonos too) so "Bürger", "burger", "BÜRGER" agree."""
    text = text.casefold()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.translate(_EXTRA_FOLDS)


def words(text: str) -> list[str]:
    """Folded word tokens of ``text`` (letters and digits only)."""
    return _WORD_RE.findall(fold(text))


def features(text: str) -> Counter[str]:
    """Count word-boundary char n-grams, light word stems and stem bigrams of ``text``."""
    tokens = words(text[:MAX_CHARS])
    padded = [f" {word} " for word in tokens]
    counts = Counter(
        word[i : i + n] for word in padded for n in NGRAM_SIZES for i in range(len(word) - n + 1)
    )
    stems = [word[:STEM_LEN] for word in tokens]
    counts.update(STEM + stem for stem, word in zip(stems, tokens, strict=True) if len(word) >= 3)
    # Stem pairs catch phrases whose words are common alone: "how many", "ai act", "wer darf".
    counts.update(f"{BIGRAM}{a} {b}" for a, b in pairwise(stems))
    return counts


def kind_weight(feature: str, gram: float, stem: float, bigram: float) -> float:
    """The weight of a feature's kind: char n-gram, word stem or stem bigram."""
    if feature[0] == STEM:
        return stem
    if feature[0] == BIGRAM:
        return bigram
    return gram
