"""Telegram updates → the core's neutral messages, and which updates the bot answers at all.

Rules:
- Private chats: text (commands included) is answered; stickers, photos and other media get a
  friendly "I can only read text"; service messages are ignored.
- Groups and supergroups: only commands (``/cmd`` or ``/cmd@thisbot``; ``/cmd@otherbot`` is
  someone else's), messages that mention ``@thisbot``, and replies to the bot's messages. Never
  free chatter, never media.
- Edited messages, channel posts and update types the bot has no use for are ignored silently.
- A button press (callback query) becomes ``Incoming(action=data)``; presses on inline-mode
  messages (no chat) and game buttons are not actions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import CallbackQuery, Chat, Message, MessageEntity, Update

from handlers.messages import TELEGRAM, ConversationId, Incoming, UserKey
from handlers.parsing import parse_command

#: Longer texts are cut before they reach the core (which answers "please be brief" anyway).
MAX_TEXT = 8192
_SPACES_RE = re.compile(r"[ \t]{2,}")
GROUP_TYPES = frozenset({Chat.GROUP, Chat.SUPERGROUP})
MEDIA_FIELDS = (
    "sticker", "photo", "video", "voice", "audio", "document", "animation", "video_note",
    "location", "venue", "contact", "poll", "dice", "game", "story",
)


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is on Telegram (from getMe)."""

    id: int
    username: str


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A private-chat message the bot cannot read (a sticker, a photo...)."""

    chat_id: int
    user_id: int
    language_hint: str | None


Routed = Incoming | Unsupported | None


def route(update: Update, me: BotIdentity) -> Routed:
    """Return what the core should see for an update, Unsupported, or None to ignore it."""
    if update.message is not None:
        return from_message(update.message, me)
    if update.callback_query is not None:
        return from_callback(update.callback_query)
    return None


def from_message(message: Message, me: BotIdentity) -> Routed:
    """Translate a new message, applying the private/group rules."""
    chat, user = message.chat, message.from_user
    # Decoded updates are not validated: a malformed one may lack a chat or carry odd types.
    if chat is None or user is None or user.is_bot or not isinstance(chat.id, int):
        return None
    if chat.type not in (Chat.PRIVATE, *GROUP_TYPES):
        return None
    is_group = chat.type in GROUP_TYPES
    text = message.text if isinstance(message.text, str) else None
    if text is None:
        if is_group or not any(getattr(message, name, None) for name in MEDIA_FIELDS):
            return None
        return Unsupported(chat.id, user.id, user.language_code)
    text = text[:MAX_TEXT]
    if text.startswith("/"):
        parsed = parse_command(text, ("/",), me.username)
        if parsed is not None:
            # The raw text travels along: a broadcast text keeps its line breaks.
            return _incoming(message, text=text, command=parsed[0], args=parsed[1])
        if is_group or "@" in text.split(maxsplit=1)[0]:
            return None  # addressed to another bot, or not a command we could read
    if is_group:
        addressed, text = _addressed(message, text, me)
        if not addressed:
            return None
    return _incoming(message, text=text)


def _incoming(message: Message, *, text: str | None = None, command: str | None = None,
              args: tuple[str, ...] = ()) -> Incoming:
    user = message.from_user
    assert user is not None  # checked by the caller
    return Incoming(
        platform=TELEGRAM, conversation=ConversationId(str(message.chat.id)),
        user=UserKey(str(user.id)), language_hint=user.language_code, text=text,
        command=command, args=args, is_group=message.chat.type in GROUP_TYPES,
    )


def _addressed(message: Message, text: str, me: BotIdentity) -> tuple[bool, str]:
    """Tell whether a group message mentions or replies to the bot; drop the mention."""
    # The text itself decides for @username (Telegram marks it as an entity too); an entity
    # is needed only for a mention by name (text_mention).
    mention = re.compile(rf"(?<![\w@])@{re.escape(me.username)}(?!\w)", re.IGNORECASE)
    addressed = bool(mention.search(text))
    text = mention.sub(" ", text)
    for entity, value in message.parse_entities([MessageEntity.TEXT_MENTION]).items():
        if entity.user is not None and entity.user.id == me.id:
            addressed = True
            text = text.replace(value, " ", 1)
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
        addressed = True
    return addressed, _SPACES_RE.sub(" ", text).strip()


def from_callback(query: CallbackQuery) -> Incoming | None:
    """Translate a button press on one of the bot's messages."""
    message = query.message
    if not isinstance(query.data, str) or message is None or query.from_user is None:
        return None
    chat = message.chat
    if chat is None or not isinstance(chat.id, int):
        return None
    if chat.type not in (Chat.PRIVATE, *GROUP_TYPES):
        return None
    return Incoming(
        platform=TELEGRAM, conversation=ConversationId(str(chat.id)),
        user=UserKey(str(query.from_user.id)), language_hint=query.from_user.language_code,
        action=query.data, is_group=chat.type in GROUP_TYPES,
    )


def chat_key(update: object) -> int | tuple[str, int] | None:
    """The key whose updates must be handled in order: the chat, or the inline user."""
    if not isinstance(update, Update):
        return None
    if update.inline_query is not None:
        return ("inline", update.inline_query.from_user.id)
    chat = update.effective_chat
    return chat.id if chat is not None else None
