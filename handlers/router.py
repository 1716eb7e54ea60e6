"""The conversation core: one neutral message in, translated neutral replies out.

The router negotiates the language, picks the handler for a command, a pressed button or free
text, and turns any failure into a short apology: a message never crashes the bot.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable

from handlers import account, admin, broadcast, faq, info, share, sign
from handlers.context import Ctx, Deps
from handlers.faq_match.langdetect import detect_language
from handlers.i18n import N_, negotiate, normalize_language
from handlers.identity import looks_like_code
from handlers.menus import main_menu
from handlers.messages import ActionButton, Incoming, Reply

log = logging.getLogger(__name__)

APOLOGY = N_("Sorry, something went wrong on my side. Please try again in a moment.")
MAX_TEXT = 2000  # longer texts get a friendly "please be brief"; nothing is stored either way
Handler = Callable[[Ctx, str | None], Awaitable[list[Reply]]]
_LINK_CODE_RE = re.compile(r"(?:/r/|[?&]start=)([A-Za-z0-9_-]{16})(?![A-Za-z0-9_-])")


def _no_arg(func: Callable[[Ctx], Awaitable[list[Reply]]]) -> Handler:
    async def wrapped(ctx: Ctx, _arg: str | None) -> list[Reply]:
        return await func(ctx)
    return wrapped


async def _faq_cmd(ctx: Ctx, arg: str | None) -> list[Reply]:
    if arg and arg in ctx.deps.campaign.faq:
        return await faq.answer(ctx, arg)
    if arg:
        return await faq.question(ctx, arg)
    return await faq.topic_menu(ctx)


async def _language_cmd(ctx: Ctx, arg: str | None) -> list[Reply]:
    code = normalize_language(arg) if arg else None
    return await info.set_language(ctx, code) if code else await info.language_menu(ctx)


async def _sub_action(ctx: Ctx, arg: str | None) -> list[Reply]:
    return await account.subscribe(ctx) if arg == "yes" else await account.updates_button(ctx)


async def _forget_action(ctx: Ctx, arg: str | None) -> list[Reply]:
    return await account.forget(ctx) if arg == "yes" else await account.forget_ask(ctx)


async def _privacy(ctx: Ctx, _arg: str | None) -> list[Reply]:
    return await faq.answer(ctx, "bot-privacy")


COMMANDS: dict[str, Handler] = {
    "start": lambda ctx, arg: info.start(ctx, arg),
    "help": _no_arg(info.help_),
    "menu": _no_arg(info.menu),
    "about": _no_arg(info.about),
    "faq": _faq_cmd,
    "ask": _faq_cmd,
    "sign": sign.sign,
    "share": _no_arg(share.share),
    "language": _language_cmd,
    "lang": _language_cmd,
    "subscribe": _no_arg(account.subscribe),
    "unsubscribe": _no_arg(account.unsubscribe),
    "stop": _no_arg(account.unsubscribe),
    "forget": _forget_action,
    "privacy": _privacy,
    "stats": _no_arg(admin.stats),
    "milestone": broadcast.milestone,
    "broadcast": broadcast.broadcast,
}

ACTIONS: dict[str, Handler] = {
    "menu": _no_arg(info.menu),
    "about": _no_arg(info.about),
    "faq": _faq_cmd,
    "sign": sign.sign,
    "share": _no_arg(share.share),
    "lang": _language_cmd,
    "sub": _sub_action,
    "unsub": _no_arg(account.unsubscribe),
    "forget": _forget_action,
    "help": _no_arg(info.help_),
    broadcast.ACTION: broadcast.action,
}


class Core:
    """Handles neutral messages for every adapter."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.commands = dict(COMMANDS)
        self.actions = dict(ACTIONS)

    async def handle(self, msg: Incoming) -> list[Reply]:
        """Answer one message; never raises."""
        started = time.perf_counter()
        try:
            ctx = await self._context(msg)
        except Exception:
            log.exception("could not prepare a %s message", msg.platform)
            # The stored language is out of reach (that may be what failed): use the hint.
            t = self.deps.i18n.translator(negotiate(None, msg.language_hint))
            return [Reply(t._(APOLOGY))]
        try:
            replies = await self._dispatch(ctx)
        except Exception:
            log.exception("handler failed on a %s message", msg.platform)
            return [Reply(ctx.t._(APOLOGY))]
        finally:
            log.debug("handled a %s message in %.1f ms", msg.platform, (time.perf_counter() - started) * 1e3)
        if ctx.language_detected and replies:
            replies.append(self._detected_note(ctx))
        return replies

    async def _context(self, msg: Incoming) -> Ctx:
        deps = self.deps
        person = deps.keyring.person_key(msg.platform, msg.user)
        stored = await deps.store.get_language(person)
        language = negotiate(stored[0] if stored else None, msg.language_hint)
        detected = False
        if stored is None and normalize_language(msg.language_hint) is None and _is_free_text(msg):
            guess, _score = detect_language(msg.text or "", deps.i18n.languages)
            if guess:
                await deps.store.set_language(person, guess, chosen=False)
                language, detected = guess, guess != "en"
        return Ctx(msg=msg, deps=deps, t=deps.i18n.translator(language), person=person,
                   language_detected=detected)

    async def _dispatch(self, ctx: Ctx) -> list[Reply]:
        msg = ctx.msg
        if msg.action is not None:
            return await self._action(ctx, msg.action)
        if msg.command is not None:
            return await self._command(ctx, msg.command, msg.args)
        return await self._text(ctx, msg.text or "")

    async def _action(self, ctx: Ctx, action: str) -> list[Reply]:
        name, _, arg = action.partition(":")
        handler = self.actions.get(name)
        if handler is None:
            return [Reply(ctx.t._("That button no longer works. Here is the menu again:"), main_menu(ctx))]
        return await handler(ctx, arg or None)

    async def _command(self, ctx: Ctx, command: str, args: tuple[str, ...]) -> list[Reply]:
        name = command.lower().lstrip("/!")
        handler = self.commands.get(name)
        if handler is None:
            text = ctx.t._("I do not know that command. Here is what I can do:")
            return [Reply(text)] + await info.help_(ctx)
        arg = " ".join(args).strip()[:200] or None
        return await handler(ctx, arg)

    async def _text(self, ctx: Ctx, text: str) -> list[Reply]:
        text = _clean(text)
        if not text:
            return [Reply(ctx.t._("I did not catch that. Type a question, or pick from the menu:"),
                          main_menu(ctx))]
        if len(text) > MAX_TEXT:
            return [Reply(ctx.t._("That is a long message! Please ask me a short question, "
                                  "or pick a topic:"), main_menu(ctx))]
        code = referral_code_in(text)
        if code is not None:
            return await info.start(ctx, code)
        return await faq.question(ctx, text)

    def _detected_note(self, ctx: Ctx) -> Reply:
        text = ctx.t._("I guessed your language from your message. Not right? Choose another:")
        return Reply(text, ((ActionButton(ctx.t._("🌐 Language"), "lang"),),))


def referral_code_in(text: str) -> str | None:
    """Return a referral code when the text is one, or is one of our share links."""
    stripped = text.strip()
    if looks_like_code(stripped) and any(ch.isdigit() or ch in "_-" for ch in stripped):
        return stripped
    match = _LINK_CODE_RE.search(stripped)
    if match and len(stripped) < 300 and " " not in stripped:
        return match.group(1)
    return None


def _clean(text: str) -> str:
    """Drop control and unassigned characters (binary-looking input), keep letters and marks."""
    kept = (ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return "".join(kept).strip()


def _is_free_text(msg: Incoming) -> bool:
    return msg.action is None and msg.command is None and bool(msg.text and msg.text.strip())
