"""Shared keyboards and the collection-status line."""

from __future__ import annotations

from handlers.campaign import State
from handlers.context import Ctx
from handlers.i18n import fmt
from handlers.messages import ActionButton, Button


def main_menu(ctx: Ctx) -> tuple[tuple[Button, ...], ...]:
    """Return the four main actions plus language and updates."""
    _ = ctx.t._
    return (
        (ActionButton(_("ℹ️ Learn more"), "about"), ActionButton(_("❓ Ask a question"), "faq")),
        (ActionButton(_("✍️ Sign"), "sign"), ActionButton(_("📣 Share"), "share")),
        (ActionButton(_("🌐 Language"), "lang"), ActionButton(_("🔔 Updates"), "sub")),
    )


def back_row(ctx: Ctx) -> tuple[Button, ...]:
    """Return a single 'main menu' button row."""
    return (ActionButton(ctx.t._("⬅️ Main menu"), "menu"),)


def grid(buttons: list[Button], columns: int) -> tuple[tuple[Button, ...], ...]:
    """Lay buttons out in rows of ``columns``."""
    return tuple(tuple(buttons[i : i + columns]) for i in range(0, len(buttons), columns))


def status_text(ctx: Ctx) -> str:
    """Return the campaign text that fits the collection state right now."""
    campaign, t = ctx.deps.campaign, ctx.t
    state = campaign.state(ctx.deps.clock())
    if state is State.BEFORE:
        return fmt(t.campaign(campaign.text("before_open")), opens=t.date(campaign.opens))
    if state is State.OPEN:
        return fmt(t.campaign(campaign.text("during")), closes=t.date(campaign.closes))
    signatures = t.number(campaign.outcome_signatures or 0)
    return fmt(
        t.campaign(campaign.text("closed")), closes=t.date(campaign.closes), signatures=signatures
    )
