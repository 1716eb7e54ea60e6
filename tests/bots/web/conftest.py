"""Fixtures for the web server: a real server on 127.0.0.1, port 0, and a client for it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from bots.metrics import Metrics
from bots.web.flood import FloodGuard
from bots.web.server import WebServer
from handlers.context import Deps
from handlers.ports import PersonKey
from handlers.router import Core

STATS_TOKEN = "stats-token-for-tests-0123"
PUBLIC_URL = "https://bot.example.org"
BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Safari/537.36")


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """Add what the web server needs: port 0, a stats token and a public address."""
    return {**env, "RECLAIM_HTTP_HOST": "127.0.0.1", "RECLAIM_HTTP_PORT": "0",
            "RECLAIM_STATS_TOKEN": STATS_TOKEN, "RECLAIM_PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def metrics() -> Metrics:
    """Return a fresh metrics registry."""
    return Metrics()


@pytest.fixture
def flood() -> FloodGuard:
    """Return a flood guard generous enough that only the flood tests hit it."""
    return FloodGuard(rate=1000, burst=1000)


@pytest.fixture
async def server(core: Core, metrics: Metrics, flood: FloodGuard) -> AsyncIterator[WebServer]:
    """Start the web server on a free port and stop it afterwards."""
    web_server = WebServer(core, metrics, flood=flood)
    await web_server.start()
    try:
        yield web_server
    finally:
        await web_server.stop()


@dataclass(frozen=True)
class Fetched:
    """One HTTP answer, read completely."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def text(self) -> str:
        """Return the body decoded as UTF-8."""
        return self.body.decode("utf-8")


class WebClient:
    """Talks to the server under test; never follows redirects (they lead off this machine)."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def fetch(self, path: str, *, method: str = "GET", agent: str | None = BROWSER,
                    headers: Mapping[str, str] | None = None) -> Fetched:
        """Send one request and read the whole answer."""
        sent = dict(headers or {})
        if agent is not None:
            sent["User-Agent"] = agent
        async with self.session.request(method, self.base + path, headers=sent,
                                        allow_redirects=False) as response:
            return Fetched(response.status, response.headers, await response.read())


@pytest.fixture
async def client(server: WebServer) -> AsyncIterator[WebClient]:
    """Return a client bound to the running server."""
    # No User-Agent by default: each request sets its own (or none, deliberately).
    async with aiohttp.ClientSession(skip_auto_headers=("User-Agent",)) as session:
        yield WebClient(session, f"http://127.0.0.1:{server.port}")


async def seed(deps: Deps) -> list[str]:
    """Fill the store with a month of figures; return the referral codes used."""
    store, start = deps.store, dt.date(2026, 10, 20)
    codes = [deps.keyring.referral_code("telegram", f"sharer{i}") for i in range(12)]
    for offset in range(30):
        day = start + dt.timedelta(days=offset)
        for index in range((offset * 7) % 11 + 1):
            platform = ("telegram", "web", "matrix")[index % 3]
            await store.record_arrival(codes[(offset + index) % 12], platform, day, None)
        for index in range(offset % 5):
            language = ("de", "fr", "it", "pl", "en")[(offset + index) % 5]
            country = ("DE", "FR", "IT", "PL", None)[(offset + index) % 5]
            await store.record_sign_click(language, country, day)
    for index in range(9):
        await store.subscribe(PersonKey(f"p{index}"), ("telegram", "matrix")[index % 2],
                              f"chat{index}", ("de", "en", "fr")[index % 3])
    return codes
