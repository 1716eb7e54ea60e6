"""The stats page in a real headless Chromium: it renders, and the charts are drawn.

Chromium cannot send an Authorization header from its command line, so the test puts a tiny
proxy in front of /stats that adds the bearer token; the server itself never accepts the token
any other way. Skipped when no ``chromium`` is on PATH (CI installs Debian's package).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bots.web.server import WebServer
from handlers.context import Deps
from tests.bots.web.conftest import STATS_TOKEN, seed

BROWSER_TIMEOUT = 120
#: The bar colours of the stats page's three series (see bots/web/stats_page.py).
SERIES_COLOURS = {(0x6D, 0x28, 0xD9), (0x0F, 0x76, 0x6E), (0xB4, 0x53, 0x09)}


def chromium() -> str | None:
    """Return the Chromium executable, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.asynccontextmanager
async def bearer_proxy(server: WebServer) -> AsyncIterator[str]:
    """Serve /stats on another local port, adding the bearer header; yield its URL."""
    upstream = f"http://127.0.0.1:{server.port}/stats"

    async def forward(request: web.Request) -> web.Response:
        headers = {"Authorization": f"Bearer {STATS_TOKEN}"}
        async with aiohttp.ClientSession() as session, session.get(upstream,
                                                                   headers=headers) as got:
            return web.Response(body=await got.read(), status=got.status,
                                content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/stats", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/stats"
    finally:
        await runner.cleanup()


async def screenshot(executable: str, url: str, out: Path, profile: Path) -> str:
    """Let headless Chromium render a URL into a PNG, without blocking the event loop."""
    process = await asyncio.create_subprocess_exec(
        executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
        f"--user-data-dir={profile}", "--window-size=1200,2400", f"--screenshot={out}", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HOME": str(profile)},
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), BROWSER_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail("chromium did not finish in time")
    return output.decode(errors="replace")[-2000:]


def assert_charts_drawn(shot: Path, chromium_output: str) -> None:
    """Check the screenshot: the right size, not blank, and every chart colour present."""
    image_module = pytest.importorskip("PIL.Image")
    assert shot.is_file(), chromium_output
    assert shot.stat().st_size > 20_000
    with image_module.open(shot) as image:
        assert image.size == (1200, 2400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, bars, lines: not blank
    present = {colour for _count, colour in colours}
    assert SERIES_COLOURS <= present, "every chart series should be drawn"


async def test_stats_page_renders_with_charts(server: WebServer, deps: Deps,
                                              tmp_path: Path) -> None:
    executable = chromium()
    if executable is None:
        pytest.skip("chromium is not installed")
    pytest.importorskip("PIL.Image")
    await seed(deps)
    shot = tmp_path / "stats.png"
    async with bearer_proxy(server) as url:
        output = await screenshot(executable, url, shot, tmp_path / "profile")
    assert_charts_drawn(shot, output)
