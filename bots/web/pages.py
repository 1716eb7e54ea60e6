"""HTML pages: the referral landing page and the small friendly error pages.

Everything is one self-contained document: inline CSS, no scripts, fonts, images or anything
else fetched from another site, and no cookies. Text from data is escaped; campaign texts,
which are the chat HTML subset, pass through :func:`subset_html`, which keeps only that subset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html.parser import HTMLParser

from handlers.campaign import Campaign, State
from handlers.html import esc
from handlers.i18n import Translator, fmt

BASE_CSS = """
:root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#f6f8fa;--card:#fff;
--accent:#5b21b6;--accent-fg:#fff;--line:#d1d9e0}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;
--card:#161b22;--accent:#a78bfa;--accent-fg:#0d1117;--line:#30363d}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:40rem;margin:2rem auto;padding:1.5rem;background:var(--card);
border:1px solid var(--line);border-radius:12px}
h1{font-size:1.6rem;line-height:1.25;margin:0 0 .5rem}
p{margin:.75rem 0}
a{color:var(--accent)}
.tagline{font-size:1.1rem}
.muted{color:var(--muted);font-size:.9rem}
.actions{display:flex;flex-direction:column;gap:.6rem;margin:1.25rem 0}
.button{display:block;padding:.75rem 1rem;border-radius:8px;text-align:center;
text-decoration:none;font-weight:600;border:2px solid var(--accent);color:var(--accent)}
.button.primary{background:var(--accent);color:var(--accent-fg)}
.button:focus-visible,a:focus-visible{outline:3px solid var(--fg);outline-offset:2px}
@media (max-width:42rem){main{margin:0 0 1rem;border-width:0 0 1px;border-radius:0}}
"""


def document(language: str, title: str, body: str, *, css: str = BASE_CSS,
             head: str = "") -> str:
    """Return a complete, self-contained HTML document."""
    return (
        f'<!doctype html>\n<html lang="{esc(language)}" dir="ltr">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        # An empty inline icon: browsers would otherwise ask for /favicon.ico.
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)}</title>\n{head}<style>{css}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


class _SubsetFilter(HTMLParser):
    """Re-emits text escaped and only the inline tags of the chat HTML subset."""

    INLINE = frozenset({"b", "i", "u", "s", "code"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._open_links = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.INLINE:
            self.out.append(f"<{tag}>")
        elif tag == "br":
            self.out.append("<br>")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith(("https://", "http://")):
                self.out.append(f'<a href="{esc(href)}">')
                self._open_links += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.INLINE:
            self.out.append(f"</{tag}>")
        elif tag == "a" and self._open_links:
            self.out.append("</a>")
            self._open_links -= 1

    def handle_data(self, data: str) -> None:
        self.out.append(esc(data))


def subset_html(text: str) -> str:
    """Turn chat-subset HTML into safe paragraphs: blank lines split, newlines become <br>."""
    paragraphs = [part.strip() for part in text.strip().split("\n\n") if part.strip()]
    rendered = []
    for part in paragraphs:
        parser = _SubsetFilter()
        parser.feed(part)
        parser.close()
        body = "".join(parser.out) + "</a>" * parser._open_links
        rendered.append("<p>" + body.replace("\n", "<br>\n") + "</p>")
    return "\n".join(rendered)


def status_text(campaign: Campaign, t: Translator, now: dt.datetime) -> str:
    """Return the campaign text for the collection state (like handlers.menus.status_text)."""
    state = campaign.state(now)
    if state is State.BEFORE:
        return fmt(t.campaign(campaign.text("before_open")), opens=t.date(campaign.opens))
    if state is State.OPEN:
        return fmt(t.campaign(campaign.text("during")), closes=t.date(campaign.closes))
    return fmt(t.campaign(campaign.text("closed")), closes=t.date(campaign.closes),
               signatures=t.number(campaign.outcome_signatures or 0))


@dataclass(frozen=True, slots=True)
class PageLink:
    """A button on the landing page."""

    label: str
    url: str
    primary: bool = False


def landing_links(campaign: Campaign, t: Translator, now: dt.datetime, *, code: str,
                  telegram: str | None, matrix: str | None) -> list[PageLink]:
    """Return the landing page's buttons: the chats first, then the signing link."""
    _ = t._
    links: list[PageLink] = []
    if telegram:
        links.append(PageLink(_("Open the bot in Telegram"),
                              f"https://t.me/{telegram}?start={code}", primary=True))
    if matrix:
        links.append(PageLink(_("Chat with the bot on Matrix"), f"https://matrix.to/#/{matrix}",
                              primary=not links))
    state = campaign.state(now)
    # Relative, so the page works under any public address, path prefix included.
    go = f"../go/{t.language}"
    if state is State.OPEN:
        links.append(PageLink(_("Sign the initiative"), go, primary=not links))
    else:
        links.append(PageLink(_("Official page"), go, primary=not links))
    links.append(PageLink(_("Campaign website"), campaign.website))
    return links


def landing_page(campaign: Campaign, t: Translator, now: dt.datetime,
                 links: list[PageLink]) -> str:
    """Return the page a shared /r/ link opens."""
    _ = t._
    name = t.campaign(campaign.name)
    tagline = t.campaign(campaign.text("tagline"))
    buttons = "\n".join(
        f'<a class="button{" primary" if link.primary else ""}" href="{esc(link.url)}">'
        f"{esc(link.label)}</a>" for link in links
    )
    # TRANSLATORS: on the web page a shared link opens; "the bot" is the campaign's chat bot.
    intro = _("Someone shared this with you. The bot explains the initiative, answers your "
              "questions about biometric mass surveillance and shows the signing rules for "
              "your country.")
    privacy = _("This page sets no cookies and loads nothing from other sites. Visits to this "
                "link are counted, but not who made them.")
    nav_label = _("Next steps")
    body = (
        f"<main>\n<h1>{esc(name)}</h1>\n<p class=\"tagline\">{esc(tagline)}</p>\n"
        f"{subset_html(status_text(campaign, t, now))}\n<p>{esc(intro)}</p>\n"
        f'<nav class="actions" aria-label="{esc(nav_label)}">\n{buttons}\n</nav>\n'
        f'<p class="muted">{esc(privacy)}</p>\n</main>'
    )
    head = (f'<meta property="og:title" content="{esc(name)}">\n'
            f'<meta property="og:description" content="{esc(tagline)}">\n')
    return document(t.language, name, body, head=head)


def error_texts(t: Translator, status: int) -> tuple[str, str]:
    """Return the title and the explanation of an error page for a status code."""
    _ = t._
    if status == 404:
        return _("Page not found"), _(
            "There is nothing at this address. If someone shared it with you, check that the "
            "link was copied completely.")
    if status == 429:
        return _("Too many requests"), _("Please wait a moment and try again.")
    if status == 401:
        return _("Sign-in needed"), _("This page is only for the campaign team.")
    if status >= 500:
        return _("Something went wrong"), _(
            "Sorry, something went wrong on our side. Please try again in a moment.")
    return _("This request did not work"), _("Please check the address and try again.")


def error_page(t: Translator, status: int, campaign: Campaign) -> str:
    """Return a small, friendly error page (never a stack trace)."""
    title, text = error_texts(t, status)
    name = t.campaign(campaign.name)
    # TRANSLATORS: followed by an HTTP status number, e.g. "Error 404".
    label = t._("Error")
    body = (f"<main>\n<h1>{esc(title)}</h1>\n<p>{esc(text)}</p>\n"
            f'<p><a href="{esc(campaign.website)}">{esc(name)}</a></p>\n'
            f'<p class="muted">{esc(label)} {status}</p>\n</main>')
    return document(t.language, f"{title} – {name}", body)
