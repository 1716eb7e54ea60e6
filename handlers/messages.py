"""Neutral message types shared by every adapter and the conversation core.

Adapters translate platform events into :class:`Incoming` and render :class:`Reply` objects;
handlers never see a platform type. Reply text is a small HTML subset (``b i u s a code pre
blockquote br``) that Telegram's HTML parse mode and Matrix's ``formatted_body`` both render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NewType

Platform = NewType("Platform", str)
Platform.__doc__ = "A platform name: ``telegram``, ``matrix``, ``console`` or ``web``."

ConversationId = NewType("ConversationId", str)
ConversationId.__doc__ = "Where a reply goes: a Telegram chat id, a Matrix room id, a console session."

UserKey = NewType("UserKey", str)
UserKey.__doc__ = (
    "The person's opaque per-platform identity (Telegram user id, Matrix user id, console name). "
    "Never stored raw: storage only sees keyed hashes of it, except in opt-in subscriptions."
)

TELEGRAM = Platform("telegram")
MATRIX = Platform("matrix")
CONSOLE = Platform("console")
WEB = Platform("web")

#: Telegram's callback_data limit; every action string must fit it.
MAX_ACTION_BYTES = 64


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a person did: typed text, a command with arguments, or a pressed button."""

    platform: Platform
    conversation: ConversationId
    user: UserKey
    language_hint: str | None = None
    text: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    action: str | None = None
    #: True in group chats and rooms with more than two members: the core keeps replies short
    #: and never stores a subscription address that is a group.
    is_group: bool = False


@dataclass(frozen=True, slots=True)
class LinkButton:
    """A button that opens a URL."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class ActionButton:
    """A button that sends ``action`` back to the core when pressed (fits 64 bytes)."""

    label: str
    action: str

    def __post_init__(self) -> None:
        if len(self.action.encode()) > MAX_ACTION_BYTES:
            raise ValueError(f"action too long for a button: {self.action!r}")


Button = LinkButton | ActionButton


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to show: HTML-subset text, rows of buttons and an optional image URL."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)
    image: str | None = None

    def flat_buttons(self) -> list[Button]:
        """Return the buttons row by row, left to right."""
        return [button for row in self.buttons for button in row]
