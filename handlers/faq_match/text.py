"""Text folding and feature extraction for the FAQ matcher."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cache
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

#: Folded Cyrillic and Greek spelled in Latin letters, so Bulgarian and Greek share the
#: cognates ("инициатива" ~ "iniciativa", "βιομετρική" ~ "biometric") and names that pooled
#: training learns from the other 22 languages. Slavic letters map to the folded Latin Slavic
#: spelling (ж ~ ž -> z, ч ~ č -> c, ш ~ š -> s); Greek uses the modern sound for η and υ but
#: keeps β as b, the spelling of its cognates ("bio-", "biblio-").
_LATIN = str.maketrans(
    {
        **dict(zip("абвгдезиклмнопрстуфхц", "abvgdeziklmnoprstufhc", strict=True)),
        **{"ж": "z", "ч": "c", "ш": "s", "щ": "st", "ъ": "a", "ь": "", "ю": "ju", "я": "ja"},
        **{"ы": "y", "э": "e", "і": "i", "ї": "i", "є": "e", "ѝ": "i"},
        **dict(zip("αβγδεζηικλμνξοπρστυφως", "abgdeziiklmnxoprstyfos", strict=True)),
        **{"θ": "th", "χ": "ch", "ψ": "ps"},
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

#: Character n-gram size: 3-grams and 5-grams, alone or added, scored no better in
#: cross-validation and make building slower.
NGRAM = 4


def fold(text: str) -> str:
    """Lowercase and strip accents (Greek tonos too) so "Bürger", "burger", "BÜRGER" agree."""
    text = text.casefold()
    if text.isascii():
        return text
    return unicodedata.normalize("NFKD", text).translate(_strip_table())


@cache
def _strip_table() -> dict[int, str | None]:
    """Drop combining marks (one translate call is faster than testing each character)."""
    blocks = (*range(0x300, 0x2000), *range(0x20D0, 0x2100), *range(0xFE20, 0xFE30))
    table: dict[int, str | None] = dict.fromkeys(c for c in blocks if unicodedata.combining(chr(c)))
    table.update(_EXTRA_FOLDS)
    return table


def latin(folded: str) -> str:
    """Spell folded Cyrillic and Greek in Latin letters (other scripts are left alone)."""
    return folded if folded.isascii() else folded.translate(_LATIN)


def words(text: str) -> list[str]:
    """Folded, Latin-spelled word tokens of ``text`` (letters and digits only)."""
    return _WORD_RE.findall(latin(fold(text)))


def features(text: str) -> Counter[str]:
    """Count word-boundary char n-grams, light word stems and stem bigrams of ``text``."""
    tokens = words(text[:MAX_CHARS])
    n = NGRAM
    # One list and one Counter: building the model extracts features of ~17k examples.
    items = [p[i : i + n] for p in (f" {w} " for w in tokens) for i in range(len(p) - n + 1)]
    stems = [w[:STEM_LEN] for w in tokens]
    items += [STEM + stem for stem, w in zip(stems, tokens, strict=True) if len(w) >= 3]
    # Stem pairs catch phrases whose words are common alone: "how many", "ai act", "wer darf".
    items += [f"{BIGRAM}{a} {b}" for a, b in pairwise(stems)]
    return Counter(items)
