"""The bot's one aiohttp server: health checks now; web links, stats and webhook plug in."""

from __future__ import annotations

import logging

from aiohttp import web

from handlers.router import Core

log = logging.getLogger(__name__)


class WebServer:
    """Serves HTTP on RECLAIM_HTTP_HOST:RECLAIM_HTTP_PORT."""

    name = "web"

    def __init__(self, core: Core) -> None:
        self.core = core
        self.app = web.Application(client_max_size=1024 * 1024)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def healthz(self, request: web.Request) -> web.Response:
        """Answer while the process runs."""
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """Answer when the database is reachable."""
        try:
            await self.core.deps.store.stats(top=0)
        except Exception:
            log.warning("readiness check failed: database unreachable")
            return web.json_response({"status": "unavailable"}, status=503)
        return web.json_response({"status": "ready"})

    async def start(self) -> None:
        """Bind and serve (no access log: it would hold IP addresses)."""
        settings = self.core.deps.settings
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.http_host, settings.http_port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else settings.http_port
        log.info("HTTP server listening on %s:%s", settings.http_host, self.port)

    async def stop(self) -> None:
        """Stop accepting requests and finish the running ones."""
        if self._runner is not None:
            await self._runner.cleanup()
