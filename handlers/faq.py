"""FAQ: the topic menu, one answer, and free-text questions through the matcher."""

from __future__ import annotations

from handlers.campaign import FAQ_TOPICS
from handlers.context import Ctx
from handlers.html import esc
from handlers.menus import back_row, grid
from handlers.messages import ActionButton, Button, Reply

GREETING = "_greeting"
THANKS = "_thanks"


async def topic_menu(ctx: Ctx, intro: str | None = None) -> list[Reply]:
    """Show every FAQ topic as a button."""
    buttons = [_topic_button(ctx, topic) for topic in FAQ_TOPICS]
    text = intro or ctx.t._("Pick a topic, or just type your question:")
    return [Reply(text, (*grid(buttons, 2), back_row(ctx)))]


def _topic_button(ctx: Ctx, topic: str) -> Button:
    entry = ctx.deps.campaign.faq[topic]
    return ActionButton(ctx.t.campaign(entry.title), f"faq:{topic}")


async def answer(ctx: Ctx, topic: str, related: tuple[str, ...] = ()) -> list[Reply]:
    """Answer one topic; offer related topics and the menu."""
    entry = ctx.deps.campaign.faq.get(topic)
    if entry is None:
        return await topic_menu(ctx, ctx.t._("I do not know that topic. Here are the ones I know:"))
    text = f"<b>{esc(ctx.t.campaign(entry.title))}</b>\n\n{ctx.t.campaign(entry.answer)}"
    rows: list[tuple[Button, ...]] = [
        (_topic_button(ctx, other),) for other in related[:2] if other in ctx.deps.campaign.faq
    ]
    rows.append((ActionButton(ctx.t._("❓ More questions"), "faq"), *back_row(ctx)))
    return [Reply(text, tuple(rows))]


async def question(ctx: Ctx, text: str) -> list[Reply]:
    """Match a typed question to a topic; say so honestly when unsure."""
    match = ctx.deps.matcher.match(text, ctx.language)
    _ = ctx.t._
    if match.topic == GREETING:
        return [Reply(_("Hello! Ask me anything about the initiative, or pick a topic:"),
                      (*grid([_topic_button(ctx, t) for t in FAQ_TOPICS[:4]], 2), back_row(ctx)))]
    if match.topic == THANKS:
        return [Reply(_("You are welcome! Anything else I can help with?"), (back_row(ctx),))]
    if match.topic in ctx.deps.campaign.faq:
        return await answer(ctx, match.topic, match.suggestions)
    suggestions = [_topic_button(ctx, t) for t in match.suggestions if t in ctx.deps.campaign.faq]
    intro = _("I am not sure I understood. Did you mean one of these?") if suggestions else _(
        "I am not sure I understood. Pick a topic, or try asking in other words:")
    rows: list[tuple[Button, ...]] = [(button,) for button in suggestions[:3]]
    rows.append((ActionButton(_("📋 All topics"), "faq"), *back_row(ctx)))
    return [Reply(intro, tuple(rows))]
