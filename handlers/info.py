"""Start, help, about and the language choice."""

from __future__ import annotations

import logging

from handlers.context import Ctx, command_prefix
from handlers.html import esc, link
from handlers.i18n import N_, fmt
from handlers.menus import back_row, grid, main_menu, status_text
from handlers.messages import ActionButton, Button, LinkButton, Reply

log = logging.getLogger(__name__)

#: The command menu (Telegram's setMyCommands, /help). Descriptions are translated on use.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Start and main menu")),
    ("about", N_("About the initiative")),
    ("faq", N_("Questions and answers")),
    ("sign", N_("How to sign, by country")),
    ("share", N_("Your personal share link")),
    ("language", N_("Choose your language")),
    ("subscribe", N_("Get milestone updates")),
    ("unsubscribe", N_("Stop milestone updates")),
    ("forget", N_("Erase everything tied to you")),
    ("help", N_("What I can do")),
)


async def start(ctx: Ctx, code: str | None = None) -> list[Reply]:
    """Greet the person, count a referral arrival if the start carried a valid code."""
    _ = ctx.t._
    replies: list[Reply] = []
    if code is not None:
        note = await _count_arrival(ctx, code)
        if note:
            replies.append(Reply(note))
    name = ctx.t.campaign(ctx.deps.campaign.name)
    text = fmt(_("👋 Hello! I am the <b>{name}</b> bot."), name=esc(name))
    text += "\n\n" + ctx.t.campaign(ctx.deps.campaign.text("tagline"))
    text += "\n\n" + status_text(ctx)
    text += "\n\n" + _(
        "I can explain the initiative, answer your questions about biometric mass "
        "surveillance, show the signing rules for your country and give you a personal link "
        "to share. What would you like to do?"
    )
    replies.append(Reply(text, main_menu(ctx)))
    return replies


async def _count_arrival(ctx: Ctx, code: str) -> str | None:
    """Count one arrival per person and code; explain a code that is not ours."""
    deps = ctx.deps
    if not deps.keyring.is_valid_code(code):
        return ctx.t._("That invitation code does not look right, but you are very welcome anyway!")
    if code == deps.keyring.referral_code(ctx.msg.platform, ctx.msg.user):
        return None  # opening your own link is not an arrival
    marker = deps.keyring.arrival_marker(ctx.msg.platform, ctx.msg.user, code)
    await deps.store.record_arrival(code, ctx.msg.platform, ctx.today(), marker)
    return None


async def menu(ctx: Ctx) -> list[Reply]:
    """Show the main menu."""
    return [Reply(ctx.t._("What would you like to do?"), main_menu(ctx))]


async def help_(ctx: Ctx) -> list[Reply]:
    """List the commands."""
    _ = ctx.t._
    prefix = command_prefix(ctx.msg.platform)
    lines = [f"{prefix}{name} — {esc(_(description))}" for name, description in COMMANDS]
    text = _("Here is what I can do:") + "\n" + "\n".join(lines)
    text += "\n\n" + _("You can also just type a question in your own words.")
    return [Reply(text, main_menu(ctx))]


async def about(ctx: Ctx) -> list[Reply]:
    """Explain what the initiative is, who is behind it, why, and where it stands."""
    t, campaign = ctx.t, ctx.deps.campaign
    _ = t._
    parts = [
        f"<b>{esc(t.campaign(campaign.name))}</b>",
        t.campaign(campaign.text("summary")),
        "<b>" + esc(_("What it asks for")) + "</b>\n" + t.campaign(campaign.text("demands")),
        "<b>" + esc(_("Who is behind it")) + "</b>\n" + t.campaign(campaign.text("organisers")),
        "<b>" + esc(_("Why it matters")) + "</b>\n" + t.campaign(campaign.text("why")),
        "<b>" + esc(_("Where it stands")) + "</b>\n" + status_text(ctx),
    ]
    register = link(campaign.register_page(ctx.language), _("Official register entry"))
    parts.append(fmt(_("Registration number: {number}"), number=esc(campaign.registration_number))
                 + " · " + register)
    buttons: tuple[tuple[Button, ...], ...] = (
        (LinkButton(_("Campaign website"), campaign.website),),
        (ActionButton(_("❓ Questions"), "faq"), ActionButton(_("✍️ Sign"), "sign")),
        back_row(ctx),
    )
    return [Reply("\n\n".join(parts), buttons)]


async def language_menu(ctx: Ctx) -> list[Reply]:
    """Offer the 24 languages, each in its own name."""
    buttons: list[Button] = [
        ActionButton(ctx.t.language_name(code), f"lang:{code}") for code in ctx.deps.i18n.languages
    ]
    text = ctx.t._("Choose your language:")
    return [Reply(text, (*grid(buttons, 3), back_row(ctx)))]


async def set_language(ctx: Ctx, code: str) -> list[Reply]:
    """Remember the person's chosen language and confirm in it."""
    code = code.lower().strip()
    if code not in ctx.deps.i18n.languages:
        return await language_menu(ctx)
    store = ctx.deps.store
    await store.set_language(ctx.person, code, chosen=True)
    await store.set_subscription_language(ctx.person, code)
    t = ctx.deps.i18n.translator(code)
    text = fmt(t._("Done: I will answer you in {language}."), language=esc(t.language_name(code)))
    ctx.t = t
    return [Reply(text, main_menu(ctx))]
