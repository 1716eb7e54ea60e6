"""Reading a Matrix text message: edits, reply quotes, mentions, commands and numbers.

Pure functions on the event content, so the rules are testable without a homeserver.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from handlers.parsing import parse_command

#: Longer texts are cut before the core sees them; the core asks for brevity above 2,000.
MAX_INBOUND_CHARS = 4_000
COMMAND_PREFIXES = ("!", "/")
_NUMBER_RE = re.compile(r"\d{1,3}")
_LEADING_PUNCT = " \t\n:,;-–—"


@dataclass(frozen=True, slots=True)
class Typed:
    """What a person typed, once reply quotes and the bot's mention are gone."""

    text: str
    command: str | None = None
    args: tuple[str, ...] = ()
    #: Set when the message is a bare number (``2``) or a numeric command (``!2``).
    number: int | None = None
    #: True when the message mentions the bot (always answered, also in rooms).
    addressed: bool = False


def relation(content: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return ``m.relates_to`` as a mapping (empty when absent or malformed)."""
    related = content.get("m.relates_to")
    return related if isinstance(related, Mapping) else {}


def is_edit(content: Mapping[str, Any]) -> bool:
    """Tell whether the content edits an earlier message (edits are never answered)."""
    return relation(content).get("rel_type") == "m.replace" or "m.new_content" in content


def strip_reply_fallback(body: str, content: Mapping[str, Any]) -> str:
    """Drop the ``> <@user> quoted text`` lines clients put in front of a reply."""
    if "m.in_reply_to" not in relation(content):
        return body
    lines = body.split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index and index < len(lines) and not lines[index].strip():
        index += 1
    return "\n".join(lines[index:])


def is_mentioned(body: str, content: Mapping[str, Any], own_id: str,
                 names: tuple[str, ...]) -> bool:
    """Tell whether the message mentions the bot by id, pill, intentional mention or name."""
    if own_id in body:
        return True
    formatted = content.get("formatted_body")
    if isinstance(formatted, str) and (own_id in formatted or quote(own_id) in formatted):
        return True
    mentions = content.get("m.mentions")
    if isinstance(mentions, Mapping):
        user_ids = mentions.get("user_ids")
        if isinstance(user_ids, list) and own_id in user_ids:
            return True
    return _leading_name(body, names) is not None


def _leading_name(body: str, names: tuple[str, ...]) -> str | None:
    """Return the name the body starts with as ``Name:`` or ``Name,`` (how clients address)."""
    stripped = body.lstrip()
    lowered = stripped.lower()
    for name in sorted(names, key=len, reverse=True):
        follows = stripped[len(name):len(name) + 1]
        if name and lowered.startswith(name.lower()) and follows in (":", ","):
            return stripped[: len(name)]
    return None


def strip_mention(body: str, own_id: str, names: tuple[str, ...]) -> str:
    """Remove the bot's id or name from the text and return what is left to handle."""
    text = body.replace(own_id, " ")
    leading = _leading_name(text, names)
    if leading is not None:
        text = text.lstrip()[len(leading):]
    else:
        for name in sorted(names, key=len, reverse=True):
            found = text.lower().find(name.lower()) if name else -1
            if found >= 0:
                text = text[:found].rstrip() + " " + text[found + len(name):].lstrip()
                break
    return text.strip().lstrip(_LEADING_PUNCT).strip()


def read_text(body: str, content: Mapping[str, Any], *, own_id: str, names: tuple[str, ...],
              direct: bool) -> Typed | None:
    """Decide what a text message asks; None when it is not for the bot (room chatter, edits)."""
    if is_edit(content):
        return None
    text = strip_reply_fallback(body, content)[:MAX_INBOUND_CHARS]
    addressed = is_mentioned(text, content, own_id, names)
    if addressed:
        text = strip_mention(text, own_id, names)
        if not text:
            return Typed(text="", command="start", addressed=True)
    parsed = parse_command(text, COMMAND_PREFIXES)
    if parsed is not None:
        name, args = parsed
        number = int(name) if _NUMBER_RE.fullmatch(name) else None
        return Typed(text=text, command=name, args=args, number=number, addressed=addressed)
    stripped = text.strip()
    number = int(stripped) if _NUMBER_RE.fullmatch(stripped) else None
    if not direct and not addressed and number is None:
        return None
    return Typed(text=text, number=number, addressed=addressed)
