"""Turning neutral replies into Matrix ``m.notice`` contents.

Matrix has no buttons: an action button becomes a numbered line the person answers with the
number, a link button stays a link (``<a href>`` in ``formatted_body``, ``label: url`` in
``body``). Numbering runs on across all replies to one message, so every number is unambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from handlers.html import esc, strip_tags
from handlers.messages import ActionButton, Reply

HTML_FORMAT = "org.matrix.custom.html"
#: Events are capped at 65,536 bytes, and encryption inflates them by about a third.
MAX_CONTENT_CHARS = 24_000
_PRE_RE = re.compile(r"(<pre\b.*?</pre>)", re.IGNORECASE | re.DOTALL)


@dataclass(slots=True)
class Rendered:
    """The event contents to send, and the actions their numbers stand for."""

    contents: list[dict[str, Any]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)


def to_html(text: str) -> str:
    """Turn reply text (HTML subset with newlines) into ``formatted_body`` HTML."""
    # Matrix clients collapse newlines in HTML, Telegram does not: make them explicit,
    # except inside <pre>, where they already render.
    parts = _PRE_RE.split(text)
    return "".join(part if _PRE_RE.fullmatch(part) else part.replace("\n", "<br>")
                   for part in parts)


def render_reply(reply: Reply, actions: list[str]) -> dict[str, Any]:
    """Return the ``m.notice`` content of one reply; its action buttons extend ``actions``."""
    html_lines: list[str] = []
    plain_lines: list[str] = []
    for button in reply.flat_buttons():
        if isinstance(button, ActionButton):
            actions.append(button.action)
            html_lines.append(f"<b>{len(actions)}.</b> {esc(button.label)}")
            plain_lines.append(f"{len(actions)}. {button.label}")
        else:
            html_lines.append(f'<a href="{esc(button.url)}">{esc(button.label)}</a>')
            plain_lines.append(f"{button.label}: {button.url}")
    if reply.image:
        html_lines.append(f'<a href="{esc(reply.image)}">{esc(reply.image)}</a>')
        plain_lines.append(reply.image)
    html = to_html(reply.text)
    plain = strip_tags(reply.text)
    if html_lines:
        html += "<br><br>" + "<br>".join(html_lines)
        plain += "\n\n" + "\n".join(plain_lines)
    return notice_content(plain, html)


def notice_content(plain: str, html: str | None) -> dict[str, Any]:
    """Build an ``m.notice`` content; an oversized one falls back to shortened plain text."""
    content: dict[str, Any] = {"msgtype": "m.notice", "body": plain}
    if html is not None and len(plain) + len(html) <= MAX_CONTENT_CHARS:
        content["format"] = HTML_FORMAT
        content["formatted_body"] = html
    elif len(plain) > MAX_CONTENT_CHARS:
        content["body"] = plain[: MAX_CONTENT_CHARS - 1] + "…"
    # Empty intentional mentions: a reply never pings anyone, whatever names it contains.
    content["m.mentions"] = {}
    return content


def render_replies(replies: list[Reply]) -> Rendered:
    """Render every reply to one message, numbering action buttons across all of them."""
    rendered = Rendered()
    for reply in replies:
        rendered.contents.append(render_reply(reply, rendered.actions))
    return rendered


def edit_content(original_event_id: str, new: dict[str, Any]) -> dict[str, Any]:
    """Wrap new content as an ``m.replace`` edit of an earlier event."""
    fallback: dict[str, Any] = {"msgtype": new["msgtype"], "body": "* " + new["body"]}
    if "formatted_body" in new:
        fallback["format"] = HTML_FORMAT
        fallback["formatted_body"] = "* " + new["formatted_body"]
    inner = {key: value for key, value in new.items() if key != "m.mentions"}
    return {
        **fallback,
        "m.new_content": inner,
        "m.relates_to": {"rel_type": "m.replace", "event_id": original_event_id},
        "m.mentions": {},
    }
