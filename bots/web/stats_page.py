"""The campaign team's figures page: bearer-token check and the HTML with inline SVG charts.

The page is for operators, so it is written in English (like ``reclaim-bot stats``), and it
shows only the anonymous aggregates of :class:`handlers.ports.Stats`.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping

from babel import Locale

from bots.web.charts import bar_chart, number, time_chart
from bots.web.pages import BASE_CSS, document
from handlers.html import esc
from handlers.ports import Stats

STATS_CSS = BASE_CSS + """
main.wide{max-width:74rem;padding:1.5rem 2rem}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:1rem;
margin:1rem 0}
.card{border:1px solid var(--line);border-radius:10px;padding:.75rem 1rem}
.card .big{display:block;font-size:2rem;font-weight:700;line-height:1.2}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(30rem,1fr));gap:0 2rem}
figure{margin:0}
figcaption{color:var(--muted);font-size:.85rem}
svg.chart{display:block;width:100%;height:auto;max-width:100%}
svg.chart text{fill:var(--fg);font-size:13px;font-family:inherit}
svg.chart text.tick{fill:var(--muted);font-size:12px}
svg.chart text.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
svg.chart .gridline{stroke:var(--line);stroke-width:1}
svg.chart .axis{stroke:var(--muted);stroke-width:1}
.series-a{fill:#6d28d9}.series-b{fill:#0f766e}.series-c{fill:#b45309}.series-d{fill:#1d4ed8}
details{margin:.25rem 0 1rem;font-size:.9rem}
table{border-collapse:collapse;margin:.5rem 0}
td,th{border-bottom:1px solid var(--line);padding:.15rem .75rem;text-align:right}
.empty{color:var(--muted);font-style:italic}
"""


def token_matches(authorization: str | None, token: str) -> bool:
    """Tell whether an Authorization header carries the bearer token (constant time)."""
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    # Compare as bytes: compare_digest refuses non-ASCII str, and a bearer may be anything.
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _english_language(code: str) -> str:
    name = Locale.parse("en").languages.get(code)
    return f"{name} ({code})" if name else code


def _english_country(code: str) -> str:
    territory = {"EL": "GR", "UK": "GB"}.get(code.upper(), code.upper())
    name = Locale.parse("en").territories.get(territory)
    return f"{name} ({code.upper()})" if name else code


def _ranked(values: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(values.items(), key=lambda item: (-item[1], item[0]))


def _card(value: int, label: str) -> str:
    return f'<div class="card"><span class="big">{number(value)}</span>{esc(label)}</div>'


def _section(heading: str, chart: str) -> str:
    return f"<section><h2>{esc(heading)}</h2>{chart}</section>"


def stats_page(s: Stats, campaign_name: str, now: dt.datetime) -> str:
    """Return the figures page: totals, two time series and six bar charts."""
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    languages = [(_english_language(k), v) for k, v in _ranked(s.sign_clicks_by_language)]
    countries = [(_english_country(k), v) for k, v in _ranked(s.sign_clicks_by_country)]
    sub_languages = [(_english_language(k), v) for k, v in _ranked(s.subscribers_by_language)]
    sections = [
        _section("Arrivals through shared links over time",
                 time_chart("arrivals-time", "Arrivals", s.arrivals_by_day)),
        _section("Clicks on signing links over time",
                 time_chart("clicks-time", "Sign-link clicks", s.sign_clicks_by_day,
                            css_class="series-b")),
    ]
    grid = [
        _section("Arrivals by platform", bar_chart(
            "arrivals-platform", "Arrivals by platform", _ranked(s.arrivals_by_platform))),
        _section("Top referral codes (anonymous)", bar_chart(
            "top-codes", "Arrivals per referral code", s.top_codes, mono=True,
            total=s.arrivals_total)),
        _section("Sign-link clicks by language", bar_chart(
            "clicks-language", "Sign-link clicks by language", languages,
            css_class="series-b")),
        _section("Sign-link clicks by country", bar_chart(
            "clicks-country", "Sign-link clicks by country", countries, css_class="series-b")),
        _section("Subscribers by platform", bar_chart(
            "subs-platform", "Subscribers by platform", _ranked(s.subscribers_by_platform),
            css_class="series-c")),
        _section("Subscribers by language", bar_chart(
            "subs-language", "Subscribers by language", sub_languages, css_class="series-c")),
    ]
    body = (
        f'<main class="wide">\n<h1>Anonymous figures: {esc(campaign_name)}</h1>\n'
        f'<p class="muted">As of {esc(stamp)}. Only aggregate counts are kept: nothing here '
        "can be traced back to a person.</p>\n"
        '<div class="cards">'
        + _card(s.arrivals_total, "arrivals through shared links")
        + _card(s.sign_clicks_total, "clicks on signing links")
        + _card(s.subscribers, "subscribers to updates")
        + "</div>\n" + "\n".join(sections)
        + '\n<div class="grid">\n' + "\n".join(grid) + "\n</div>\n"
        '<p class="muted">The same figures as JSON: <code>/stats.json</code> '
        "(same token).</p>\n</main>"
    )
    return document("en", f"Figures – {campaign_name}", body, css=STATS_CSS)
