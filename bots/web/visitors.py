"""What the web server reads from a request: language, whether to count it, the flood key.

Nothing read here is stored or logged: the language picks the page, the user agent only
decides whether a link preview is counted as a visit, the address only keys the flood bucket.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from handlers.i18n import DEFAULT_LANGUAGE, normalize_language

MAX_LANGUAGE_TAGS = 20

#: Substrings (lower case) of the user agents of link-preview fetchers and crawlers: they fetch
#: a shared link to draw a card, and must not count as a person arriving.
PREVIEW_AGENTS: tuple[str, ...] = (
    "telegrambot", "whatsapp", "slackbot", "slack-imgproxy", "facebookexternalhit",
    "facebookcatalog", "meta-externalagent", "twitterbot", "linkedinbot", "discordbot",
    "skypeuripreview", "mastodon", "pleroma", "misskey", "akkoma", "iframely", "embedly",
    "redditbot", "googlebot", "google-inspectiontool", "bingbot", "bingpreview", "applebot",
    "duckduckbot", "baiduspider", "vkshare", "bluesky", "cardyb", "synapse",
    "matrix-media-repo", "microsoftpreview", "google-pagerenderer", "petalbot", "semrush",
    "ahrefs", "crawler", "spider", "preview", "bot/", "bot;", "bot)", "+http",
)


def preferred_language(accept_language: str | None) -> str:
    """Return the first supported language of an Accept-Language header, by quality."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")[:MAX_LANGUAGE_TAGS]):
        tag, _, params = item.strip().partition(";")
        quality = _quality(params)
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag.strip()))
    for _q, _i, tag in sorted(ranked):
        language = normalize_language(tag)
        if language:
            return language
    return DEFAULT_LANGUAGE


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0


def is_preview(user_agent: str | None) -> bool:
    """Tell whether a user agent is a link-preview fetcher or crawler (or missing)."""
    if not user_agent:
        return True
    agent = user_agent.lower()
    return any(marker in agent for marker in PREVIEW_AGENTS)


def counts_as_visit(request: web.Request) -> bool:
    """Tell whether a request is a person's visit: a GET from something that is not a bot."""
    return request.method == "GET" and not is_preview(request.headers.get("User-Agent"))


def client_key(request: web.Request) -> str:
    """Return the address that keys the flood bucket.

    Behind a reverse proxy on the same host every request comes from loopback; then the
    address the proxy appended to X-Forwarded-For (the last one) is the client. A remote peer
    could forge that header, so it is only believed from loopback.
    """
    remote = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and _is_loopback(remote):
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return remote


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
