"""The server itself: stats pages, metrics, flood limit, errors, headers, plug-in routes."""

from __future__ import annotations

import dataclasses
import json
import logging

import aiohttp
import pytest
from aiohttp import web

from bots.cli import stats_json
from bots.metrics import Metrics
from bots.web.flood import FloodGuard
from bots.web.server import WebServer
from handlers.context import Deps
from handlers.router import Core
from tests.bots.web.conftest import BROWSER, STATS_TOKEN, WebClient, seed

METRIC_NAMES = (
    "reclaim_updates_total", "reclaim_replies_total", "reclaim_errors_total",
    "reclaim_handler_seconds", "reclaim_web_requests_total", "reclaim_broadcast_sent_total",
    "reclaim_broadcast_failed_total", "reclaim_broadcast_pending",
)
BEARER = {"Authorization": f"Bearer {STATS_TOKEN}"}


# /stats and /stats.json

@pytest.mark.parametrize("path", ["/stats", "/stats.json"])
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {STATS_TOKEN}",
                                    "Bearer", f"Bearer {STATS_TOKEN}x", "Bearer ünïcode"])
async def test_stats_refuses_missing_or_wrong_token(client: WebClient, path: str,
                                                    header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    answer = await client.fetch(path, headers=headers)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "svg" not in answer.text


async def test_stats_page_draws_the_figures(client: WebClient, deps: Deps) -> None:
    codes = await seed(deps)
    answer = await client.fetch("/stats", headers=BEARER)
    assert answer.status == 200
    page = answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    assert page.count("<svg") == 8
    assert page.count('role="img"') == 8
    for heading in ("Arrivals through shared links over time", "Clicks on signing links over time",
                    "Arrivals by platform", "Top referral codes", "Sign-link clicks by language",
                    "Subscribers by platform"):
        assert heading in page
    stats = await deps.store.stats(top=10)
    top_code, top_count = stats.top_codes[0]
    assert top_code in codes and top_code in page
    assert f"{top_count}" in page
    assert "German (de)" in page and "Germany (DE)" in page
    assert "<script" not in page


async def test_stats_page_with_no_figures_yet(client: WebClient) -> None:
    answer = await client.fetch("/stats", headers={"Authorization": f"bearer  {STATS_TOKEN}"})
    assert answer.status == 200
    assert "no data yet" in answer.text


async def test_stats_json_matches_the_cli(client: WebClient, deps: Deps) -> None:
    await seed(deps)
    answer = await client.fetch("/stats.json", headers=BEARER)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert json.loads(answer.body) == json.loads(json.dumps(stats_json(await deps.store.stats())))


async def test_stats_does_not_exist_without_a_token(client: WebClient, deps: Deps) -> None:
    deps.settings = dataclasses.replace(deps.settings, stats_token=None)
    for path in ("/stats", "/stats.json"):
        answer = await client.fetch(path, headers=BEARER)
        assert answer.status == 404
        assert "WWW-Authenticate" not in answer.headers


# /metrics

async def test_metrics_names_and_no_ids(client: WebClient, deps: Deps, core: Core,
                                        metrics: Metrics) -> None:
    from bots.metrics import instrument
    from tests.conftest import message

    code = deps.keyring.referral_code("telegram", "sharer")
    await client.fetch(f"/r/{code}")
    await client.fetch("/go/de/gr")
    await client.fetch("/no/such/page")
    handle = instrument(core.handle, metrics)
    await handle(message(command="start", user="person-123"))
    answer = await client.fetch("/metrics")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    text = answer.text
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in text
    assert 'reclaim_web_requests_total{route="/r/{code}",status="200"} 1' in text
    assert 'reclaim_web_requests_total{route="/go/{lang}/{country}",status="302"} 1' in text
    assert 'reclaim_web_requests_total{route="unmatched",status="404"} 1' in text
    assert 'reclaim_updates_total{platform="console"} 1' in text
    assert 'reclaim_handler_seconds_count{platform="console"} 1' in text
    for private in (code, "person-123", "127.0.0.1", "Mozilla", "/no/such/page", "/go/de/gr"):
        assert private not in text


# Flood protection

async def test_flood_gets_429_with_retry_after(core: Core, deps: Deps) -> None:
    # Time stands still for the guard, so the test does not depend on the machine's speed.
    server = WebServer(core, flood=FloodGuard(rate=0.5, burst=5, monotonic=lambda: 0.0))
    await server.start()
    code = deps.keyring.referral_code("telegram", "sharer")
    try:
        async with aiohttp.ClientSession() as session:
            client = WebClient(session, f"http://127.0.0.1:{server.port}")
            statuses = [(await client.fetch(f"/r/{code}")).status for _ in range(8)]
            assert statuses[:5] == [200] * 5
            assert set(statuses[5:]) == {429}
            refused = await client.fetch("/go/de")
            assert refused.status == 429
            assert int(refused.headers["Retry-After"]) >= 1
            assert "Too many requests" in refused.text
            assert (await client.fetch("/healthz")).status == 200  # health checks are exempt
            other = await client.fetch(f"/r/{code}", headers={"X-Forwarded-For": "192.0.2.7"})
            assert other.status == 200  # a proxy on loopback names the client
    finally:
        await server.stop()
    assert (await deps.store.stats()).arrivals_total == 6
    assert server.metrics.web_requests.value(route="/r/{code}", status="429") == 3


# Errors, headers, privacy

async def test_unknown_paths_get_a_friendly_404(client: WebClient) -> None:
    for path in ("/", "/wp-login.php", "/r/", "/qr/", "/%ZZ", "/r/..%2F..%2Fetc%2Fpasswd"):
        answer = await client.fetch(path, headers={"Accept-Language": "nl"})
        assert answer.status in (400, 404), path
        assert "Traceback" not in answer.text
        if answer.headers.get("Content-Type", "").startswith("text/html"):
            assert '<html lang="nl"' in answer.text


async def test_wrong_method_is_405_with_a_friendly_page(client: WebClient, deps: Deps) -> None:
    answer = await client.fetch(f"/r/{deps.keyring.referral_code('web', 'x')}", method="POST")
    assert answer.status == 405
    assert "GET" in answer.headers["Allow"]
    assert "<h1>" in answer.text


async def test_no_cookies_and_privacy_headers_everywhere(client: WebClient, deps: Deps) -> None:
    code = deps.keyring.referral_code("telegram", "sharer")
    paths = [f"/r/{code}", "/r/AAAAAAAAAAAAAAAA", "/go/de", "/go/xx", f"/qr/{code}.svg",
             f"/qr/{code}.png", "/stats", "/stats.json", "/metrics", "/healthz", "/readyz",
             "/nowhere"]
    for path in paths:
        for headers in ({}, BEARER):
            answer = await client.fetch(path, headers=headers)
            assert "Set-Cookie" not in answer.headers, path
            assert answer.headers["Referrer-Policy"] == "no-referrer"
            assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.headers["Server"] == "reclaim-bot"


async def test_nothing_about_visitors_is_logged(client: WebClient, deps: Deps,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    code = deps.keyring.referral_code("telegram", "sharer")
    agent = BROWSER + " unique-agent-marker"
    for path in (f"/r/{code}", "/go/de/de", f"/qr/{code}.svg", "/r/AAAAAAAAAAAAAAAA", "/x"):
        await client.fetch(path, agent=agent, headers={"X-Forwarded-For": "198.51.100.9"})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for private in (code, "unique-agent-marker", "198.51.100.9", "127.0.0.1:"):
        assert private not in logged


async def test_plugged_in_routes_and_crash_pages(core: Core, metrics: Metrics,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    server = WebServer(core, metrics)

    async def hook(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("boom with secret detail")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/healthz")

    server.add_routes([web.post("/telegram/webhook", hook), web.get("/crash/{thing}", crash),
                       web.get("/moved", moved)])
    await server.start()
    try:
        with pytest.raises(RuntimeError):
            server.add_routes([web.get("/late", hook)])
        async with aiohttp.ClientSession() as session:
            client = WebClient(session, f"http://127.0.0.1:{server.port}")
            assert (await client.fetch("/telegram/webhook", method="POST")).status == 200
            crashed = await client.fetch("/crash/private-value")
            assert crashed.status == 500
            assert "boom" not in crashed.text and "Traceback" not in crashed.text
            assert "Something went wrong" in crashed.text
            moved_answer = await client.fetch("/moved")
            assert (moved_answer.status, moved_answer.headers["Location"]) == (302, "/healthz")
    finally:
        await server.stop()
    assert any("/crash/{thing}" in record.getMessage() for record in caplog.records)
    assert not any("private-value" in record.getMessage() for record in caplog.records)
    assert metrics.web_requests.value(route="/crash/{thing}", status="500") == 1


async def test_health_and_readiness(client: WebClient) -> None:
    assert json.loads((await client.fetch("/healthz")).body) == {"status": "ok"}
    assert json.loads((await client.fetch("/readyz")).body) == {"status": "ready"}


async def test_web_server_keeps_the_one_argument_form(core: Core) -> None:
    server = WebServer(core)
    assert server.name == "web"
    assert isinstance(server.metrics, Metrics)
