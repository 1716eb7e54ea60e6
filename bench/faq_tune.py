"""Tune the FAQ matcher by cross-validation on its own example files (never on the eval set).

Folds hold out the same paraphrase slot (the k-th example of a topic) in every language at
once: the example files are mostly translations written in the same order, so a held-out
question's translations are mostly held out with it and cannot leak its answer. Each fold
trains on the rest and answers the held-out questions with the person's language set to the
file's; the shared dev set (/work/shared/data/faq_dev.jsonl) is answered by a matcher built
from all examples. A None answer to an on-topic question is a miss; held-out ``_offtopic``
examples must get None. Absolute numbers are pessimistic next to bench/faq_bench.py (held-out
slots take their translations along, and off-topic examples are deliberately varied), but
the ranking of variants agreed with it whenever the difference was larger than the noise.

    python bench/faq_tune.py                               # defaults, with a report
    python bench/faq_tune.py --set gram_weight=0.5 --set smoothing=0.03
    python bench/faq_tune.py --grid gram_weight=0.3,0.5,0.7 --grid bigram_weight=0.6,1
    python bench/faq_tune.py --margins                     # threshold trade-off table
    python bench/faq_tune.py --misses sv                   # held-out examples it got wrong

The misses are training examples (never eval questions): they show example writers which
phrasings a topic lacks in a language.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from handlers.faq_match.matcher import (  # noqa: E402
    OFF_TOPIC,
    SMALL_TALK,
    FaqMatcher,
    MatchParams,
    load_examples,
)

DEV_FILE = Path("/work/shared/data/faq_dev.jsonl")
FOLDS = 5

Examples = Mapping[str, Sequence[tuple[str, str]]]
Fold = tuple[dict[str, list[tuple[str, str]]], list[tuple[str, str, str]]]


@dataclass(frozen=True)
class Case:
    """One held-out question and what the matcher said."""

    lang: str
    topic: str  # a FAQ topic, a small-talk intent or OFF_TOPIC
    question: str
    got: str | None
    margin: float  # normalised margin of the best topic (see FaqMatcher._match)
    best: str | None  # the best-scoring intent before the threshold


@dataclass(frozen=True)
class Summary:
    """Headline figures of one cross-validation run."""

    per_language: dict[str, float]
    mean: float
    worst: float
    rejection: float
    small_talk: float
    dev: float | None

    def line(self) -> str:
        """One line for sweeps."""
        dev = "-" if self.dev is None else f"{self.dev:.3f}"
        return (
            f"cv mean {self.mean:.4f} min {self.worst:.3f}"
            f" off-topic rejected {self.rejection:.3f} small talk {self.small_talk:.3f} dev {dev}"
        )


def folds(examples: Examples, k: int = FOLDS) -> Iterator[Fold]:
    """Yield (training examples, held-out [(lang, topic, question)]) for each of ``k`` folds."""
    for fold in range(k):
        train: dict[str, list[tuple[str, str]]] = {}
        test: list[tuple[str, str, str]] = []
        for lang, items in examples.items():
            slots: Counter[str] = Counter()
            kept = []
            for topic, question in items:
                if slots[topic] % k == fold:
                    test.append((lang, topic, question))
                else:
                    kept.append((topic, question))
                slots[topic] += 1
            train[lang] = kept
        yield train, test


def answer(matcher: FaqMatcher, lang: str, topic: str, question: str) -> Case:
    """Match one question and keep what the threshold study needs."""
    result = matcher.match(question, lang)
    query = matcher._query_weights(question)
    if not query:
        return Case(lang, topic, question, result.topic, -math.inf, None)
    scores = matcher._topic_scores(query)
    best = max(range(len(scores)), key=scores.__getitem__)
    margin = (scores[best] - sum(scores) / len(scores)) / math.sqrt(sum(query.values()))
    return Case(lang, topic, question, result.topic, margin, matcher._topic_names[best])


def cross_validate(examples: Examples, params: MatchParams) -> list[Case]:
    """Answer every held-out question of every fold."""
    cases: list[Case] = []
    for train, test in folds(examples):
        matcher = FaqMatcher(train, params)
        cases += [answer(matcher, lang, topic, q) for lang, topic, q in test]
    return cases


def read_dev(path: Path) -> list[tuple[str, str, str]]:
    """The shared dev set as [(lang, topic, question)] (empty if the file is absent)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [(r["lang"], r["topic"], r["q"]) for r in rows if r.get("topic")]


def summarise(cases: list[Case], dev: list[Case]) -> Summary:
    """Per-language top-1 accuracy on FAQ topics, off-topic rejection, small talk, dev."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for case in cases:
        if not case.topic.startswith("_"):
            hits[case.lang].append(case.got == case.topic)
    per_language = {lang: sum(v) / len(v) for lang, v in sorted(hits.items())}
    on_topic = [x for v in hits.values() for x in v]
    off = [c.got is None for c in cases if c.topic == OFF_TOPIC]
    small = [c.got == c.topic for c in cases if c.topic in SMALL_TALK]
    dev_hits = [c.got == c.topic for c in dev]
    return Summary(
        per_language=per_language,
        mean=sum(on_topic) / max(1, len(on_topic)),
        worst=min(per_language.values(), default=0.0),
        rejection=sum(off) / max(1, len(off)),
        small_talk=sum(small) / max(1, len(small)),
        dev=sum(dev_hits) / len(dev_hits) if dev_hits else None,
    )


def run(
    examples: Examples, params: MatchParams, dev_rows: list[tuple[str, str, str]]
) -> tuple[list[Case], Summary]:
    """Cross-validate ``params`` and answer the dev set with a matcher built on all examples."""
    cases = cross_validate(examples, params)
    full = FaqMatcher(examples, params)
    dev = [answer(full, lang, topic, q) for lang, topic, q in dev_rows]
    return cases, summarise(cases, dev)


def report(cases: list[Case], summary: Summary) -> None:
    """Where the matcher is weak: per language, per topic, and the commonest confusions."""
    print("per language:", " ".join(f"{k} {v:.2f}" for k, v in summary.per_language.items()))
    by_topic: dict[str, list[bool]] = defaultdict(list)
    for case in cases:
        if not case.topic.startswith("_"):
            by_topic[case.topic].append(case.got == case.topic)
    ranked = sorted(by_topic.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))
    print("per topic:", ", ".join(f"{t} {sum(v) / len(v):.2f}" for t, v in ranked))
    confusions = Counter(
        f"{c.topic} -> {c.got}" for c in cases if not c.topic.startswith("_") and c.got != c.topic
    )
    print("confusions:", ", ".join(f"{k} ({n})" for k, n in confusions.most_common(10)))


def margins(cases: list[Case]) -> None:
    """Accuracy kept and off-topic rejected for a range of normalised-margin thresholds."""
    on = [c for c in cases if not c.topic.startswith("_")]
    off = [c for c in cases if c.topic == OFF_TOPIC]
    print("threshold  on-topic acc  correct lost  off-topic rejected")
    for threshold in (4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0):
        right = [c.best == c.topic for c in on]
        kept = sum(r and c.margin >= threshold for r, c in zip(right, on, strict=True)) / len(on)
        lost = sum(r and c.margin < threshold for r, c in zip(right, on, strict=True)) / len(on)
        rejected = sum(c.best == OFF_TOPIC or c.margin < threshold for c in off) / max(1, len(off))
        print(f"{threshold:9.1f}  {kept:12.4f}  {lost:12.4f}  {rejected:18.3f}")


def misses(cases: list[Case], lang: str) -> None:
    """Every held-out example of ``lang`` that got the wrong answer, by topic."""
    wrong = [c for c in cases if c.lang == lang and (c.got or OFF_TOPIC) != c.topic]
    for case in sorted(wrong, key=lambda c: (c.topic, c.question)):
        print(f"  {case.topic} -> {case.got}: {case.question}")


def parse_value(text: str) -> float | int:
    """A parameter value from the command line."""
    return int(text) if text.isdigit() else float(text)


def main() -> None:
    """Run one configuration with a report, or a grid of configurations one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...")
    parser.add_argument("--margins", action="store_true", help="print the threshold trade-off")
    parser.add_argument("--misses", metavar="LANG", help="list held-out examples answered wrong")
    parser.add_argument("--dev", type=Path, default=DEV_FILE)
    args = parser.parse_args()

    fields = {f.name for f in dataclasses.fields(MatchParams)}
    base: dict[str, float | int] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in fields:
            parser.error(f"unknown parameter {name!r}; known: {', '.join(sorted(fields))}")
        base[name] = parse_value(value)
    grid: dict[str, list[float | int]] = {}
    for item in args.grid:
        name, _, values = item.partition("=")
        if name not in fields:
            parser.error(f"unknown parameter {name!r}; known: {', '.join(sorted(fields))}")
        grid[name] = [parse_value(v) for v in values.split(",")]

    examples = load_examples()
    dev_rows = read_dev(args.dev)
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    for combo in combos:
        params = MatchParams(**{**base, **combo})  # type: ignore[arg-type]
        start = time.perf_counter()
        cases, summary = run(examples, params, dev_rows)
        label = " ".join(f"{k}={v}" for k, v in {**base, **combo}.items()) or "defaults"
        print(f"{label}: {summary.line()} ({time.perf_counter() - start:.1f} s)", flush=True)
        if len(combos) == 1:
            report(cases, summary)
            if args.margins:
                margins(cases)
            if args.misses:
                misses(cases, args.misses)


if __name__ == "__main__":
    main()
