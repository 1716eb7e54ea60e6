"""The web server's parts without a server: metrics, flood guard, visitors, charts, HTML."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from bots.metrics import MAX_SERIES, Counter, Histogram, Metrics, instrument
from bots.web.charts import bar_chart, nice_step, series, time_chart
from bots.web.flood import FloodGuard
from bots.web.pages import subset_html
from bots.web.visitors import is_preview, preferred_language
from handlers.messages import Incoming, Reply
from tests.conftest import message

# Metrics


def test_histogram_buckets_are_cumulative() -> None:
    histogram = Histogram("h_seconds", "help", ("platform",), buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 5.0):
        histogram.observe(value, platform="telegram")
    lines = list(histogram.samples())
    assert 'h_seconds_bucket{platform="telegram",le="0.1"} 1' in lines
    assert 'h_seconds_bucket{platform="telegram",le="1"} 2' in lines
    assert 'h_seconds_bucket{platform="telegram",le="+Inf"} 3' in lines
    assert 'h_seconds_count{platform="telegram"} 3' in lines
    assert 'h_seconds_sum{platform="telegram"} 5.55' in lines


def test_label_values_that_look_like_data_are_masked() -> None:
    counter = Counter("c_total", "help", ("platform",))
    counter.inc(platform="telegram")
    counter.inc(platform='a "quoted"\nvalue')
    counter.inc(platform="@someone:example.org with space")
    text = "\n".join(counter.samples())
    assert 'c_total{platform="telegram"} 1' in text
    assert 'c_total{platform="other"} 2' in text
    assert "someone" not in text


def test_series_are_bounded() -> None:
    counter = Counter("c_total", "help", ("route",))
    for index in range(MAX_SERIES + 50):
        counter.inc(route=f"/r{index}")
    counter.inc(route="/r0")  # a known series still counts
    assert len(list(counter.samples())) == MAX_SERIES
    assert counter.value(route="/r0") == 2


def test_wrong_labels_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        Metrics().updates.inc(platfrom="telegram")
    with pytest.raises(ValueError):
        Metrics().updates.inc(-1, platform="telegram")


def test_gauge_and_exposition_format() -> None:
    metrics = Metrics()
    metrics.broadcast_pending.set(7)
    metrics.broadcast_pending.dec(2)
    metrics.broadcast_sent.inc(3, platform="matrix")
    text = metrics.render()
    assert "reclaim_broadcast_pending 5\n" in text
    assert 'reclaim_broadcast_sent_total{platform="matrix"} 3\n' in text
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eInf]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line


async def test_instrument_counts_updates_replies_time_and_errors() -> None:
    metrics = Metrics()

    async def answer(msg: Incoming) -> list[Reply]:
        return [Reply("a"), Reply("b")]

    async def fail(msg: Incoming) -> list[Reply]:
        raise ConnectionError("down")

    assert len(await instrument(answer, metrics)(message("hi"))) == 2
    with pytest.raises(ConnectionError):
        await instrument(fail, metrics)(message("hi"))
    assert metrics.updates.value(platform="console") == 2
    assert metrics.replies.value(platform="console") == 2
    assert metrics.errors.value(platform="console", kind="ConnectionError") == 1
    assert metrics.handler_seconds.count(platform="console") == 2


# Flood guard


class FakeTime:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_the_rate() -> None:
    clock = FakeTime()
    guard = FloodGuard(rate=2, burst=3, monotonic=clock)
    assert [guard.take("a") for _ in range(3)] == [0, 0, 0]
    wait = guard.take("a")
    assert wait == pytest.approx(0.5)
    assert guard.retry_after(wait) == 1
    assert guard.take("b") == 0  # another client has its own bucket
    clock.now += 0.5
    assert guard.take("a") == 0
    assert guard.take("a") > 0


def test_memory_is_bounded_and_idle_clients_expire() -> None:
    clock = FakeTime()
    guard = FloodGuard(rate=1, burst=2, max_clients=100, monotonic=clock)
    for index in range(1000):
        guard.take(f"10.0.{index // 256}.{index % 256}")
    assert len(guard) == 100
    clock.now += 10
    guard.take("fresh")
    assert len(guard) == 1


def test_addresses_are_not_kept_in_the_clear() -> None:
    guard = FloodGuard()
    guard.take("203.0.113.5")
    assert all(b"203.0.113.5" not in key for key in guard._buckets)


# Visitors


@pytest.mark.parametrize(("agent", "preview"), [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", False),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0", False),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0 Mobile Safari/537.36", False),
    ("TelegramBot (like TwitterBot)", True),
    ("WhatsApp/2.2407.3 W", True),
    ("", True),
    (None, True),
])
def test_preview_detection(agent: str | None, preview: bool) -> None:
    assert is_preview(agent) is preview


def test_accept_language_is_ranked_by_quality() -> None:
    assert preferred_language("en;q=0.5, de;q=0.8, fr;q=0.7") == "de"
    assert preferred_language("x" * 5000) == "en"
    assert preferred_language(",".join(["zz"] * 100) + ",de") == "en"  # only the first 20


# Charts and HTML


def test_series_fills_gaps_and_switches_to_weeks() -> None:
    points, unit = series({"2026-01-01": 2, "2026-01-20": 3})
    assert unit == "day"
    assert len(points) == 20
    assert sum(point.value for point in points) == 5
    assert points[1].value == 0
    weekly, unit = series({"2025-01-01": 1, "2025-12-31": 4, "bad-key": 9})
    assert unit == "week"
    assert sum(point.value for point in weekly) == 5
    monthly, unit = series({"2020-01-01": 1, "2026-01-01": 1})
    assert unit == "month"
    assert len(monthly) == 73


def test_short_history_is_padded_to_two_weeks() -> None:
    points, unit = series({"2026-01-10": 1})
    assert (unit, len(points), points[-1].value) == ("day", 14, 1)


def test_nice_steps() -> None:
    assert [nice_step(v) for v in (0, 0.3, 1, 1.5, 3, 7, 12, 4500)] == [1, 1, 1, 2, 5, 10, 20, 5000]


def test_charts_escape_labels_and_write_values() -> None:
    chart = bar_chart("x", "Title <b>", [("<script>", 3), ("ok", 1), ("zero", 0)])
    assert "<script>" not in chart and "&lt;script&gt;" in chart
    assert "3 (75%)" in chart and "zero" not in chart
    assert 'role="img"' in chart
    assert "no data yet" in bar_chart("x", "Empty", [])
    assert "no data yet" in time_chart("y", "Empty", {})
    assert "<title>2026-01-02: 4</title>" in time_chart("y", "Days", {"2026-01-02": 4})


def test_subset_html_keeps_only_the_chat_subset() -> None:
    text = ('Hello <b>bold</b> <a href="https://example.org/?a=1&amp;b=2">link</a>\n'
            'line <script>alert(1)</script><a href="javascript:x">bad</a> <img src=x>\n\n'
            "para & more")
    out = subset_html(text)
    assert "<b>bold</b>" in out
    assert '<a href="https://example.org/?a=1&amp;b=2">link</a>' in out
    assert "<script>" not in out and "javascript" not in out and "<img" not in out
    assert "<br>" in out and out.count("<p>") == 2 and "para &amp; more" in out


def test_series_dates_are_real_dates() -> None:
    points, _unit = series({"2024-02-27": 1, "2024-03-02": 1})
    assert dt.date(2024, 2, 29) in [point.start for point in points]
