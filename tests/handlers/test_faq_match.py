"""Tests for the free-text FAQ matcher and the language detector."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from handlers.faq_match import FaqMatch, FaqMatcher, detect_language, tables
from handlers.faq_match.langdetect import EU_LANGUAGES, LanguageDetector
from handlers.faq_match.matcher import SMALL_TALK, load_examples
from handlers.faq_match.text import fold, words

FAQ_TOPICS = {
    "what-is-eci", "initiative-demands", "what-is-bms", "why-ban", "where-used",
    "accuracy-bias", "who-can-sign", "how-to-sign", "data-safety", "living-abroad",
    "thresholds", "what-next", "ai-act", "who-is-behind", "how-to-help", "bot-privacy",
}  # fmt: skip


@pytest.fixture(scope="module")
def matcher() -> FaqMatcher:
    return FaqMatcher.load()


def test_packaged_examples_cover_every_topic_and_small_talk(matcher: FaqMatcher) -> None:
    assert matcher.topics() == FAQ_TOPICS | SMALL_TALK


@pytest.mark.parametrize(
    ("text", "lang", "topic"),
    [
        ("How many signatures does each country have to collect?", "en", "thresholds"),
        ("Wo kann ich die Initiative unterzeichnen?", "de", "how-to-sign"),
        ("Pourquoi faut-il interdire la reconnaissance faciale ?", "fr", "why-ban"),
        ("¿Qué dice la ley de IA sobre el reconocimiento facial?", "es", "ai-act"),
        # no diacritics at all
        ("que datos personales pide el formulario de firma", "es", "data-safety"),
        ("wer darf unterschreiben, muss man eu burger sein", "de", "who-can-sign"),
        # typos
        ("how acurate is facial recogniton", "en", "accuracy-bias"),
        ("qui est derriere cette campagen", "fr", "who-is-behind"),
        # Cyrillic and Greek, and Greek typed in Latin letters ("Greeklish")
        ("Кой може да подпише инициативата?", "bg", "who-can-sign"),
        ("Ποιος μπορεί να υπογράψει την πρωτοβουλία;", "el", "who-can-sign"),
        ("ti einai i viometriki maziki parakolouthisi", "el", "what-is-bms"),
    ],
)
def test_matches_expected_topic(matcher: FaqMatcher, text: str, lang: str, topic: str) -> None:
    result = matcher.match(text, lang)
    assert result.topic == topic
    assert result.score >= 0.5


def test_question_in_another_language_than_the_persons(matcher: FaqMatcher) -> None:
    result = matcher.match("What personal data does the signature form ask for?", language="de")
    assert result.topic == "data-safety"
    assert result.language == "en"


def test_language_of_best_examples_is_reported(matcher: FaqMatcher) -> None:
    assert matcher.match("Wie kann ich der Kampagne helfen?").language == "de"


@pytest.mark.parametrize(
    "text",
    ["best laptop for gaming", "Wie wird das Wetter morgen?", "play some music"],
)
def test_off_topic_gets_no_match(matcher: FaqMatcher, text: str) -> None:
    result = matcher.match(text, "en")
    assert result.topic is None
    assert 0.0 <= result.score < 0.5


@pytest.mark.parametrize(
    ("text", "topic"),
    [("hello", "_greeting"), ("bonjour", "_greeting"), ("Hallo!", "_greeting"),
     ("thank you", "_thanks"), ("merci beaucoup", "_thanks"), ("danke", "_thanks")],
)  # fmt: skip
def test_small_talk_intents(matcher: FaqMatcher, text: str, topic: str) -> None:
    assert matcher.match(text).topic == topic


@pytest.mark.parametrize(
    "text",
    ["", "   ", "?!?", "x" * 100_000, "\x00\x01\x02\xff" * 50, "\ud800\udfff", "🙂" * 30, "1"],
)
def test_garbage_is_safe(matcher: FaqMatcher, text: str) -> None:
    result = matcher.match(text)
    assert isinstance(result, FaqMatch)
    assert result.topic is None
    assert result.score == 0.0 or result.score < 0.5


def test_non_string_input_is_safe(matcher: FaqMatcher) -> None:
    assert matcher.match(None).topic is None  # type: ignore[arg-type]


def test_long_input_is_capped_and_fast(matcher: FaqMatcher) -> None:
    text = "How do I sign? " + "blah " * 20_000
    assert matcher.match(text).topic == "how-to-sign"


@pytest.mark.parametrize(
    "text", ["Where can I sign the initiative?", "Was ist biometrische Überwachung?", "pizza"]
)
def test_suggestions_are_faq_topics_without_the_answer(matcher: FaqMatcher, text: str) -> None:
    result = matcher.match(text)
    assert 0.0 <= result.score <= 1.0
    assert len(result.suggestions) <= 3
    assert result.topic not in result.suggestions
    assert set(result.suggestions) <= FAQ_TOPICS
    assert len(set(result.suggestions)) == len(result.suggestions)


def test_from_examples_and_load_agree_on_a_small_custom_set(tmp_path: Path) -> None:
    examples = {
        "en": [("how-to-sign", "where do I sign"), ("how-to-sign", "signing link"),
               ("thresholds", "how many signatures are needed"),
               ("thresholds", "signature threshold per country")],
        "de": [("how-to-sign", "wo unterschreibe ich"),
               ("thresholds", "wie viele unterschriften braucht man")],
    }  # fmt: skip
    for lang, items in examples.items():
        lines = [json.dumps({"topic": t, "q": q}) for t, q in items] + ["not json", "{}"]
        (tmp_path / f"{lang}.jsonl").write_text("\n".join(lines), encoding="utf-8")
    loaded = FaqMatcher.load(tmp_path)
    built = FaqMatcher.from_examples(examples)
    assert loaded.topics() == built.topics() == {"how-to-sign", "thresholds"}
    # A four-question index gives little evidence, so the answer may stay below the
    # threshold; the ranking (topic, else the first suggestion) must still be right.
    result = built.match("link to sign")
    assert (result.topic or result.suggestions[0]) == "how-to-sign"
    assert FaqMatcher.load(tmp_path, languages=["de"]).languages() == {"de"}


def test_empty_matcher_never_matches() -> None:
    assert FaqMatcher.from_examples({}).match("how do I sign").topic is None


def test_fold_strips_accents_and_greek_tonos() -> None:
    assert fold("Bürger Ça ŁÓDŹ") == "burger ca lodz"
    assert fold("Πρωτοβουλία") == "πρωτοβουλια"
    assert fold("Йордан") == "иордан"


def test_words_spell_cyrillic_and_greek_in_latin_letters() -> None:
    assert words("Кой може да подпише инициативата?") == [
        "koi", "moze", "da", "podpise", "iniciativata",
    ]  # fmt: skip
    assert words("Βιομετρική επιτήρηση, l'ΑΙ Act") == ["biometriki", "epitirisi", "l", "ai", "act"]
    assert words("Ħal-Għargħur ŻEBBUĠ") == ["hal", "gharghur", "zebbug"]


def _bench_script(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import ``bench/<name>.py`` (not a package) as a module for the duration of a test."""
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).resolve().parents[2] / "bench" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_tuning_folds_hold_out_each_example_once(monkeypatch: pytest.MonkeyPatch) -> None:
    faq_tune = _bench_script("faq_tune", monkeypatch)
    examples = {
        "en": [("a", f"en a{i}") for i in range(7)] + [("b", f"en b{i}") for i in range(3)],
        "de": [("a", f"de a{i}") for i in range(7)],
    }
    held_out = []
    for train, test in faq_tune.folds(examples, 5):
        held_out += [q for _, _, q in test]
        kept = {q for items in train.values() for _, q in items}
        assert not kept & {q for _, _, q in test}
        # the same paraphrase slot of a topic is held out in every language
        en_slots = {q[3:] for lang, topic, q in test if lang == "en" and topic == "a"}
        assert en_slots == {q[3:] for lang, _, q in test if lang == "de"}
    assert sorted(held_out) == sorted(q for items in examples.values() for _, q in items)


@pytest.mark.parametrize("part", sorted(tables.TABLE_FILES))
def test_packaged_tables_are_current(part: str) -> None:
    assert tables.read_tables(part) is not None, "run `python -m tools.faq_tables build`"


def test_packaged_tables_equal_a_fresh_build(matcher: FaqMatcher) -> None:
    examples = load_examples()
    assert matcher.tables() == FaqMatcher.from_examples(examples).tables()
    packaged = tables.read_tables("detector")
    assert packaged is not None
    detector = LanguageDetector.from_tables(packaged)
    assert detector.tables() == LanguageDetector.from_examples(examples).tables()
    assert detector.detect("Wer darf die Initiative unterschreiben?", EU_LANGUAGES)[0] == "de"


def test_number_lists_are_packed_exactly() -> None:
    data = {
        "floats": [0.1, -2.5e-300, 1e308, 3.0],
        "ints": [0, 7, -1, 2**31 - 1],
        "mixed": [1, 2.0, "x"],
        "flags": [True, False],
        "nested": [[[1, 2], [0.5]], []],
    }
    packed = tables._pack(data)
    assert set(packed["floats"]) == {"d"} and set(packed["ints"]) == {"i"}
    assert packed["flags"] == [True, False] and packed["mixed"] == [1, 2.0, "x"]
    restored = tables._unpack(json.loads(json.dumps(packed)))
    assert restored == data
    assert [type(x) for x in restored["ints"]] == [int] * 4
    assert [type(x) for x in restored["floats"]] == [float] * 4


def test_stale_tables_are_not_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(tables, "fingerprint", lambda *_: "examples changed since the build")
    with caplog.at_level("WARNING", logger="handlers.faq_match.tables"):
        fresh = FaqMatcher.load()
    assert "stale" in caplog.text
    assert fresh.match("Wer darf unterschreiben?", "de").topic == "who-can-sign"
    (tmp_path / "broken.json.gz").write_bytes(b"not gzip")
    corrupt = {"fingerprint": tables.fingerprint(), "tables": {"weights": {"d": "@@@"}}}
    (tmp_path / "corrupt.json.gz").write_bytes(gzip.compress(json.dumps(corrupt).encode()))
    assert tables.read_tables("matcher", tmp_path / "corrupt.json.gz") is None
    assert tables.read_tables("matcher", tmp_path / "broken.json.gz") is None
    assert tables.read_tables("detector", tmp_path / "missing.json.gz") is None


def _normalised(question: str) -> str:
    return " ".join(fold(question).replace("?", " ").replace("!", " ").replace(".", " ").split())


def test_benchmark_questions_are_not_training_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/faq_bench.py must measure questions the matcher has never seen."""
    eval_dirs = _bench_script("faq_bench", monkeypatch).EVAL_DIRS
    paths = sorted(path for folder in eval_dirs for path in folder.glob("*.jsonl"))
    assert len(paths) == 24 * len(eval_dirs) >= 48  # every held-out set covers 24 languages
    examples = load_examples()
    leaked = []
    for path in paths:
        trained = {_normalised(q) for _, q in examples.get(path.stem, [])}
        for line in path.read_text(encoding="utf-8").splitlines():
            question = json.loads(line)["q"]
            if _normalised(question) in trained:
                leaked.append(f"{path.stem}: {question}")
    assert not leaked, leaked


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Where can I sign the European citizens' initiative?", "en"),
        ("Wer steckt eigentlich hinter dieser Kampagne?", "de"),
        ("Est-ce que je peux encore signer l'initiative ?", "fr"),
        ("¿Cuántas firmas hacen falta en cada país?", "es"),
        ("Ποιος μπορεί να υπογράψει την πρωτοβουλία;", "el"),
        ("Кой може да подпише инициативата?", "bg"),
        ("Hány aláírás kell az európai polgári kezdeményezéshez?", "hu"),
        ("Kto może podpisać tę inicjatywę obywatelską?", "pl"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    detected, confidence = detect_language(text, EU_LANGUAGES)
    assert detected == lang
    assert 0.5 <= confidence <= 1.0


@pytest.mark.parametrize("text", ["ok", "1", "", "??", "👍"])
def test_detect_language_refuses_too_short_text(text: str) -> None:
    assert detect_language(text, EU_LANGUAGES) == (None, 0.0)


def test_detect_language_respects_candidates() -> None:
    assert detect_language("Ποιος μπορεί να υπογράψει;", ["en", "de"])[0] is None
    detected, _ = detect_language("Wo kann ich unterschreiben?", ["de", "en"])
    assert detected == "de"


def test_detector_uses_letter_cues_for_languages_without_profile() -> None:
    examples = load_examples()
    detector = LanguageDetector.from_examples({k: v for k, v in examples.items() if k != "pl"})
    assert "pl" not in detector.languages()
    text = "Kto może podpisać? Czy muszę mieć obywatelstwo, żeby złożyć podpis?"
    assert detector.detect(text, EU_LANGUAGES)[0] == "pl"
