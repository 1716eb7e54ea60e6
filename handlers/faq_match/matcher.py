"""Multilingual free-text FAQ matcher: a TF-IDF-weighted multinomial naive Bayes classifier.

Every example of every language is pooled per topic, so a question typed in another language
than the person's current one is still understood, and languages that share words (names,
"AI Act", Romance stems) help each other; Cyrillic and Greek are spelled in Latin letters so
Bulgarian and Greek share cognates too. Features are word-boundary character 4-grams of
accent-folded text (robust to typos and missing diacritics), 5-letter word stems and stem
bigrams. The confidence is the margin of the best topic's log-likelihood over the mean of all
topics, divided by the square root of the query's evidence mass (a long question piles up
margin even when its words are weak), squashed to [0, 1].

Chosen by measurement: bench/faq_tune.py cross-validates on the example files (folds hold out
the same paraphrase slot in every language) plus the shared dev set; bench/faq_bench.py only
measures on held-out questions. Nearest-neighbour cosine and per-topic centroids scored well
below this classifier. Linear SVMs, logistic regression, a passive-aggressive correction on top
of naive Bayes and NB+SVM or NB+kNN ensembles gained at most 2 points in cross-validation (about
1 on the held-out set), and none can be trained in pure Python within the start-up budget; an
averaged-perceptron correction trained at build time on leave-one-out naive Bayes scores
(feasible once tables were packaged) gained nothing in cross-validation either. Weighting the
person's language (per-language models backed off to the pooled one) lost accuracy, as did
3-/5-grams, stem pairs across gaps, first-word markers, folding doubled letters, per-language or
entropy-based term weights, complement naive Bayes, binary features and extra 4-/7-letter stems
or whole words; so the language hint only breaks ties when reporting which language matched.
Most remaining errors are between neighbouring topics (who-can-sign vs living-abroad, what-next
vs what-is-eci): more examples, not another classifier, are what moves them.
Pure Python: indexing ~24,000 examples takes 1-2 s (~50-90 µs each), so the packaged
examples come with prebuilt tables (handlers/faq_match/tables.py) that load in about 0.3 s;
a question takes well under a millisecond.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from handlers.faq_match.tables import read_tables
from handlers.faq_match.text import BIGRAM, MAX_CHARS, STEM, features

log = logging.getLogger(__name__)

#: Intents that get a friendly reply but are not FAQ topics (never offered as suggestions).
SMALL_TALK = frozenset({"_greeting", "_thanks"})
#: Examples of questions the bot should NOT answer (weather, food, sport...): when they win,
#: the matcher says "not sure" instead of forcing the nearest FAQ topic.
OFF_TOPIC = "_offtopic"

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


@dataclass(frozen=True)
class FaqMatch:
    """The matcher's verdict for one message."""

    topic: str | None  # a topic id, "_greeting", "_thanks", or None when unsure
    score: float  # in [0, 1]
    suggestions: tuple[str, ...]  # next best FAQ topic ids (up to 3, never small talk)
    language: str | None  # the language whose examples matched best


NO_MATCH = FaqMatch(topic=None, score=0.0, suggestions=(), language=None)


@dataclass(frozen=True)
class MatchParams:
    """Tunable knobs; the defaults were chosen by cross-validation with bench/faq_tune.py."""

    #: Weights of the feature kinds (char n-grams are many and individually weak).
    gram_weight: float = 0.5
    stem_weight: float = 1.0
    bigram_weight: float = 1.0
    #: Additive (Laplace) smoothing of the per-topic feature distributions.
    smoothing: float = 0.01
    #: Calibrated score below which the answer is None (the bot shows the topic menu).
    threshold: float = 0.5
    #: Normalised evidence margin (best topic's log-likelihood minus the mean over topics,
    #: divided by the square root of the query's evidence mass) that maps to the calibrated
    #: score 0.5, and the width of the logistic curve around it. Set in cross-validation
    #: (bench/faq_tune.py): it keeps ~99.6% of correct answers while sending more held-out
    #: off-topic questions to "not sure" than the raw margin did at the same cost.
    margin_mid: float = 8.0
    margin_scale: float = 2.5
    max_suggestions: int = 3


class FaqMatcher:
    """Match a free-text question to a FAQ topic across all loaded languages."""

    def __init__(
        self,
        examples: Mapping[str, Sequence[tuple[str, str]]],
        params: MatchParams | None = None,
    ) -> None:
        """Index ``examples`` (language -> [(topic, question)]); prefer load/from_examples."""
        self._params = p = params or MatchParams()
        rows = [
            (topic, lang, question)
            for lang, items in sorted(examples.items())
            for topic, question in items
            if question.strip()
        ]
        self._topic_names = sorted({topic for topic, _, _ in rows})
        self._languages = sorted({lang for _, lang, _ in rows})
        counts = [features(question) for _, _, question in rows]
        self._weights = _term_weights(counts, p)
        topic_index = {t: i for i, t in enumerate(self._topic_names)}
        #: Per topic, the idf-weighted mass of each feature; log gains are computed per query
        #: (a few hundred logs) rather than for every (topic, feature) pair at start-up.
        self._masses = _topic_masses(
            counts, [topic_index[t] for t, _, _ in rows], len(self._topic_names), self._weights
        )
        vocab = len(self._weights)
        self._log_norm = [
            math.log(p.smoothing * vocab + sum(mass.values())) for mass in self._masses
        ]
        self._lang_terms = _language_terms(counts, [lang for _, lang, _ in rows], self._languages)

    @classmethod
    def load(
        cls, examples_dir: Path | None = None, languages: Iterable[str] | None = None
    ) -> FaqMatcher:
        """A matcher for ``<lang>.jsonl`` example files (default: the packaged ones).

        The packaged examples come with prebuilt tables (see :mod:`handlers.faq_match.tables`),
        used when they are current; other examples are indexed here.
        """
        if examples_dir is None and languages is None:
            packaged = read_tables("matcher")
            if packaged is not None:
                return cls.from_tables(packaged)
        return cls.from_examples(load_examples(examples_dir, languages))

    @classmethod
    def from_examples(cls, examples: Mapping[str, Sequence[tuple[str, str]]]) -> FaqMatcher:
        """Build a matcher from in-memory examples: language -> [(topic, question)]."""
        return cls(examples)

    def tables(self) -> dict[str, Any]:
        """The derived tables as JSON-ready data (features numbered once, in ``vocab``)."""
        vocab = list(self._weights)
        index = {term: i for i, term in enumerate(vocab)}
        return {
            "topics": self._topic_names,
            "languages": self._languages,
            "vocab": vocab,
            "weights": [self._weights[term] for term in vocab],
            "masses": [[[index[t] for t in mass], list(mass.values())] for mass in self._masses],
            "log_norm": self._log_norm,
            "lang_terms": [sorted(index[t] for t in terms) for terms in self._lang_terms],
        }

    @classmethod
    def from_tables(cls, tables: Mapping[str, Any]) -> FaqMatcher:
        """Restore a matcher (default parameters) from :meth:`tables` output."""
        matcher = cls.__new__(cls)
        matcher._params = MatchParams()
        matcher._topic_names = list(tables["topics"])
        matcher._languages = list(tables["languages"])
        vocab: list[str] = tables["vocab"]
        term = vocab.__getitem__
        matcher._weights = dict(zip(vocab, tables["weights"], strict=True))
        matcher._masses = [
            dict(zip(map(term, terms), values, strict=True)) for terms, values in tables["masses"]
        ]
        matcher._log_norm = list(tables["log_norm"])
        matcher._lang_terms = [frozenset(map(term, terms)) for terms in tables["lang_terms"]]
        return matcher

    def topics(self) -> frozenset[str]:
        """All intents this matcher can return, small talk included."""
        return frozenset(self._topic_names) - {OFF_TOPIC}

    def languages(self) -> frozenset[str]:
        """The languages that have examples in this matcher."""
        return frozenset(self._languages)

    def match(self, text: str, language: str | None = None) -> FaqMatch:
        """Return the best topic for ``text``; never raises, returns topic None when unsure.

        ``language`` is the person's current language; it only breaks ties in
        :attr:`FaqMatch.language`.
        """
        try:
            return self._match(text, language)
        except Exception:  # a matcher bug must not take a conversation down
            log.exception("FAQ matching failed")
            return NO_MATCH

    def _match(self, text: str, language: str | None) -> FaqMatch:
        if not isinstance(text, str) or not self._topic_names:
            return NO_MATCH
        query = self._query_weights(text[:MAX_CHARS])
        if not query:
            return NO_MATCH
        scores = self._topic_scores(query)
        ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
        margin = scores[ranked[0]] - sum(scores) / len(scores)
        score = self._calibrate(margin / math.sqrt(sum(query.values())))
        best = self._topic_names[ranked[0]]
        if best == OFF_TOPIC:
            # Confidently off-topic means no confidence in any FAQ answer.
            topic, score = None, 1.0 - score
        else:
            topic = best if score >= self._params.threshold else None
        return FaqMatch(
            topic=topic,
            score=score,
            suggestions=self._suggestions(ranked, topic),
            language=self._best_language(query, language),
        )

    def _query_weights(self, text: str) -> dict[str, float]:
        """Sublinear TF-IDF weights of the query's known features."""
        weights = self._weights
        return {
            term: (1.0 + math.log(count)) * weights[term]
            for term, count in features(text).items()
            if term in weights
        }

    def _topic_scores(self, query: dict[str, float]) -> list[float]:
        """Naive Bayes log-likelihood of the query under each topic (up to a shared constant).

        A feature's gain over an unseen one is log((smoothing + mass) / smoothing).
        """
        total = sum(query.values())
        inverse = 1.0 / self._params.smoothing
        log1p = math.log1p
        scores = []
        for mass, norm in zip(self._masses, self._log_norm, strict=True):
            get = mass.get
            score = -total * norm
            for term, weight in query.items():
                seen = get(term)
                if seen is not None:
                    score += weight * log1p(seen * inverse)
            scores.append(score)
        return scores

    def _calibrate(self, margin: float) -> float:
        """Map the normalised margin to [0, 1] with a logistic curve centred on the threshold."""
        p = self._params
        z = (margin - p.margin_mid) / p.margin_scale
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def _suggestions(self, ranked: list[int], topic: str | None) -> tuple[str, ...]:
        """Up to N next-best FAQ topics, never small talk nor the chosen topic."""
        names = (self._topic_names[i] for i in ranked)
        picked = [t for t in names if t not in SMALL_TALK and t != OFF_TOPIC and t != topic]
        return tuple(picked[: self._params.max_suggestions])

    def _best_language(self, query: dict[str, float], hint: str | None) -> str | None:
        """The language whose examples share the most (idf-weighted) features with the query."""
        best_lang: str | None = None
        best = 0.0
        weight = query.__getitem__
        for lang, terms in zip(self._languages, self._lang_terms, strict=True):
            # fsum is exact, so the (hash-dependent) order of the set does not matter for ties.
            total = math.fsum(map(weight, terms.intersection(query)))
            if total > best or (total == best and total > 0.0 and lang == hint):
                best_lang, best = lang, total
        return best_lang


def load_examples(
    examples_dir: Path | None = None, languages: Iterable[str] | None = None
) -> dict[str, list[tuple[str, str]]]:
    """Read ``<lang>.jsonl`` files into language -> [(topic, question)], skipping bad lines."""
    folder = examples_dir or EXAMPLES_DIR
    wanted = set(languages) if languages is not None else None
    examples: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        if wanted is None or path.stem in wanted:
            examples[path.stem] = _read_jsonl(path)
    return examples


def _read_jsonl(path: Path) -> list[tuple[str, str]]:
    """Parse one example file; malformed lines are logged and skipped, not fatal."""
    items: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                topic, question = row["topic"], row["q"]
            except (ValueError, KeyError, TypeError):
                log.warning("Skipping malformed FAQ example %s:%d", path.name, number)
                continue
            if isinstance(topic, str) and isinstance(question, str):
                items.append((topic, question))
    return items


def _term_weights(counts: list[Counter[str]], p: MatchParams) -> dict[str, float]:
    """Smoothed IDF times the weight of the feature's kind, for every known feature."""
    # Iterating a Counter yields its keys, so this counts documents per feature in C.
    df: Counter[str] = Counter(chain.from_iterable(counts))
    n = len(counts) + 1
    # A few hundred distinct document frequencies: one log each, not one per feature.
    idf = {freq: math.log(n / (freq + 1)) + 1.0 for freq in set(df.values())}
    kinds = {STEM: p.stem_weight, BIGRAM: p.bigram_weight}  # char n-grams have no prefix
    gram = p.gram_weight
    return {term: idf[freq] * kinds.get(term[0], gram) for term, freq in df.items()}


def _topic_masses(
    counts: list[Counter[str]], topics: list[int], n_topics: int, weights: dict[str, float]
) -> list[dict[str, float]]:
    """Per topic, the summed idf-weighted sublinear term frequencies of its examples, each
    example scaled to unit feature count so long examples do not outweigh short ones."""
    masses: list[dict[str, float]] = [{} for _ in range(n_topics)]
    log = math.log
    for doc, topic in zip(counts, topics, strict=True):
        scale = 1.0 / (len(doc) or 1)
        mass = masses[topic]
        get = mass.get
        for term, count in doc.items():
            mass[term] = get(term, 0.0) + (scale if count == 1 else (1.0 + log(count)) * scale)
    return [{term: tf * weights[term] for term, tf in mass.items()} for mass in masses]


def _language_terms(
    counts: list[Counter[str]], langs: list[str], languages: list[str]
) -> list[frozenset[str]]:
    """The set of features each language's examples use, in ``languages`` order."""
    terms: dict[str, set[str]] = {lang: set() for lang in languages}
    for doc, lang in zip(counts, langs, strict=True):
        terms[lang].update(doc.keys())
    return [frozenset(terms[lang]) for lang in languages]
