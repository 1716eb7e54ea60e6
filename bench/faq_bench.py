"""Benchmark the free-text FAQ matcher and the language detector on held-out questions.

Reads every ``<lang>.jsonl`` (``{"lang", "topic", "q"}``; ``topic`` null means an off-topic
question that must get no match) of the two held-out sets, ``bench/data/faq_eval`` (set A,
written with the matcher's first examples) and ``bench/data/faq_eval_b`` (set B, written later
by separate writers who saw neither the examples nor set A), and the shared dev set, then prints
per-language top-1 accuracy over both sets and per set (a None answer is a miss), rejection
accuracy on the off-topic items, language-detection accuracy, latency percentiles and start-up
time. The last line is one JSON object with the headline figures ("accuracy" is over both sets;
"accuracy_by_set" has each set's).

    python bench/faq_bench.py [--verbose] [--eval-dir DIR ...] [--dev FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from handlers.faq_match.langdetect import EU_LANGUAGES, LanguageDetector  # noqa: E402
from handlers.faq_match.matcher import FaqMatch, FaqMatcher, load_examples  # noqa: E402
from handlers.faq_match.tables import read_tables  # noqa: E402

EVAL_DIRS = (ROOT / "bench" / "data" / "faq_eval", ROOT / "bench" / "data" / "faq_eval_b")
DEV_FILE = Path("/work/shared/data/faq_dev.jsonl")
STARTUP_RUNS = 3
LATENCY_ROUNDS = 3

#: What the bot does at start-up: the packaged tables when they are current, else a build.
_STARTUP_SNIPPET = (
    "import time; t = time.perf_counter(); "
    "from handlers.faq_match.matcher import FaqMatcher; FaqMatcher.load(); "
    "print(time.perf_counter() - t)"
)
#: Indexing every example from scratch (what a stale or missing tables file costs).
_BUILD_SNIPPET = (
    "import time; t = time.perf_counter(); "
    "from handlers.faq_match.matcher import FaqMatcher, load_examples; "
    "FaqMatcher.from_examples(load_examples()); print(time.perf_counter() - t)"
)


@dataclass(frozen=True)
class Item:
    """One labelled question."""

    lang: str
    topic: str | None
    q: str
    source: str = ""  # the held-out set (folder name) the item comes from


@dataclass(frozen=True)
class Outcome:
    """What the matcher said about one item."""

    item: Item
    match: FaqMatch

    @property
    def correct(self) -> bool:
        """Right topic, or no topic for an off-topic question."""
        return self.match.topic == self.item.topic


def read_items(path: Path, source: str = "") -> list[Item]:
    """Parse one ``{"lang", "topic", "q"}`` JSONL file."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            items.append(Item(lang=row["lang"], topic=row.get("topic"), q=row["q"], source=source))
    return items


def startup_seconds(snippet: str = _STARTUP_SNIPPET) -> float:
    """Median wall time of imports plus loading the matcher, each in a fresh interpreter."""
    times = []
    for _ in range(STARTUP_RUNS):
        out = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def run_matcher(
    matcher: FaqMatcher, items: list[Item]
) -> tuple[list[Outcome], list[float], list[float]]:
    """Match every item (the person's language = the item's language); time each call in
    wall-clock and in thread CPU milliseconds (the latter ignores preemption on a busy box)."""
    latencies: list[float] = []
    cpu: list[float] = []
    outcomes: list[Outcome] = []
    for round_ in range(LATENCY_ROUNDS):
        for item in items:
            start, start_cpu = time.perf_counter(), time.thread_time()
            match = matcher.match(item.q, item.lang)
            latencies.append((time.perf_counter() - start) * 1000.0)
            cpu.append((time.thread_time() - start_cpu) * 1000.0)
            if round_ == 0:
                outcomes.append(Outcome(item, match))
    return outcomes, latencies, cpu


def accuracy_by_language(outcomes: list[Outcome]) -> dict[str, float]:
    """Top-1 accuracy per language over on-topic items (None is a miss)."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for o in outcomes:
        if o.item.topic is not None:
            hits[o.item.lang].append(o.correct)
    return {lang: round(sum(v) / len(v), 4) for lang, v in sorted(hits.items())}


def rejection(outcomes: list[Outcome]) -> float | None:
    """Share of off-topic items that got no match."""
    off = [o.correct for o in outcomes if o.item.topic is None]
    return round(sum(off) / len(off), 4) if off else None


def langdetect_accuracy(
    items: list[Item], detector: LanguageDetector
) -> tuple[float, Counter[str]]:
    """Share of items whose language is detected among all 24; also the misses per language."""
    misses: Counter[str] = Counter()
    for item in items:
        lang, _ = detector.detect(item.q, EU_LANGUAGES)
        if lang != item.lang:
            misses[f"{item.lang}->{lang}"] += 1
    return round(1.0 - sum(misses.values()) / len(items), 4), misses


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest-rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def print_report(
    outcomes: list[Outcome], dev: list[Outcome], verbose: bool
) -> None:
    """Human-readable details: per-language accuracy, confusions and (verbose) every miss."""
    on_topic = [o for o in outcomes if o.item.topic is not None]
    unsure = sum(1 for o in on_topic if o.match.topic is None)
    print(f"eval items: {len(outcomes)} ({len(on_topic)} on-topic), dev items: {len(dev)}")
    print(f"on-topic answered None (below threshold): {unsure}")
    confusions = Counter(
        f"{o.item.topic} -> {o.match.topic}" for o in on_topic if not o.correct
    )
    print("most common confusions:", ", ".join(f"{k} ({v})" for k, v in confusions.most_common(8)))
    if verbose:
        for o in outcomes + dev:
            if not o.correct:
                print(
                    f"  MISS {o.item.lang} want={o.item.topic} got={o.match.topic} "
                    f"score={o.match.score:.2f} sugg={','.join(o.match.suggestions)} | {o.item.q}"
                )


def main() -> None:
    """Run the benchmark and print the report; the last line is the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    parser.add_argument("--eval-dir", type=Path, action="append", dest="eval_dirs",
                        help="a held-out set's folder (repeatable; default: sets A and B)")
    parser.add_argument("--dev", type=Path, default=DEV_FILE)
    args = parser.parse_args()

    startup = startup_seconds()
    build = startup_seconds(_BUILD_SNIPPET)
    tables_current = read_tables("matcher") is not None
    examples = load_examples()
    matcher = FaqMatcher.from_examples(examples)
    eval_dirs: list[Path] = args.eval_dirs or list(EVAL_DIRS)
    items = [
        item
        for folder in eval_dirs
        for path in sorted(folder.glob("*.jsonl"))
        for item in read_items(path, folder.name)
    ]
    dev_items = read_items(args.dev) if args.dev.exists() else []

    outcomes, latencies, cpu = run_matcher(matcher, items)
    dev_outcomes, dev_latencies, dev_cpu = run_matcher(matcher, dev_items)
    latencies += dev_latencies
    cpu += dev_cpu
    accuracy = accuracy_by_language(outcomes)
    by_set = {
        folder.name: accuracy_by_language([o for o in outcomes if o.item.source == folder.name])
        for folder in eval_dirs
    }
    dev_hits = [o.correct for o in dev_outcomes if o.item.topic is not None]
    dev_accuracy = round(sum(dev_hits) / len(dev_hits), 4) if dev_hits else None
    detect_acc, detect_misses = langdetect_accuracy(items, LanguageDetector.from_examples(examples))

    print(f"languages with examples: {' '.join(sorted(matcher.languages()))}")
    print_report(outcomes, dev_outcomes, args.verbose)
    names = list(by_set)
    print(f"top-1 accuracy per language (all held-out sets; then {', '.join(names)}):")
    for lang, acc in accuracy.items():
        flag = "" if acc >= 0.9 else "  < 0.90"
        parts = " ".join(f"{by_set[n].get(lang, float('nan')):.3f}" for n in names)
        print(f"  {lang}: {acc:.3f}{flag}   ({parts})")
    all_on = [o.correct for o in outcomes if o.item.topic is not None]
    if all_on:
        print(f"overall eval top-1: {sum(all_on) / len(all_on):.3f}")
    print(f"dev top-1: {dev_accuracy}")
    print(f"rejection accuracy (off-topic -> None): {rejection(outcomes)}")
    misses = dict(detect_misses.most_common(10))
    print(f"language detection accuracy: {detect_acc}  misses: {misses}")
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(f"latency per question: p50 {p50:.3f} ms, p99 {p99:.3f} ms (n={len(latencies)})")
    print(
        f"  thread CPU time: p50 {percentile(cpu, 0.5):.3f} ms, p99 {percentile(cpu, 0.99):.3f} ms"
        f" (wall p99 includes waiting for a core; {os.getloadavg()[0]:.1f} = 1-min load average)"
    )
    source = "packaged tables" if tables_current else "tables STALE, built from the examples"
    print(f"start-up (fresh process, imports + load, {source}): {startup:.3f} s")
    print(f"building the tables from {sum(map(len, examples.values()))} examples: {build:.3f} s")
    summary = {
        "accuracy": accuracy,
        "accuracy_by_set": by_set,
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "startup_s": round(startup, 3),
        "build_s": round(build, 3),
        "rejection": rejection(outcomes),
        "dev_accuracy": dev_accuracy,
        "langdetect_accuracy": detect_acc,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
