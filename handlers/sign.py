"""Signing: pick a country, get its rules and the right link for the collection state."""

from __future__ import annotations

import unicodedata

from handlers.campaign import Country, State
from handlers.context import Ctx
from handlers.html import esc
from handlers.i18n import fmt
from handlers.menus import back_row, grid, status_text
from handlers.messages import ActionButton, Button, LinkButton, Reply


async def country_menu(ctx: Ctx) -> list[Reply]:
    """Ask for the country the signature would count for."""
    countries = sorted(ctx.deps.campaign.countries, key=lambda code: _fold(ctx.t.country_name(code)))
    buttons: list[Button] = [
        ActionButton(ctx.t.country_name(code), f"sign:{code}") for code in countries
    ]
    _ = ctx.t._
    text = status_text(ctx) + "\n\n" + _(
        "Which country are you a citizen of? I will show you its rules."
    )
    return [Reply(text, (*grid(buttons, 3), back_row(ctx)))]


async def sign(ctx: Ctx, argument: str | None) -> list[Reply]:
    """Show the country picker, or one country's rules when given."""
    if not argument:
        return await country_menu(ctx)
    code = find_country(ctx, argument)
    if code is None:
        replies = [Reply(fmt(ctx.t._("I do not know the country “{name}”."), name=esc(argument[:40])))]
        return replies + await country_menu(ctx)
    return await country_rules(ctx, code)


def find_country(ctx: Ctx, text: str) -> str | None:
    """Find a member state by code (DE, EL/GR) or by its name in English or the reply language."""
    wanted = _fold(text.strip())
    if not wanted:
        return None
    aliases = {"el": "GR", "uk": None}
    if wanted in aliases:
        return aliases[wanted]
    english = ctx.deps.i18n.translator("en")
    for code in ctx.deps.campaign.countries:
        names = {code.lower(), _fold(ctx.t.country_name(code)), _fold(english.country_name(code))}
        if wanted in names:
            return code
    return None


async def country_rules(ctx: Ctx, code: str) -> list[Reply]:
    """Show a country's age limit, data asked for, threshold and the link for the state.

    After the collection closed, the closing note comes first ("these were the rules"), then
    the rules, then what people can do now.
    """
    campaign, t = ctx.deps.campaign, ctx.t
    country = campaign.countries[code]
    name = esc(t.country_name(code))
    _ = t._
    state = campaign.state(ctx.deps.clock())
    parts = [f"<b>{name}</b>"]
    if state is State.CLOSED:
        parts.append(fmt(t.campaign(campaign.text("sign_closed")), closes=t.date(campaign.closes)))
    rules = [fmt(_("• Minimum age to sign: {age}"), age=country.min_age),
             "• " + _("What the form asks for:") + " " + _data_text(ctx, country),
             fmt(_("• Signatures needed from {country}: {threshold}"), country=name,
                 threshold=t.number(country.threshold))]
    if country.note:
        rules.append(t.campaign(country.note))
    if state is not State.CLOSED:
        rules.append(t.campaign(campaign.text("abroad_hint")))
    parts.append("\n".join(rules))
    text, button = await _state_part(ctx, state, code)
    parts.append(text)
    buttons: tuple[tuple[Button, ...], ...] = (
        (button,), (ActionButton(_("🌍 Another country"), "sign"), *back_row(ctx))
    )
    return [Reply("\n\n".join(parts), buttons)]


def _data_text(ctx: Ctx, country: Country) -> str:
    key = {"A": "data_part_a", "B": "data_part_b"}.get(country.data, "data_unknown")
    return ctx.t.campaign(ctx.deps.campaign.text(key))


async def _state_part(ctx: Ctx, state: State, code: str) -> tuple[str, Button]:
    campaign, t = ctx.deps.campaign, ctx.t
    url = await sign_link(ctx, code, state)
    if state is State.OPEN:
        return status_text(ctx), LinkButton(t._("✍️ Sign now"), url)
    if state is State.BEFORE:
        return status_text(ctx), LinkButton(t._("Official page"), campaign.register_page(ctx.language))
    return t.campaign(campaign.text("follow_up")), LinkButton(t._("Official page"), url)


async def sign_link(ctx: Ctx, code: str, state: State) -> str:
    """Return the link for a country: our counting /go link when a public URL is set.

    Without a public web address nobody can reach /go, so the bot counts the click itself
    when it hands out the direct link.
    """
    settings, campaign = ctx.deps.settings, ctx.deps.campaign
    if settings.public_url_set:
        return f"{settings.public_url}/go/{ctx.language}/{code.lower()}"
    await ctx.deps.store.record_sign_click(ctx.language, code, ctx.today())
    if state is State.OPEN:
        return campaign.sign_url(ctx.language, code)
    return campaign.after_close_url(ctx.language)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
