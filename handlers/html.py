"""The HTML subset replies use, and safe ways to put user or data text into it."""

from __future__ import annotations

import html
import re

#: Tags both Telegram's HTML parse mode and Matrix clients render.
ALLOWED_TAGS = frozenset({"b", "i", "u", "s", "a", "code", "pre", "blockquote", "br"})
_TAG_RE = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>")


def esc(text: str) -> str:
    """Escape text for the HTML subset (safe inside elements and attribute values)."""
    return html.escape(text, quote=True)


def link(url: str, label: str) -> str:
    """Return an ``<a>`` element with an escaped URL and label."""
    return f'<a href="{esc(url)}">{esc(label)}</a>'


def tags_used(text: str) -> set[str]:
    """Return the lower-case tag names that occur in a text."""
    return {match.group(1).lower() for match in _TAG_RE.finditer(text)}


def strip_tags(text: str) -> str:
    """Turn subset HTML into plain text (``<br>`` becomes a newline)."""
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.IGNORECASE)
    return html.unescape(_TAG_RE.sub("", text))
