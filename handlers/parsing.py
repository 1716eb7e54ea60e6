"""Turning typed text into a command and arguments, the same way on every platform."""

from __future__ import annotations

MAX_ARGS = 20


def parse_command(
    text: str, prefixes: tuple[str, ...] = ("/",), bot_name: str | None = None
) -> tuple[str, tuple[str, ...]] | None:
    """Split ``/cmd@bot arg1 arg2`` into ``("cmd", ("arg1", "arg2"))``; None if not a command.

    A command addressed to another bot (``/start@otherbot``) is not ours: None.
    """
    stripped = text.strip()
    if not stripped or stripped[0] not in prefixes:
        return None
    head, *rest = stripped[1:].split(maxsplit=1)[:2] if len(stripped) > 1 else ("",)
    name, _, target = head.partition("@")
    if not name or not name.replace("_", "").isalnum() or len(name) > 32:
        return None
    if target and bot_name and target.lower() != bot_name.lower():
        return None
    args = tuple(rest[0].split()[:MAX_ARGS]) if rest else ()
    return name.lower(), args
