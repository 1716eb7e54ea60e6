"""Admin-only views: the anonymous figures."""

from __future__ import annotations

from handlers.context import Ctx
from handlers.html import esc
from handlers.i18n import fmt
from handlers.messages import Reply
from handlers.ports import Stats


def refusal(ctx: Ctx) -> list[Reply]:
    """Politely refuse an admin command to someone who is not an admin."""
    return [Reply(ctx.t._("Sorry, only the campaign team can use that command."))]


async def stats(ctx: Ctx) -> list[Reply]:
    """Show the anonymous figures to an admin."""
    if not ctx.is_admin:
        return refusal(ctx)
    figures = await ctx.deps.store.stats(top=5)
    return [Reply(render_stats(ctx, figures))]


def render_stats(ctx: Ctx, s: Stats) -> str:
    """Render the figures as a short HTML-subset report."""
    t = ctx.t
    _ = t._
    n = t.number
    lines = [_("📊 <b>Anonymous figures</b>"),
             fmt(_("Arrivals through shared links: {count}"), count=n(s.arrivals_total))]
    lines += [f"  • {esc(platform)}: {n(count)}" for platform, count in sorted(s.arrivals_by_platform.items())]
    lines.append(fmt(_("Clicks on signing links: {count}"), count=n(s.sign_clicks_total)))
    lines += [f"  • {esc(lang)}: {n(count)}" for lang, count in sorted(s.sign_clicks_by_language.items())]
    lines.append(fmt(_("Subscribers to updates: {count}"), count=n(s.subscribers)))
    if s.top_codes:
        lines.append(_("Most shared links (anonymous codes):"))
        lines += [f"  • <code>{esc(code)}</code>: {n(count)}" for code, count in s.top_codes]
    return "\n".join(lines)
