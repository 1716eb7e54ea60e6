"""The console adapter: an interactive terminal chat, or a JSON-lines interface for scripts.

``--json``: every stdin line is one message (``/press ACTION`` presses an action button) and
every reply is printed as one JSON object: ``{"text", "buttons", "image"}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import IO, Any

from handlers.html import strip_tags
from handlers.messages import (
    CONSOLE,
    ActionButton,
    ConversationId,
    Incoming,
    LinkButton,
    Reply,
    UserKey,
)
from handlers.parsing import parse_command

HandleFn = Callable[[Incoming], Awaitable[list[Reply]]]
MAX_LINE = 200_000


def to_incoming(line: str, user: str, language: str | None) -> Incoming:
    """Turn one console line into a neutral message."""
    base = Incoming(CONSOLE, ConversationId(f"console:{user}"), UserKey(user), language)
    stripped = line.strip()
    if stripped.startswith("/press "):
        return replace(base, action=stripped[len("/press "):].strip())
    parsed = parse_command(stripped)
    if parsed is not None:
        return replace(base, command=parsed[0], args=parsed[1], text=line.rstrip("\r\n"))
    return replace(base, text=line.rstrip("\r\n"))


def reply_to_json(reply: Reply) -> dict[str, Any]:
    """Return the JSON shape of one reply."""
    buttons: list[dict[str, str]] = []
    for button in reply.flat_buttons():
        if isinstance(button, LinkButton):
            buttons.append({"label": button.label, "url": button.url})
        else:
            buttons.append({"label": button.label, "action": button.action})
    return {"text": reply.text, "buttons": buttons, "image": reply.image}


def render_terminal(reply: Reply, numbered: list[str]) -> str:
    """Render a reply for a human at a terminal; action buttons get numbers to type."""
    lines = [strip_tags(reply.text)]
    for button in reply.flat_buttons():
        if isinstance(button, ActionButton):
            numbered.append(button.action)
            lines.append(f"  [{len(numbered)}] {button.label}")
        else:
            lines.append(f"  ↗ {button.label}: {button.url}")
    if reply.image:
        lines.append(f"  🖼 {reply.image}")
    return "\n".join(lines)


async def run_json(handle: HandleFn, user: str, language: str | None,
                   stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> None:
    """Serve the JSON-lines interface until end of input."""
    while True:
        line = await asyncio.to_thread(stdin.readline, MAX_LINE)
        if not line:
            return
        for reply in await handle(to_incoming(line, user, language)):
            stdout.write(json.dumps(reply_to_json(reply), ensure_ascii=False) + "\n")
        stdout.flush()


async def run_interactive(handle: HandleFn, user: str, language: str | None,
                          stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> None:
    """Chat at the terminal; a number presses the matching button of the last reply."""
    stdout.write("reclaim-bot console — type a question, /help, or a button number; Ctrl-D quits.\n")
    numbered: list[str] = []
    first = [Incoming(CONSOLE, ConversationId(f"console:{user}"), UserKey(user), language,
                      command="start")]
    for message in first:
        numbered = await _show(handle, message, stdout)
    while True:
        stdout.write("> ")
        stdout.flush()
        line = await asyncio.to_thread(stdin.readline, MAX_LINE)
        if not line:
            stdout.write("\n")
            return
        stripped = line.strip()
        if stripped.isdigit() and 0 < int(stripped) <= len(numbered):
            line = f"/press {numbered[int(stripped) - 1]}"
        numbered = await _show(handle, to_incoming(line, user, language), stdout)


async def _show(handle: HandleFn, message: Incoming, stdout: IO[str]) -> list[str]:
    numbered: list[str] = []
    for reply in await handle(message):
        stdout.write(render_terminal(reply, numbered) + "\n\n")
    stdout.flush()
    return numbered
