"""Sharing: the person's own referral links and how many people came through them."""

from __future__ import annotations

from urllib.parse import quote

from handlers.context import Ctx
from handlers.html import esc
from handlers.i18n import fmt
from handlers.menus import back_row
from handlers.messages import Button, LinkButton, Reply


def share_links(ctx: Ctx) -> dict[str, str]:
    """Return the person's links: the web link, plus a Telegram deep link when known."""
    deps = ctx.deps
    code = deps.keyring.referral_code(ctx.msg.platform, ctx.msg.user)
    links = {"web": f"{deps.settings.public_url}/r/{code}"}
    username = deps.handles.get("telegram")
    if username:
        links["telegram"] = f"https://t.me/{username}?start={code}"
    return links


async def share(ctx: Ctx) -> list[Reply]:
    """Show the person's referral links, their count, and ways to pass them on."""
    deps, t = ctx.deps, ctx.t
    _ = t._
    code = deps.keyring.referral_code(ctx.msg.platform, ctx.msg.user)
    count = await deps.store.arrivals_for_code(code)
    links = share_links(ctx)
    main_link = links.get("telegram", links["web"])
    lines = [_("📣 <b>Your personal link</b>"), _(
        "Share it with friends. I count, anonymously, how many people arrive through it: "
        "I never learn who they are, and nobody can tell from the link that it is yours."),
        "", f"<code>{esc(main_link)}</code>"]
    if "telegram" in links:
        lines.append(fmt(_("Web link: {link}"), link=f"<code>{esc(links['web'])}</code>"))
    lines += ["", fmt(t.ngettext("So far {count} person came through your link.",
                                 "So far {count} people came through your link.", count),
                      count=t.number(count))]
    message = t.campaign(deps.campaign.text("tagline")) + " " + deps.campaign.hashtag
    share_url = f"https://t.me/share/url?url={quote(main_link, safe='')}&text={quote(message, safe='')}"
    rows: list[tuple[Button, ...]] = [(LinkButton(_("Share on Telegram"), share_url),)]
    image = None
    if deps.settings.public_url_set:
        image = f"{deps.settings.public_url}/qr/{code}.svg"
        rows.append((LinkButton(_("QR code for posters"), image),))
    rows.append(back_row(ctx))
    return [Reply("\n".join(lines), tuple(rows), image=image)]
