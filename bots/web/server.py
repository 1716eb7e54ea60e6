"""The bot's one aiohttp server: shared links, QR codes, figures, metrics and health checks.

Other components add their routes (the Telegram webhook) with :meth:`WebServer.add_routes`
before :meth:`WebServer.start`. Every response goes through the same middleware: flood limit,
friendly error pages instead of tracebacks, privacy headers, and one request metric labelled
with the route template and status, never the path itself. No access log, no cookies, and
addresses are only used, hashed, to key the in-memory flood buckets.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from bots.cli import stats_json
from bots.metrics import CONTENT_TYPE, Metrics
from bots.web.flood import FloodGuard
from bots.web.links import Links
from bots.web.pages import error_page
from bots.web.stats_page import stats_page, token_matches
from bots.web.visitors import client_key, preferred_language
from handlers.router import Core

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: Headers of an HTTP error worth keeping on the friendly page that replaces it.
KEPT_HEADERS = ("WWW-Authenticate", "Retry-After", "Allow")


class WebServer:
    """Serves HTTP on RECLAIM_HTTP_HOST:RECLAIM_HTTP_PORT."""

    name = "web"

    def __init__(self, core: Core, metrics: Metrics | None = None, *,
                 flood: FloodGuard | None = None) -> None:
        self.core = core
        self.deps = core.deps
        self.metrics = metrics if metrics is not None else Metrics()
        self.flood = flood if flood is not None else FloodGuard()
        self.app = web.Application(client_max_size=1024 * 1024,
                                   middlewares=[self._observe, self._limit])
        self.app.on_response_prepare.append(self._privacy_headers)
        self._unlimited: set[web.AbstractResource] = set()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.add_routes([web.get("/healthz", self.healthz), web.get("/readyz", self.readyz),
                         web.get("/metrics", self.metrics_text)])
        self.add_routes([*Links(self.deps).routes(), web.get("/stats", self.stats),
                         web.get("/stats.json", self.stats_data)], flood_limited=True)

    def add_routes(self, routes: Iterable[web.AbstractRouteDef], *,
                   flood_limited: bool = False) -> None:
        """Register routes before start; ``flood_limited`` puts them behind the flood guard.

        Routes are not limited by default because machine callers (health checks, Telegram's
        webhook deliveries from a few addresses) would trip a per-address limit.
        """
        if self._runner is not None:
            raise RuntimeError("add routes before the web server starts")
        before = set(self.app.router.resources())
        self.app.router.add_routes(routes)
        if not flood_limited:
            self._unlimited.update(set(self.app.router.resources()) - before)

    @staticmethod
    def route_label(request: web.Request) -> str:
        """Return the route template for metrics and logs (never the path: it holds codes)."""
        resource = request.match_info.route.resource
        return resource.canonical if resource is not None else "unmatched"

    @web.middleware
    async def _observe(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Turn errors into friendly pages and count every request."""
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = self._from_http_error(request, exc)
        except Exception:
            log.exception("web request to %s failed", self.route_label(request))
            response = self._error_response(request, 500)
        self.metrics.web_requests.inc(route=self.route_label(request),
                                      status=str(response.status))
        return response

    @web.middleware
    async def _limit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer 429 with Retry-After when one client sends too much, too fast."""
        if request.match_info.route.resource not in self._unlimited:
            wait = self.flood.take(client_key(request))
            if wait > 0:
                retry = str(self.flood.retry_after(wait))
                raise web.HTTPTooManyRequests(headers={"Retry-After": retry})
        return await handler(request)

    def _from_http_error(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        if exc.status < 400:  # a redirect raised by a plugged-in handler: pass it on
            location = exc.headers.get("Location")
            return web.Response(status=exc.status,
                                headers={"Location": location} if location else None)
        response = self._error_response(request, exc.status)
        for name in KEPT_HEADERS:
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response

    def _error_response(self, request: web.Request, status: int) -> web.Response:
        """Return a small error page in the visitor's language (JSON for .json paths)."""
        if request.path.endswith(".json"):
            return web.json_response({"error": status}, status=status)
        t = self.deps.i18n.translator(preferred_language(request.headers.get("Accept-Language")))
        return web.Response(status=status, text=error_page(t, status, self.deps.campaign),
                            content_type="text/html", headers={"Vary": "Accept-Language"})

    async def _privacy_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """Add privacy and safety headers to every response."""
        headers = response.headers
        headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Robots-Tag", "noindex, nofollow")
        headers["Server"] = "reclaim-bot"

    async def healthz(self, request: web.Request) -> web.Response:
        """Answer while the process runs."""
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """Answer when the database is reachable."""
        try:
            await self.deps.store.stats(top=0)
        except Exception:
            log.warning("readiness check failed: database unreachable")
            return web.json_response({"status": "unavailable"}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics_text(self, request: web.Request) -> web.Response:
        """Return the metrics in Prometheus text format."""
        return web.Response(body=self.metrics.render().encode(),
                            headers={"Content-Type": CONTENT_TYPE})

    def _authorize(self, request: web.Request) -> None:
        """Let the stats token holder through: 404 without a token, 401 with a wrong one."""
        token = self.deps.settings.stats_token
        if not token:
            raise web.HTTPNotFound()
        if not token_matches(request.headers.get("Authorization"), token):
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Bearer realm="reclaim-bot stats"'})

    async def stats(self, request: web.Request) -> web.Response:
        """Show the anonymous figures as a page of charts."""
        self._authorize(request)
        figures = await self.deps.store.stats(top=10)
        page = stats_page(figures, self.deps.campaign.name, self.deps.clock())
        return web.Response(text=page, content_type="text/html")

    async def stats_data(self, request: web.Request) -> web.Response:
        """Return the anonymous figures as JSON, shaped like ``reclaim-bot stats --json``."""
        self._authorize(request)
        return web.json_response(stats_json(await self.deps.store.stats(top=10)))

    async def start(self) -> None:
        """Bind and serve (no access log: it would hold IP addresses)."""
        settings = self.deps.settings
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        addresses = runner.addresses
        self.port = int(addresses[0][1]) if addresses else settings.http_port
        log.info("HTTP server listening on %s:%s", settings.http_host, self.port)

    async def stop(self) -> None:
        """Stop accepting requests and finish the running ones."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
