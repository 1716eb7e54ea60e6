"""/r/ landing pages, /go/ signing redirects and /qr/ codes over real HTTP."""

from __future__ import annotations

import dataclasses
import io
import re
import struct
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from handlers.context import Deps
from tests.bots.web.conftest import PUBLIC_URL, WebClient
from tests.conftest import BEFORE, OPEN, Clock

PREVIEWS = [
    "TelegramBot (like TwitterBot)",
    "WhatsApp/2.23.20.0 A",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "http.rb/5.1.1 (Mastodon/4.2.0; +https://mastodon.social/) Bot",
    "Iframely/1.3.1 (+https://iframely.com/docs/about)",
    "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
    "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Synapse (bot; +https://github.com/matrix-org/synapse)",
]


def code_of(deps: Deps, user: str = "sharer") -> str:
    """Return a referral code the bot issued."""
    return deps.keyring.referral_code("telegram", user)


def html_lang(page: str) -> str:
    """Return the lang attribute of the <html> element."""
    match = re.search(r'<html lang="([^"]+)"', page)
    assert match, page[:200]
    return match.group(1)


class AssetCollector(HTMLParser):
    """Collects every URL a browser would fetch by itself (src, link href) and the tags."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.tags: set[str] = set()
        self.anchors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if values.get("src"):
            self.fetched.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.fetched.append(values["href"] or "")
        if tag == "a" and values.get("href"):
            self.anchors.append(values["href"] or "")


def assets(page: str) -> AssetCollector:
    """Parse a page and return what it would load."""
    collector = AssetCollector()
    collector.feed(page)
    return collector


# /r/<code>

async def test_landing_counts_one_arrival_per_get(client: WebClient, deps: Deps) -> None:
    code = code_of(deps)
    for _ in range(2):
        page = await client.fetch(f"/r/{code}")
        assert page.status == 200
        assert page.headers["Content-Type"].startswith("text/html")
    stats = await deps.store.stats()
    assert stats.arrivals_by_platform == {"web": 2}
    assert await deps.store.arrivals_for_code(code) == 2
    assert "Reclaim Your Face" in page.text


async def test_head_is_served_but_not_counted(client: WebClient, deps: Deps) -> None:
    page = await client.fetch(f"/r/{code_of(deps)}", method="HEAD")
    assert page.status == 200
    assert (await deps.store.stats()).arrivals_total == 0


@pytest.mark.parametrize("agent", [*PREVIEWS, None])
async def test_link_previews_are_served_but_not_counted(client: WebClient, deps: Deps,
                                                        agent: str | None) -> None:
    page = await client.fetch(f"/r/{code_of(deps)}", agent=agent)
    assert page.status == 200
    assert '<meta property="og:title" content="Reclaim Your Face">' in page.text
    assert (await deps.store.stats()).arrivals_total == 0


@pytest.mark.parametrize("path", ["/r/AAAAAAAAAAAAAAAA", "/r/short", "/r/" + "A" * 40,
                                  "/r/lqps-j4ietwx9ni%21"])
async def test_made_up_code_is_404_and_counts_nothing(client: WebClient, deps: Deps,
                                                      path: str) -> None:
    page = await client.fetch(path)
    assert page.status == 404
    assert "Page not found" in page.text
    assert "Traceback" not in page.text
    assert (await deps.store.stats()).arrivals_total == 0


async def test_forged_check_part_is_404(client: WebClient, deps: Deps) -> None:
    code = code_of(deps)
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert (await client.fetch(f"/r/{forged}")).status == 404
    assert (await deps.store.stats()).arrivals_total == 0


@pytest.mark.parametrize(("header", "language"), [
    ("de-DE,de;q=0.9,en;q=0.8", "de"),
    ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),
    ("en;q=0.1, pl", "pl"),
    ("zh-CN,zh;q=0.9,el;q=0.4", "el"),
    ("zh-CN", "en"),
    ("de;q=0, sv", "sv"),
    ("pt-BR;q=abc, ga;q=0.5", "ga"),
    ("", "en"),
])
async def test_landing_language_from_accept_language(client: WebClient, deps: Deps,
                                                     header: str, language: str) -> None:
    page = await client.fetch(f"/r/{code_of(deps)}", headers={"Accept-Language": header})
    assert html_lang(page.text) == language
    assert f'href="../go/{language}"' in page.text
    assert "Accept-Language" in page.headers.get("Vary", "")


async def test_landing_buttons_open_the_bot_and_the_signing_link(client: WebClient,
                                                                 deps: Deps) -> None:
    deps.handles["telegram"] = "reclaim_test_bot"
    deps.settings = dataclasses.replace(deps.settings, matrix_user_id="@bot:example.org")
    code = code_of(deps)
    page = await client.fetch(f"/r/{code}", headers={"Accept-Language": "it"})
    anchors = assets(page.text).anchors
    assert f"https://t.me/reclaim_test_bot?start={code}" in anchors
    assert "https://matrix.to/#/@bot:example.org" in anchors
    assert "../go/it" in anchors


async def test_landing_without_chat_handles_still_links_signing(client: WebClient,
                                                                deps: Deps) -> None:
    page = await client.fetch(f"/r/{code_of(deps)}")
    anchors = assets(page.text).anchors
    assert not any("t.me" in a or "matrix.to" in a for a in anchors)
    assert "../go/en" in anchors


async def test_landing_status_follows_the_collection_state(client: WebClient, deps: Deps,
                                                           clock: Clock) -> None:
    closed = await client.fetch(f"/r/{code_of(deps)}")
    assert "Signature collection ended" in closed.text
    clock.now = OPEN
    opened = await client.fetch(f"/r/{code_of(deps)}")
    assert "Signing is open until" in opened.text
    assert "Sign the initiative" in opened.text
    clock.now = BEFORE
    assert "Signing starts on" in (await client.fetch(f"/r/{code_of(deps)}")).text


async def test_pages_load_nothing_from_other_sites(client: WebClient, deps: Deps) -> None:
    for path in (f"/r/{code_of(deps)}", "/r/AAAAAAAAAAAAAAAA", "/nowhere"):
        page = await client.fetch(path)
        found = assets(page.text)
        assert not found.tags & {"script", "img", "iframe", "object", "embed", "form"}
        assert all(url.startswith("data:") or not re.match(r"^[a-z]+:|^//", url)
                   for url in found.fetched), found.fetched
        assert "@import" not in page.text and "url(" not in page.text


# /go/<lang>[/<country>]

async def test_go_redirects_to_after_close_page_once_closed(client: WebClient,
                                                            deps: Deps) -> None:
    answer = await client.fetch("/go/de")
    assert answer.status == 302
    assert answer.headers["Location"] == deps.campaign.after_close_url("de")
    assert answer.headers["Location"].endswith("_de")


async def test_go_redirects_to_the_form_while_open(client: WebClient, deps: Deps,
                                                   clock: Clock) -> None:
    clock.now = OPEN
    german = await client.fetch("/go/de/DE")
    assert german.status == 302
    assert german.headers["Location"] == deps.campaign.sign_url("de", "DE")
    assert "lang=de" in german.headers["Location"]
    polish = await client.fetch("/go/pl")  # the form has no Polish: English
    assert "lang=en" in polish.headers["Location"]


async def test_go_before_opening_goes_to_the_register_page(client: WebClient, deps: Deps,
                                                           clock: Clock) -> None:
    clock.now = BEFORE
    answer = await client.fetch("/go/fr")
    assert answer.headers["Location"] == deps.campaign.register_page("fr")


async def test_go_counts_clicks_by_language_and_country(client: WebClient, deps: Deps) -> None:
    for path in ("/go/de/DE", "/go/de/de", "/go/DE/el", "/go/fr", "/go/fr/gr"):
        assert (await client.fetch(path)).status == 302
    stats = await deps.store.stats()
    assert stats.sign_clicks_by_language == {"de": 3, "fr": 2}
    assert stats.sign_clicks_by_country == {"DE": 2, "GR": 2}
    assert stats.sign_clicks_total == 5


async def test_go_does_not_count_head_or_previews(client: WebClient, deps: Deps) -> None:
    assert (await client.fetch("/go/de", method="HEAD")).status == 302
    assert (await client.fetch("/go/de", agent=PREVIEWS[0])).status == 302
    assert (await deps.store.stats()).sign_clicks_total == 0


@pytest.mark.parametrize("path", ["/go/xx", "/go/pt-BR", "/go/de/US", "/go/de/uk", "/go/de/EU",
                                  "/go/de/DE/extra", "/go/"])
async def test_go_rejects_unknown_language_or_country(client: WebClient, deps: Deps,
                                                      path: str) -> None:
    answer = await client.fetch(path)
    assert answer.status == 404
    assert "Location" not in answer.headers
    assert (await deps.store.stats()).sign_clicks_total == 0


# /qr/<code>.svg|png

async def test_qr_svg_is_valid_and_cacheable(client: WebClient, deps: Deps) -> None:
    code = code_of(deps)
    answer = await client.fetch(f"/qr/{code}.svg")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("image/svg+xml")
    assert "public" in answer.headers["Cache-Control"]
    assert "max-age=" in answer.headers["Cache-Control"]
    root = ET.fromstring(answer.body)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert f"{PUBLIC_URL}/r/{code}" in answer.text  # the title names what it encodes
    assert (await deps.store.stats()).arrivals_total == 0


async def test_qr_png_is_a_png(client: WebClient, deps: Deps) -> None:
    answer = await client.fetch(f"/qr/{code_of(deps)}.png")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.body[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", answer.body[16:24])
    assert width == height >= 200


async def test_qr_encodes_the_referral_link(client: WebClient, deps: Deps) -> None:
    segno = pytest.importorskip("segno")
    code = code_of(deps)
    expected = segno.make_qr(f"{PUBLIC_URL}/r/{code}", error="m")
    answer = await client.fetch(f"/qr/{code}.png")
    image = pytest.importorskip("PIL.Image")
    with image.open(io.BytesIO(answer.body)) as png:
        grey = png.convert("L")
        scale, border = 12, 4
        for row_index, row in enumerate(expected.matrix):
            for col_index, dark in enumerate(row):
                pixel = grey.getpixel(((col_index + border) * scale + scale // 2,
                                       (row_index + border) * scale + scale // 2))
                assert (pixel < 128) == bool(dark)


@pytest.mark.parametrize("name", ["AAAAAAAAAAAAAAAA.svg", "{code}.gif", "{code}", "{code}.svg.png",
                                  "{code}.SVG"])
async def test_qr_rejects_bad_names(client: WebClient, deps: Deps, name: str) -> None:
    answer = await client.fetch("/qr/" + name.format(code=code_of(deps)))
    assert answer.status == 404
    assert "public" not in answer.headers.get("Cache-Control", "")
