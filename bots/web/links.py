"""The public web links: /r/<code> landing pages, /go/ signing redirects and /qr/ codes.

Counting rules: a GET from a browser counts; HEAD requests and link-preview fetchers are served
the same answer but not counted; a code the bot never issued counts nothing and gets a 404.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re

import segno
from aiohttp import web

from bots.web.pages import landing_links, landing_page
from bots.web.visitors import counts_as_visit, preferred_language
from handlers.campaign import State
from handlers.context import Deps
from handlers.i18n import LANGUAGES
from handlers.messages import WEB

QR_FILE = re.compile(r"^(?P<code>[A-Za-z0-9_-]{1,64})\.(?P<kind>svg|png)$")
QR_CACHE_SECONDS = 7 * 24 * 3600
QR_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
COUNTRY_ALIASES = {"EL": "GR"}  # the EU writes Greece as EL, ISO as GR


@functools.lru_cache(maxsize=256)
def qr_image(url: str, kind: str) -> bytes:
    """Return a QR code of a URL as SVG or PNG bytes (cached: posters are fetched often)."""
    code = segno.make_qr(url, error="m")
    out = io.BytesIO()
    if kind == "svg":
        code.save(out, kind="svg", scale=10, border=4, title=url)
    else:
        code.save(out, kind="png", scale=12, border=4)
    return out.getvalue()


class Links:
    """Request handlers for the shared links, bound to the shared services."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def routes(self) -> list[web.RouteDef]:
        """Return the route table (GET; aiohttp answers HEAD through the same handlers)."""
        return [
            web.get("/r/{code}", self.landing),
            web.get("/go/{lang}", self.go),
            web.get("/go/{lang}/{country}", self.go),
            web.get("/qr/{filename}", self.qr),
        ]

    def _today(self) -> dt.date:
        return self.deps.clock().astimezone(dt.UTC).date()

    async def landing(self, request: web.Request) -> web.Response:
        """Count a web arrival and show the campaign, the chat buttons and the signing link."""
        deps = self.deps
        code = request.match_info["code"]
        if not deps.keyring.is_valid_code(code):
            raise web.HTTPNotFound()
        if counts_as_visit(request):
            await deps.store.record_arrival(code, WEB, self._today(), None)
        t = deps.i18n.translator(preferred_language(request.headers.get("Accept-Language")))
        now = deps.clock()
        links = landing_links(deps.campaign, t, now, code=code,
                              telegram=deps.handles.get("telegram"),
                              matrix=deps.settings.matrix_user_id)
        return web.Response(text=landing_page(deps.campaign, t, now, links),
                            content_type="text/html",
                            headers={"Vary": "Accept-Language", "Cache-Control": "no-store"})

    def _country(self, raw: str | None) -> str | None:
        """Return the member state code for a URL part, or raise 404."""
        if raw is None:
            return None
        code = COUNTRY_ALIASES.get(raw.upper(), raw.upper())
        if code not in self.deps.campaign.countries:
            raise web.HTTPNotFound()
        return code

    async def go(self, request: web.Request) -> web.Response:
        """Count a click on a signing link and redirect to the page for the collection state."""
        deps, campaign = self.deps, self.deps.campaign
        lang = request.match_info["lang"].lower()
        if lang not in LANGUAGES:
            raise web.HTTPNotFound()
        country = self._country(request.match_info.get("country"))
        if counts_as_visit(request):
            await deps.store.record_sign_click(lang, country, self._today())
        state = campaign.state(deps.clock())
        if state is State.OPEN:
            target = campaign.sign_url(lang, country)
        elif state is State.CLOSED:
            target = campaign.after_close_url(lang)
        else:
            target = campaign.register_page(lang)
        return web.Response(status=302, headers={"Location": target, "Cache-Control": "no-store"})

    async def qr(self, request: web.Request) -> web.Response:
        """Return the QR code of a referral link, for posters and flyers."""
        match = QR_FILE.match(request.match_info["filename"])
        if match is None or not self.deps.keyring.is_valid_code(match["code"]):
            raise web.HTTPNotFound()
        code, kind = match["code"], match["kind"]
        url = f"{self.deps.settings.public_url}/r/{code}"
        return web.Response(
            body=qr_image(url, kind), content_type=QR_TYPES[kind],
            headers={"Cache-Control": f"public, max-age={QR_CACHE_SECONDS}",
                     "Content-Disposition": f'inline; filename="qr-{code}.{kind}"'},
        )
