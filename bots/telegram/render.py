"""Neutral replies → Telegram messages: HTML parse mode, inline keyboards, 4096-char parts.

Decisions:
- Reply text is already safe subset HTML from the core. Telegram has no ``<br>``, so it becomes
  a newline; everything else passes as it is.
- A text longer than Telegram's limit is split at paragraph breaks, else line breaks, else
  spaces (a hard cut only for a giant word), never inside a tag or an entity. Tags open at a
  cut are closed at the end of one part and reopened at the start of the next. Buttons go on
  the last part only.
- Link buttons must be http(s) URLs with a host, or they are dropped (one bad URL makes
  Telegram reject the whole message). Action buttons carry the action as callback_data.
- ``Reply.image`` becomes a link button ("🖼") unless a button already opens that URL: Telegram
  fetches sendPhoto URLs itself, so it would fail for SVG and for addresses it cannot reach.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from handlers.html import strip_tags
from handlers.messages import MAX_ACTION_BYTES, ActionButton, Button, LinkButton, Reply

MAX_MESSAGE = 4096
IMAGE_LABEL = "🖼"
MAX_URL = 2048
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TOKEN_RE = re.compile(r"<[^>]*>|&#?[A-Za-z0-9]+;|[^<&]+|[<&]")
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_SEPARATOR_RE = re.compile(r"(\n\n|\n| )")
_SEPARATOR_LEVEL = {"\n\n": 3, "\n": 2, " ": 1}
VOID_TAGS = frozenset({"br"})


JsonButton = dict[str, str]
#: Bot API ``InlineKeyboardMarkup`` as JSON: ``{"inline_keyboard": [[button, ...], ...]}``.
Markup = dict[str, list[list[JsonButton]]]


@dataclass(frozen=True, slots=True)
class OutMessage:
    """One sendMessage: HTML text and an optional inline keyboard (Bot API JSON).

    Plain JSON rather than PTB's InlineKeyboardMarkup objects: replies are the hot path, and
    building and serialising those objects cost more than the rest of the rendering.
    """

    text: str
    markup: Markup | None = None
    html: bool = True

    def plain(self) -> OutMessage:
        """Return a fallback without parse mode: tags stripped, link buttons as text lines."""
        lines = [strip_tags(self.text)]
        rows: list[list[JsonButton]] = []
        for row in self.markup["inline_keyboard"] if self.markup else ():
            kept = [button for button in row if "callback_data" in button]
            lines += [f"{button['text']}: {button['url']}" for button in row if "url" in button]
            if kept:
                rows.append(kept)
        text = "\n".join(line for line in lines if line.strip())[:MAX_MESSAGE] or "…"
        return OutMessage(text, {"inline_keyboard": rows} if rows else None, html=False)

    def params(self, chat_id: int) -> dict[str, object]:
        """The sendMessage parameters."""
        params: dict[str, object] = {"chat_id": chat_id, "text": self.text}
        if self.html:
            params["parse_mode"] = "HTML"
        if self.markup is not None:
            params["reply_markup"] = self.markup
        return params


@dataclass(frozen=True, slots=True)
class _Atom:
    """A piece of HTML that is never cut: a tag, an entity, a word or a separator."""

    html: str
    visible: int
    level: int = 0  # 3 paragraph break, 2 line break, 1 space, 0 none


def render(reply: Reply, limit: int = MAX_MESSAGE) -> list[OutMessage]:
    """Turn one reply into the messages to send (buttons on the last one)."""
    markup = keyboard(reply)
    parts = split_html(_BR_RE.sub("\n", reply.text), limit)
    if not parts:
        return [OutMessage("…", markup)] if markup else []
    return [OutMessage(part) for part in parts[:-1]] + [OutMessage(parts[-1], markup)]


def keyboard(reply: Reply) -> Markup | None:
    """Build the inline keyboard, dropping buttons Telegram would refuse."""
    rows = [row for row in (_row(buttons) for buttons in reply.buttons) if row]
    image = reply.image
    if image and valid_url(image) and image not in {b.get("url") for row in rows for b in row}:
        rows.append([{"text": IMAGE_LABEL, "url": image}])
    return {"inline_keyboard": rows} if rows else None


def _row(buttons: tuple[Button, ...]) -> list[JsonButton]:
    out: list[JsonButton] = []
    for button in buttons:
        label = button.label.strip() or "·"
        if isinstance(button, LinkButton) and valid_url(button.url):
            out.append({"text": label, "url": button.url})
        elif isinstance(button, ActionButton) and 1 <= len(button.action.encode()) <= MAX_ACTION_BYTES:
            out.append({"text": label, "callback_data": button.action})
    return out


def valid_url(url: str) -> bool:
    """Tell whether a URL is one Telegram accepts on a button: http(s), a host, no spaces."""
    if not url or len(url) > MAX_URL or any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def visible_length(text: str) -> int:
    """Length Telegram counts after parsing, in UTF-16 code units (an upper bound)."""
    return _utf16(html.unescape(re.sub(r"<[^>]*>", "", text)))


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split subset HTML into parts of at most ``limit`` visible characters, tags balanced."""
    if not text.strip():
        return []
    if visible_length(text) <= limit:
        return [text]
    atoms = _atoms(text, max(1, limit // 2))
    parts = [_balanced(chunk, opened) for chunk, opened in _pack(atoms, limit)]
    return [part for part in parts if strip_tags(part).strip()]


def _atoms(text: str, longest: int) -> list[_Atom]:
    """Tokenize into tags, entities, words and separators; giant words are pre-cut."""
    atoms: list[_Atom] = []
    for token in _TOKEN_RE.findall(text):
        if token.startswith("<") and token.endswith(">"):
            atoms.append(_Atom(token, 0))
        elif token.startswith("&") and token.endswith(";"):
            atoms.append(_Atom(token, _utf16(html.unescape(token))))
        else:
            atoms += _text_atoms(token, longest)
    return atoms


def _text_atoms(token: str, longest: int) -> list[_Atom]:
    atoms: list[_Atom] = []
    for piece in _SEPARATOR_RE.split(token):
        if not piece:
            continue
        level = _SEPARATOR_LEVEL.get(piece, 0)
        if level:
            atoms.append(_Atom(piece, _utf16(piece), level))
            continue
        for start in range(0, len(piece), longest):
            chunk = piece[start:start + longest]
            atoms.append(_Atom(chunk, _utf16(chunk)))
    return atoms


def _pack(atoms: list[_Atom], limit: int) -> list[tuple[list[_Atom], list[str]]]:
    """Greedily fill parts, cutting after the strongest separator that keeps parts useful.

    Returns each part's atoms with the opening tags that were open where it starts.
    """
    parts: list[tuple[list[_Atom], list[str]]] = []
    stack: list[str] = []
    start = 0
    while start < len(atoms):
        end = _cut(atoms, start, limit)
        opened = list(stack)
        for atom in atoms[start:end]:
            _track(stack, atom.html)
        parts.append((atoms[start:end], opened))
        start = end
    return parts


def _cut(atoms: list[_Atom], start: int, limit: int) -> int:
    """Return the end index of the part starting at ``start``."""
    total, end = 0, start
    best: dict[int, tuple[int, int]] = {}  # level -> (latest cut after it, visible so far)
    while end < len(atoms) and total + atoms[end].visible <= limit:
        total += atoms[end].visible
        end += 1
        if atoms[end - 1].level:
            best[atoms[end - 1].level] = (end, total)
    if end == len(atoms):
        return end
    # The strongest break that still fills a quarter of the part; else the furthest break.
    for level in (3, 2, 1):
        if level in best and best[level][1] >= limit // 4:
            return best[level][0]
    if best:
        return max(cut for cut, _total in best.values())
    return max(end, start + 1)


def _track(stack: list[str], token: str) -> None:
    """Keep the stack of open tags (their full opening text) up to date."""
    match = _TAG_RE.match(token)
    if not match or not token.endswith(">"):
        return
    closing, name = match.group(1) == "/", match.group(2).lower()
    if name in VOID_TAGS or token.endswith("/>"):
        return
    if not closing:
        stack.append(token)
        return
    for index in range(len(stack) - 1, -1, -1):
        if _tag_name(stack[index]) == name:
            del stack[index:]
            return


def _tag_name(token: str) -> str:
    match = _TAG_RE.match(token)
    return match.group(2).lower() if match else ""


def _balanced(atoms: list[_Atom], opened: list[str]) -> str:
    """Reopen the tags open at the start, close those still open at the end."""
    stack = list(opened)
    for atom in atoms:
        _track(stack, atom.html)
    body = "".join(atom.html for atom in atoms).strip()
    closing = "".join(f"</{_tag_name(tag)}>" for tag in reversed(stack))
    return "".join(opened) + body + closing
