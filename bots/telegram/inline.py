"""Inline mode: typing ``@thebot`` in any chat offers a share card with the sharer's link.

The card is written in the sharer's language (their stored choice, else the query's
``language_code``) and carries their referral deep link, so arrivals through it are counted
like any other share. Results are personal (``is_personal``) and cached only briefly.
"""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
)
from telegram.constants import ParseMode

from handlers.context import Deps
from handlers.html import esc, strip_tags
from handlers.i18n import Translator, fmt
from handlers.messages import TELEGRAM

CACHE_SECONDS = 30
RESULT_ID = "share"


def deep_link(username: str, code: str) -> str:
    """Return the bot's deep link carrying a referral code."""
    return f"https://t.me/{username}?start={code}"


def share_card(deps: Deps, t: Translator, user_id: int, username: str) -> InlineQueryResultArticle:
    """Build the one inline result: a share card with the sharer's own referral link."""
    _ = t._
    campaign = deps.campaign
    code = deps.keyring.referral_code(TELEGRAM, str(user_id))
    link = deep_link(username, code)
    name = t.campaign(campaign.name)
    tagline = t.campaign(campaign.text("tagline"))
    lines = [
        f"<b>{esc(name)}</b>",
        tagline,
        "",
        _("Ask this bot anything about the initiative, in your own language, and see how you "
          "can take part:"),
        esc(link),
        "",
        esc(campaign.hashtag),
    ]
    button = InlineKeyboardButton(_("Open the bot"), url=link)
    return InlineQueryResultArticle(
        id=RESULT_ID,
        title=fmt(_("Share {name}"), name=name),
        description=strip_tags(tagline),
        input_message_content=InputTextMessageContent(
            "\n".join(lines), parse_mode=ParseMode.HTML
        ),
        reply_markup=InlineKeyboardMarkup([[button]]),
    )
