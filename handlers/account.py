"""Subscriptions to milestone updates, and forgetting a person."""

from __future__ import annotations

import logging

from handlers.context import Ctx, command_prefix
from handlers.i18n import fmt
from handlers.menus import back_row
from handlers.messages import ActionButton, Reply

log = logging.getLogger(__name__)


async def subscribe(ctx: Ctx) -> list[Reply]:
    """Opt in to milestone updates (private chats only: a group is not a person's choice)."""
    _ = ctx.t._
    if ctx.msg.is_group:
        return [Reply(_("Updates are personal: please subscribe in a private chat with me."))]
    new = await ctx.deps.store.subscribe(ctx.person, ctx.msg.platform, ctx.msg.conversation,
                                         ctx.language)
    text = _("🔔 Subscribed! I will send you the campaign's milestone updates, in your language.") \
        if new else _("You are already subscribed.")
    text += "\n" + fmt(_("To stop, press the button or type {command}."),
                       command=command_prefix(ctx.msg.platform) + "unsubscribe")
    return [Reply(text, ((ActionButton(_("🔕 Stop updates"), "unsub"),), back_row(ctx)))]


async def unsubscribe(ctx: Ctx) -> list[Reply]:
    """End the subscription and erase the stored chat address."""
    _ = ctx.t._
    removed = await ctx.deps.store.unsubscribe(ctx.person)
    text = _("🔕 Done: no more updates, and I erased your chat address.") if removed else _(
        "You were not subscribed, so there was nothing to stop.")
    return [Reply(text, (back_row(ctx),))]


async def updates_button(ctx: Ctx) -> list[Reply]:
    """Explain updates and offer the right toggle."""
    _ = ctx.t._
    if await ctx.deps.store.is_subscribed(ctx.person):
        return [Reply(_("You are subscribed to milestone updates."),
                      ((ActionButton(_("🔕 Stop updates"), "unsub"),), back_row(ctx)))]
    text = _("Would you like a short message when the campaign reaches a milestone? "
             "I keep only your chat address and language for that, and erase them when you stop.")
    return [Reply(text, ((ActionButton(_("🔔 Yes, subscribe"), "sub:yes"),), back_row(ctx)))]


async def forget_ask(ctx: Ctx) -> list[Reply]:
    """Ask before erasing."""
    _ = ctx.t._
    text = _("This erases everything tied to you: your language choice and your subscription. "
             "Anonymous counts stay, as they are not tied to anyone. Erase now?")
    return [Reply(text, ((ActionButton(_("🗑 Yes, erase"), "forget:yes"),), back_row(ctx)))]


async def forget(ctx: Ctx) -> list[Reply]:
    """Erase what is tied to the person and confirm, in the language they used."""
    removed = await ctx.deps.store.forget_person(ctx.person)
    for hook in ctx.deps.forget_hooks:
        await hook(ctx.msg.platform, ctx.msg.user)
    log.info("forget: erased %d rows", removed)
    return [Reply(ctx.t._("🗑 Done. I erased everything tied to you. Goodbye, or welcome back any time!"))]
