"""A tiny dependency-free Prometheus registry: counters, gauges and histograms with labels.

The composition root creates one :class:`Metrics` and hands it to the adapters and the web
server; nothing lives at module level. Label values are platform names, route templates,
status codes and error kinds only: never an id, a code or a text. As a second line of defence
every label value is checked against a narrow pattern and each metric keeps a bounded number of
series, so a mistake can neither leak data nor grow memory without limit.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence

from handlers.messages import Incoming, Reply

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_SERIES = 200  # per metric; far above what platforms x routes x statuses produce
HANDLER_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SAFE_LABEL = re.compile(r"^[A-Za-z0-9_.:/{}-]{1,64}$")
OTHER = "other"

Handle = Callable[[Incoming], Awaitable[list[Reply]]]
LabelKey = tuple[str, ...]


def _safe(value: object) -> str:
    """Return the label value when it has the expected shape, else ``other``."""
    text = str(value)
    return text if _SAFE_LABEL.match(text) else OTHER


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    """Shared label handling: validation, bounded series, the HELP/TYPE header."""

    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self._overflowed = False

    def _key(self, labels: dict[str, object], known: bool) -> LabelKey | None:
        """Return the series key for label values, or None when the series budget is spent."""
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        key = tuple(_safe(labels[name]) for name in self.label_names)
        if known or self._series_count() < MAX_SERIES:
            return key
        if not self._overflowed:
            self._overflowed = True
            log.warning("metric %s reached %d series; new label values are dropped",
                        self.name, MAX_SERIES)
        return None

    def _series_count(self) -> int:
        raise NotImplementedError

    def header(self) -> list[str]:
        """Return the HELP and TYPE lines."""
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> Iterator[str]:
        """Yield the sample lines."""
        raise NotImplementedError


class Counter(_Metric):
    """A value that only goes up."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelKey, float] = {} if labels else {(): 0.0}

    def _series_count(self) -> int:
        return len(self._values)

    def inc(self, amount: float = 1.0, **labels: object) -> None:
        """Add ``amount`` (not negative) to the series named by the labels."""
        if amount < 0:
            raise ValueError("a counter cannot go down")
        probe = tuple(_safe(labels.get(name, "")) for name in self.label_names)
        key = self._key(labels, probe in self._values)
        if key is not None:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: object) -> float:
        """Return one series' value (0 when never touched)."""
        return self._values.get(tuple(_safe(labels[n]) for n in self.label_names), 0.0)

    def samples(self) -> Iterator[str]:
        """Yield one line per series."""
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


class Gauge(Counter):
    """A value that goes up and down."""

    kind = "gauge"

    def set(self, value: float, **labels: object) -> None:
        """Set the series named by the labels."""
        probe = tuple(_safe(labels.get(name, "")) for name in self.label_names)
        key = self._key(labels, probe in self._values)
        if key is not None:
            self._values[key] = float(value)

    def dec(self, amount: float = 1.0, **labels: object) -> None:
        """Subtract ``amount`` from the series named by the labels."""
        self.set(self.value(**labels) - amount, **labels)

    def inc(self, amount: float = 1.0, **labels: object) -> None:
        """Add ``amount`` (may be negative) to the series named by the labels."""
        self.set(self.value(**labels) + amount, **labels)


class Histogram(_Metric):
    """Observations counted into fixed cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = (),
                 buckets: Sequence[float] = HANDLER_BUCKETS) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[LabelKey, list[float]] = {}  # bucket counts..., sum, count

    def _series_count(self) -> int:
        return len(self._series)

    def observe(self, value: float, **labels: object) -> None:
        """Record one observation."""
        probe = tuple(_safe(labels.get(name, "")) for name in self.label_names)
        key = self._key(labels, probe in self._series)
        if key is None:
            return
        series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                series[index] += 1
        series[-2] += value
        series[-1] += 1

    def count(self, **labels: object) -> int:
        """Return how many observations a series holds."""
        series = self._series.get(tuple(_safe(labels[n]) for n in self.label_names))
        return int(series[-1]) if series else 0

    def samples(self) -> Iterator[str]:
        """Yield the bucket, sum and count lines of every series."""
        for key, series in sorted(self._series.items()):
            for bound, hits in zip((*self.buckets, math.inf), (*series[:-2], series[-1]),
                                   strict=True):
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(self.label_names, key, le)} {_number(hits)}"
            yield f"{self.name}_sum{_labels(self.label_names, key)} {_number(series[-2])}"
            yield f"{self.name}_count{_labels(self.label_names, key)} {_number(series[-1])}"


class Metrics:
    """Every metric the bot exposes, created once by the composition root."""

    def __init__(self) -> None:
        self.updates = Counter("reclaim_updates_total", "Messages handled by the core.",
                               ("platform",))
        self.replies = Counter("reclaim_replies_total", "Replies the core produced.",
                               ("platform",))
        self.errors = Counter("reclaim_errors_total", "Failures, by platform and kind.",
                              ("platform", "kind"))
        self.handler_seconds = Histogram("reclaim_handler_seconds",
                                         "Time the core took per message.", ("platform",))
        self.web_requests = Counter("reclaim_web_requests_total",
                                    "HTTP requests by route template and status.",
                                    ("route", "status"))
        self.broadcast_sent = Counter("reclaim_broadcast_sent_total",
                                      "Broadcast messages delivered.", ("platform",))
        self.broadcast_failed = Counter("reclaim_broadcast_failed_total",
                                        "Broadcast messages that could not be delivered.",
                                        ("platform",))
        self.broadcast_pending = Gauge("reclaim_broadcast_pending",
                                       "Broadcast messages waiting to be sent.")

    def all(self) -> tuple[_Metric, ...]:
        """Return the metrics in exposition order."""
        return (self.updates, self.replies, self.errors, self.handler_seconds,
                self.web_requests, self.broadcast_sent, self.broadcast_failed,
                self.broadcast_pending)

    def error(self, platform: str, kind: str) -> None:
        """Count one failure (``kind`` is a short fixed word such as ``send`` or ``handler``)."""
        self.errors.inc(platform=platform, kind=kind)

    def render(self) -> str:
        """Return the Prometheus text exposition of every metric."""
        lines: list[str] = []
        for metric in self.all():
            lines += metric.header()
            lines += metric.samples()
        return "\n".join(lines) + "\n"


def instrument(handle: Handle, metrics: Metrics) -> Handle:
    """Wrap ``Core.handle`` so each message counts updates, replies, errors and time."""

    async def instrumented(msg: Incoming) -> list[Reply]:
        platform = msg.platform
        metrics.updates.inc(platform=platform)
        started = time.perf_counter()
        try:
            replies = await handle(msg)
        except Exception as exc:
            metrics.error(platform, type(exc).__name__)
            raise
        finally:
            metrics.handler_seconds.observe(time.perf_counter() - started, platform=platform)
        metrics.replies.inc(len(replies), platform=platform)
        return replies

    return instrumented
