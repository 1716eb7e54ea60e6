"""Charts drawn on the server as inline SVG: columns over time and labelled horizontal bars.

No script and no external asset: each chart is an ``<svg role="img">`` with a title and a
description for screen readers, a tooltip per bar, the values written next to the bars, and
(for time series) the exact figures in a table under a disclosure.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from handlers.html import esc

MAX_POINTS = 92  # more days than this are drawn per week, then per month
MIN_DAYS = 14  # a short history is drawn over two weeks, so one day is not one huge column
MAX_LABEL = 24


@dataclass(frozen=True, slots=True)
class Point:
    """One column: a day, a week or a month, and its total."""

    start: dt.date
    label: str
    value: int


def _days(by_day: Mapping[str, int]) -> dict[dt.date, int]:
    out: dict[dt.date, int] = {}
    for key, value in by_day.items():
        try:
            day = dt.date.fromisoformat(str(key)[:10])
        except ValueError:
            continue
        out[day] = out.get(day, 0) + int(value)
    return out


def _week(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next(start: dt.date, unit: str) -> dt.date:
    if unit == "day":
        return start + dt.timedelta(days=1)
    if unit == "week":
        return start + dt.timedelta(days=7)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def series(by_day: Mapping[str, int], *, max_points: int = MAX_POINTS,
           min_days: int = MIN_DAYS) -> tuple[list[Point], str]:
    """Return the columns for daily figures (gaps filled with zeros) and their unit."""
    days = _days(by_day)
    if not days:
        return [], "day"
    last = max(days)
    first = min(min(days), last - dt.timedelta(days=min_days - 1))
    span = (last - first).days + 1
    bucket: Callable[[dt.date], dt.date]
    if span <= max_points:
        unit, bucket = "day", (lambda day: day)
    elif span <= max_points * 7:
        unit, bucket = "week", _week
    else:
        unit, bucket = "month", _month
    totals: dict[dt.date, int] = {}
    for day, value in days.items():
        totals[bucket(day)] = totals.get(bucket(day), 0) + value
    points, start = [], bucket(first)
    while start <= last:
        points.append(Point(start, _point_label(start, unit), totals.get(start, 0)))
        start = _next(start, unit)
    return points, unit


def _point_label(start: dt.date, unit: str) -> str:
    if unit == "month":
        return start.strftime("%Y-%m")
    if unit == "week":
        return f"week of {start.isoformat()}"
    return start.isoformat()


def nice_step(value: float) -> int:
    """Return the smallest of 1, 2, 5 x 10^k that is at least ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * power >= value:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def number(value: int) -> str:
    """Format a count with thousands separators."""
    return f"{value:,}"


def _svg_open(chart_id: str, width: int, height: int, title: str, desc: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
            f'xmlns="http://www.w3.org/2000/svg">'
            f'<title id="{chart_id}-t">{esc(title)}</title>'
            f'<desc id="{chart_id}-d">{esc(desc)}</desc>')


def time_chart(chart_id: str, title: str, by_day: Mapping[str, int], *,
               css_class: str = "series-a") -> str:
    """Return a column chart of daily figures with a table of the exact values."""
    points, unit = series(by_day)
    if not points:
        return f'<p class="empty">{esc(title)}: no data yet.</p>'
    total = sum(point.value for point in points)
    peak = max(points, key=lambda point: point.value)
    desc = (f"{number(total)} in total from {points[0].start.isoformat()} to "
            f"{points[-1].label.removeprefix('week of ')}, one column per {unit}; "
            f"highest: {number(peak.value)} ({peak.label}).")
    width, height, left, right, top, bottom = 1000, 260, 56, 16, 14, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    step = nice_step(peak.value / 4)
    ceiling = max(step, step * math.ceil(peak.value / step))
    parts = [_svg_open(chart_id, width, height, title, desc)]
    for tick in range(0, ceiling + 1, step):
        y = top + plot_h - plot_h * tick / ceiling
        parts.append(f'<line class="gridline" x1="{left}" x2="{width - right}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="tick" x="{left - 8}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{number(tick)}</text>')
    slot = plot_w / len(points)
    bar_w = max(1.0, slot * 0.78)
    for index, point in enumerate(points):
        if point.value <= 0:
            continue
        bar_h = max(1.0, plot_h * point.value / ceiling)
        x = left + index * slot + (slot - bar_w) / 2
        parts.append(f'<rect class="{css_class}" x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" '
                     f'width="{bar_w:.1f}" height="{bar_h:.1f}"><title>{esc(point.label)}: '
                     f"{number(point.value)}</title></rect>")
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"/>')
    parts += _x_labels(points, left, slot, top + plot_h + 20, width - right)
    parts.append("</svg>")
    return (f'<figure>{"".join(parts)}<figcaption>{esc(desc)}</figcaption></figure>'
            + _day_table(title, by_day))


def _x_labels(points: Sequence[Point], left: float, slot: float, y: float,
              right_edge: float) -> list[str]:
    count = min(len(points), 6)
    indexes = sorted({round(i * (len(points) - 1) / max(1, count - 1)) for i in range(count)})
    out = []
    for index in indexes:
        x = left + (index + 0.5) * slot
        anchor = "start" if index == 0 else "end" if index == len(points) - 1 else "middle"
        x = left if anchor == "start" else right_edge if anchor == "end" else x
        text = points[index].label.removeprefix("week of ")
        out.append(f'<text class="tick" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">'
                   f"{esc(text)}</text>")
    return out


def _day_table(title: str, by_day: Mapping[str, int]) -> str:
    rows = "".join(f"<tr><td>{esc(day.isoformat())}</td><td>{number(value)}</td></tr>"
                   for day, value in sorted(_days(by_day).items(), reverse=True) if value)
    return (f"<details><summary>{esc(title)}: the figures per day</summary>"
            f'<table><thead><tr><th scope="col">Day</th><th scope="col">Count</th></tr>'
            f"</thead><tbody>{rows}</tbody></table></details>")


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def bar_chart(chart_id: str, title: str, rows: Sequence[tuple[str, int]], *,
              css_class: str = "series-a", mono: bool = False, total: int | None = None) -> str:
    """Return a horizontal bar chart with each label, value and share of ``total`` written out.

    ``total`` defaults to the sum of the rows; pass the overall figure when the rows are only
    the top few, so the shares stay honest.
    """
    rows = [(label, value) for label, value in rows if value > 0]
    if not rows:
        return f'<p class="empty">{esc(title)}: no data yet.</p>'
    total = total or sum(value for _label, value in rows)
    desc = "; ".join(f"{label}: {number(value)}" for label, value in rows)
    width, label_w, value_w, row_h, bar_h, top = 560, 190, 110, 28, 18, 6
    height = top * 2 + row_h * len(rows)
    scale = (width - label_w - value_w) / max(value for _label, value in rows)
    parts = [_svg_open(chart_id, width, height, title, desc)]
    label_class = "label mono" if mono else "label"
    for index, (label, value) in enumerate(rows):
        y = top + index * row_h
        bar_len = max(2.0, value * scale)
        share = f" ({value / total:.0%})" if total > value else ""
        parts.append(
            f"<g><title>{esc(label)}: {number(value)}</title>"
            f'<text class="{label_class}" x="{label_w - 10}" y="{y + row_h / 2 + 5:.1f}" '
            f'text-anchor="end">{esc(_short(label))}</text>'
            f'<rect class="{css_class}" x="{label_w}" y="{y + (row_h - bar_h) / 2:.1f}" '
            f'width="{bar_len:.1f}" height="{bar_h}" rx="3"/>'
            f'<text class="value" x="{label_w + bar_len + 8:.1f}" y="{y + row_h / 2 + 5:.1f}">'
            f"{number(value)}{share}</text></g>"
        )
    parts.append("</svg>")
    return f"<figure>{''.join(parts)}</figure>"
