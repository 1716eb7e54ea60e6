"""The bot's Telegram profile per language: command menu, description, short description.

Set at start-up in a background task for the default (English, no language_code) and each of
the 24 languages, and only where Telegram's current value differs, so a restart costs reads,
not writes (Telegram rate-limits these setters).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Bot, BotCommand

from bots.telegram.sender import Sender
from handlers.campaign import Campaign
from handlers.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, I18n, Translator, fmt
from handlers.info import COMMANDS

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 512
MAX_SHORT_DESCRIPTION = 120
MAX_COMMAND_DESCRIPTION = 256

SHORT_DESCRIPTION = N_(
    "{name}: answers about this European Citizens' Initiative, how to sign, and a link to share."
)
DESCRIPTION = N_(
    "I am the bot of {name}, a European Citizens' Initiative. Ask me anything about it in your "
    "own words: what it asks for, who is behind it and where it stands. I show the signing "
    "rules for your country and give you a personal link to share. I keep no names and no "
    "messages. Press Start to begin."
)


@dataclass(frozen=True, slots=True)
class Profile:
    """What Telegram should show in one language."""

    commands: tuple[tuple[str, str], ...]
    description: str
    short_description: str


def clip(text: str, limit: int) -> str:
    """Shorten a text to ``limit`` characters, ending with an ellipsis if cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def profile_for(t: Translator, campaign: Campaign) -> Profile:
    """Build the profile in one language."""
    name = t.campaign(campaign.name)
    commands = tuple((command, clip(t._(text), MAX_COMMAND_DESCRIPTION))
                     for command, text in COMMANDS)
    return Profile(
        commands=commands,
        description=clip(fmt(t._(DESCRIPTION), name=name), MAX_DESCRIPTION),
        short_description=clip(fmt(t._(SHORT_DESCRIPTION), name=name), MAX_SHORT_DESCRIPTION),
    )


async def sync_profile(bot: Bot, sender: Sender, i18n: I18n, campaign: Campaign) -> int:
    """Make Telegram's per-language profile match ours; return how many values were set."""
    changed = 0
    for language in (None, *LANGUAGES):
        wanted = profile_for(i18n.translator(language or DEFAULT_LANGUAGE), campaign)
        changed += await _sync_language(bot, sender, language, wanted)
    log.info("Telegram profile checked in %d languages; %d value(s) updated",
             len(LANGUAGES) + 1, changed)
    return changed


async def _sync_language(bot: Bot, sender: Sender, language: str | None, wanted: Profile) -> int:
    changed = 0
    current = await sender.call(lambda: bot.get_my_commands(language_code=language))
    if tuple((c.command, c.description) for c in current) != wanted.commands:
        commands = [BotCommand(command, text) for command, text in wanted.commands]
        await sender.call(lambda: bot.set_my_commands(commands, language_code=language))
        changed += 1
    description = await sender.call(lambda: bot.get_my_description(language_code=language))
    if description.description != wanted.description:
        await sender.call(lambda: bot.set_my_description(wanted.description,
                                                         language_code=language))
        changed += 1
    short = await sender.call(lambda: bot.get_my_short_description(language_code=language))
    if short.short_description != wanted.short_description:
        await sender.call(lambda: bot.set_my_short_description(wanted.short_description,
                                                               language_code=language))
        changed += 1
    return changed
