"""Milestone and free-text broadcasts: compose, preview, confirm, watch and control (admins only).

Composing happens in chat (``/milestone 250000``, ``/broadcast en Hello``) or on the command
line (``reclaim-bot broadcast milestone``). A draft lives in the outbox, one per admin; nothing
is sent before an explicit confirm. The ``serve`` process's broadcast worker delivers: each
subscriber gets the message in their own language, numbers written their way, with a one-tap
"stop updates" button. The outbox is a port (:class:`Outbox`); ``storage/outbox.py``
implements it, and the composition root attaches it with :func:`attach_outbox`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from handlers.admin import refusal
from handlers.config import Settings
from handlers.context import Ctx, Deps, command_prefix
from handlers.html import esc
from handlers.i18n import LANGUAGES, N_, Translator, fmt, normalize_language
from handlers.messages import ActionButton, Button, Reply
from handlers.parsing import MAX_ARGS

log = logging.getLogger(__name__)

MILESTONE = "milestone"
TEXT = "text"
DRAFT = "draft"
RUNNING = "running"
PAUSED = "paused"
DONE = "done"
CANCELLED = "cancelled"
ACTIVE_STATES = (RUNNING, PAUSED)
FINAL_STATES = (DONE, CANCELLED)
CONTROLS = ("pause", "resume", "cancel")
#: Platforms a broadcast can reach (console subscriptions are local test identities).
PLATFORMS = ("telegram", "matrix")
#: Longest admin text per language; leaves room for the footer under Telegram's 4096.
MAX_TEXT = 3500
ACTION = "bc"
BAR_WIDTH = 16
#: The router hands a command at most this many characters of arguments.
ROUTER_ARG_LIMIT = 200

_STATE_NAMES = {
    DRAFT: N_("draft"),
    RUNNING: N_("sending"),
    PAUSED: N_("paused"),
    DONE: N_("finished"),
    CANCELLED: N_("cancelled"),
}
_NUMBER_RE = re.compile(r"^\d{1,3}(?:[.,' _\u00a0\u202f]\d{3})+$|^\d+$")
_LANG_LIST_RE = re.compile(r"^[a-z]{2}(?:,[a-z]{2})*$")


# -- what a broadcast is ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Content:
    """What a broadcast says: a milestone number, or the admin's text per language."""

    kind: str
    number: int | None = None
    #: ``(language, text)`` pairs; a finished job keeps the languages with empty texts.
    texts: tuple[tuple[str, str], ...] = ()
    #: The language whose text subscribers without their own get; None skips them.
    fallback: str | None = "en"

    def text_for(self, language: str) -> str | None:
        """Return the admin's text for a language, or None."""
        return dict(self.texts).get(language) or None

    @property
    def text_languages(self) -> tuple[str, ...]:
        """Return the languages the admin wrote a text for."""
        return tuple(sorted(language for language, _text in self.texts))

    def with_text(self, language: str, text: str) -> Content:
        """Return a copy with one language's text set (a milestone draft becomes a text one)."""
        texts = {} if self.kind != TEXT else dict(self.texts)
        texts[language] = text
        fallback = self.fallback if self.kind == TEXT else "en"
        return Content(TEXT, texts=tuple(sorted(texts.items())), fallback=fallback)

    def to_json(self) -> str:
        """Serialise for the outbox."""
        if self.kind == MILESTONE:
            return json.dumps({"number": self.number})
        return json.dumps({"texts": dict(self.texts), "fallback": self.fallback},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, kind: str, raw: str) -> Content:
        """Read what :meth:`to_json` wrote."""
        data: dict[str, Any] = json.loads(raw or "{}")
        if kind == MILESTONE:
            return cls(MILESTONE, number=int(data.get("number") or 0))
        texts = tuple(sorted((str(k), str(v)) for k, v in (data.get("texts") or {}).items()))
        return cls(TEXT, texts=texts, fallback=data.get("fallback"))

    def emptied(self) -> Content:
        """Return the content a finished job keeps: the milestone, or only the languages."""
        return replace(self, texts=tuple((language, "") for language, _text in self.texts))


@dataclass(frozen=True, slots=True)
class Target:
    """Who gets a broadcast: platforms and languages (empty means all)."""

    platforms: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Progress:
    """Where the admin's progress message goes while the job runs."""

    platform: str
    address: str
    language: str


@dataclass(frozen=True, slots=True)
class JobStatus:
    """A broadcast job as the admin sees it."""

    id: int
    state: str
    content: Content
    target: Target
    revision: int = 1
    total: int = 0
    sent: int = 0
    failed: int = 0
    gone: int = 0
    left: int = 0
    rate: float = 0.0
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    failures: Mapping[str, int] | None = None

    @property
    def handled(self) -> int:
        """Return how many recipients are done with, one way or another."""
        return self.sent + self.failed + self.gone

    @property
    def fraction(self) -> float:
        """Return the share of the job that is behind us (1.0 when finished)."""
        if self.state in FINAL_STATES:
            return 1.0
        done = self.total - self.left
        return min(max(done / self.total, 0.0), 1.0) if self.total else 0.0


class Outbox(Protocol):
    """The durable broadcast queue, as handlers and the CLI use it."""

    async def draft(self, owner: str) -> JobStatus | None:
        """Return the admin's current draft, if any."""
        ...

    async def save_draft(self, owner: str, content: Content, target: Target) -> JobStatus:
        """Create or replace the admin's draft (its revision goes up)."""
        ...

    async def discard_draft(self, owner: str) -> bool:
        """Drop the admin's draft; return whether there was one."""
        ...

    async def audience(self, target: Target) -> dict[str, int]:
        """Count the subscribers a resolved target reaches, per language."""
        ...

    async def delivering(self) -> tuple[str, ...]:
        """Return the platforms a broadcast worker (in any process) delivers on right now."""
        ...

    async def start(self, job_id: int, target: Target, *, revision: int | None = None,
                    progress: Progress | None = None) -> JobStatus | None:
        """Queue a draft for delivery to a resolved target; None if it is no longer a draft."""
        ...

    async def create(self, content: Content, target: Target, *,
                     progress: Progress | None = None) -> JobStatus:
        """Create and queue a job in one step (the command line)."""
        ...

    async def status(self, job_id: int | None = None) -> JobStatus | None:
        """Return one job, or the newest that is not a draft."""
        ...

    async def control(self, job_id: int | None, action: str) -> JobStatus | None:
        """Pause, resume or cancel a job (the newest active one when no id is given)."""
        ...


_OUTBOXES: weakref.WeakKeyDictionary[object, Outbox] = weakref.WeakKeyDictionary()


def attach_outbox(deps: Deps, outbox: Outbox) -> None:
    """Make broadcasts available to this core's handlers (the composition root calls this)."""
    _OUTBOXES[deps.store] = outbox


def outbox_of(deps: Deps) -> Outbox | None:
    """Return the outbox attached to these services, if any."""
    return _OUTBOXES.get(deps.store)


# -- rendering --------------------------------------------------------------------------------


def stop_row(t: Translator) -> tuple[Button, ...]:
    """Return the one-tap 'stop updates' button every broadcast carries."""
    return (ActionButton(t._("🔕 Stop updates"), "unsub"),)


def render_message(t: Translator, content: Content) -> Reply | None:
    """Return what a subscriber gets in ``t``'s language; None when that language is skipped."""
    if content.kind == MILESTONE:
        count = content.number or 0
        body = fmt(t.ngettext("🎉 We passed {count} signature!", "🎉 We passed {count} signatures!",
                              count), count=t.number(count))
        body += "\n" + t._("Thank you for being part of it!")
    else:
        text = content.text_for(t.language)
        if text is None and content.fallback:
            text = content.text_for(content.fallback)
        if text is None:
            return None
        body = esc(text)
    footer = t._("You get this because you subscribed to campaign updates.")
    return Reply(f"{body}\n\n<i>{footer}</i>", (stop_row(t),))


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """Return a text progress bar such as ``▓▓▓▓░░░░``."""
    filled = min(width, max(0, math.floor(fraction * width + 1e-9)))
    return "▓" * filled + "░" * (width - filled)


def describe(t: Translator, content: Content) -> str:
    """Return a short name for a job: 'milestone 250,000' or 'message (de, en)'."""
    if content.kind == MILESTONE:
        return fmt(t._("milestone {count}"), count=t.number(content.number or 0))
    return fmt(t._("message ({languages})"), languages=", ".join(content.text_languages))


def eta_text(t: Translator, seconds: float) -> str:
    """Return a rough, translated time left."""
    if seconds < 60:
        return t._("less than a minute left")
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return fmt(t.ngettext("about {n} minute left", "about {n} minutes left", minutes),
                   n=t.number(minutes))
    hours = round(minutes / 60)
    return fmt(t.ngettext("about {n} hour left", "about {n} hours left", hours), n=t.number(hours))


def render_status(t: Translator, s: JobStatus) -> str:
    """Return the progress text: state, bar, sent, failed, left, rate and ETA."""
    _ = t._
    n = t.number
    head = fmt(_("📣 <b>Broadcast #{id}</b> · {what} · {state}"), id=s.id,
               what=esc(describe(t, s.content)), state=_(_STATE_NAMES.get(s.state, s.state)))
    lines = [head, f"{progress_bar(s.fraction)} {n(round(s.fraction * 100))} %"]
    lines.append(fmt(_("Sent {sent} · failed {failed} · left {left} (of {total})"),
                     sent=n(s.sent), failed=n(s.failed + s.gone), left=n(s.left), total=n(s.total)))
    if s.gone:
        lines.append(fmt(t.ngettext("{n} subscription ended (blocked or deleted account).",
                                    "{n} subscriptions ended (blocked or deleted accounts).",
                                    s.gone), n=n(s.gone)))
    if s.state == RUNNING and s.rate > 0:
        rate = fmt(_("{rate} per second"), rate=n(round(s.rate, 1)))
        lines.append(f"{rate} · {eta_text(t, s.left / s.rate)}" if s.left else rate)
    return "\n".join(lines)


def status_buttons(t: Translator, s: JobStatus) -> tuple[tuple[Button, ...], ...]:
    """Return the control buttons that fit the job's state."""
    _ = t._
    if s.state == RUNNING:
        row: tuple[Button, ...] = (ActionButton(_("⏸ Pause"), f"{ACTION}:pause:{s.id}"),
                                   ActionButton(_("⏹ Cancel"), f"{ACTION}:cancel:{s.id}"))
    elif s.state == PAUSED:
        row = (ActionButton(_("▶️ Resume"), f"{ACTION}:resume:{s.id}"),
               ActionButton(_("⏹ Cancel"), f"{ACTION}:cancel:{s.id}"))
    else:
        return ()
    return (row,)


def status_reply(t: Translator, s: JobStatus) -> Reply:
    """Return the progress message: text plus the control buttons."""
    return Reply(render_status(t, s), status_buttons(t, s))


# -- targets ----------------------------------------------------------------------------------


def configured_platforms(settings: Settings, delivering: Sequence[str] = ()) -> tuple[str, ...]:
    """Return the platforms broadcasts can reach: configured here, or served by a live worker.

    With several replicas only one runs Matrix; a milestone composed on another one must
    still reach Matrix subscribers, so workers announce their platforms in the outbox.
    """
    enabled = {"telegram": settings.telegram_enabled, "matrix": settings.matrix_enabled}
    return tuple(p for p in PLATFORMS if enabled[p] or p in delivering)


def resolve_target(settings: Settings, content: Content, target: Target,
                   delivering: Sequence[str] = ()) -> Target:
    """Return the target with explicit platforms, and languages narrowed when others are skipped."""
    available = configured_platforms(settings, delivering)
    platforms = tuple(p for p in (target.platforms or available) if p in available)
    languages = target.languages
    if content.kind == TEXT and content.text_for(content.fallback or "") is None:
        wanted = languages or LANGUAGES
        languages = tuple(lang for lang in wanted if content.text_for(lang) is not None)
    return Target(platforms, languages)


def parse_target(tokens: Sequence[str]) -> tuple[Target, list[str]]:
    """Split targeting tokens (platform names, ``de,fr`` lists) from the others."""
    platforms: list[str] = []
    languages: list[str] = []
    rest: list[str] = []
    for token in tokens:
        low = token.lower().strip()
        if low in PLATFORMS:
            platforms.append(low)
        elif _LANG_LIST_RE.match(low) and all(normalize_language(c) == c for c in low.split(",")):
            languages += low.split(",")
        else:
            rest.append(token)
    return Target(tuple(dict.fromkeys(platforms)), tuple(dict.fromkeys(languages))), rest


def parse_number(token: str) -> int | None:
    """Read a milestone such as ``250000``, ``250,000`` or ``250.000``."""
    token = token.strip()
    if not _NUMBER_RE.match(token):
        return None
    value = int(re.sub(r"\D", "", token))
    return value if 0 < value < 10**12 else None


# -- previews ---------------------------------------------------------------------------------


def _target_line(t: Translator, target: Target, total: int) -> str:
    platforms = ", ".join(target.platforms) or "—"
    line = fmt(t.ngettext("Goes to {count} subscriber on {platforms}.",
                          "Goes to {count} subscribers on {platforms}.", total),
               count=t.number(total), platforms=esc(platforms))
    if target.languages:
        line += " " + fmt(t._("Languages: {languages}."), languages=", ".join(target.languages))
    return line


def _preview_lines(ctx: Ctx, content: Content, audience: Mapping[str, int]) -> list[str]:
    lines: list[str] = []
    for language, count in sorted(audience.items()):
        if not count:
            continue
        reply = render_message(ctx.deps.i18n.translator(language), content)
        head = f"<b>{esc(language)}</b> · {ctx.t.number(count)}"
        if reply is None:
            lines.append(f"{head}: " + ctx.t._("skipped (no text in this language)"))
        elif content.kind == MILESTONE:
            lines.append(f"{head}: {reply.text.split(chr(10))[0]}")
        elif content.text_for(language) is None:
            lines.append(f"{head}: " + fmt(ctx.t._("gets the {language} text"),
                                            language=esc(content.fallback or "")))
        else:
            lines.append(f"{head}: " + ctx.t._("own text, shown above"))
    return lines


async def preview(ctx: Ctx, outbox: Outbox, job: JobStatus) -> list[Reply]:
    """Show each language version of a draft, who gets it, and the confirm buttons."""
    _ = ctx.t._
    target = resolve_target(ctx.deps.settings, job.content, job.target, await outbox.delivering())
    audience = await outbox.audience(target) if target.platforms else {}
    total = sum(audience.values())
    replies: list[Reply] = []
    if job.content.kind == TEXT:
        for language in job.content.text_languages:
            version = render_message(ctx.deps.i18n.translator(language), job.content)
            if version is not None:
                title = fmt(_("Preview, {language}:"), language=esc(language))
                replies.append(Reply(f"<b>{title}</b>\n\n{version.text}"))
    title = fmt(_("📣 <b>Draft broadcast #{id}</b>: {what}"), id=job.id,
                what=esc(describe(ctx.t, job.content)))
    lines = [title, _target_line(ctx.t, target, total), *_preview_lines(ctx, job.content, audience)]
    rows: list[tuple[Button, ...]] = []
    if job.content.kind == TEXT:
        lines.append(_fallback_line(ctx.t, job.content))
        rows.append(_fallback_row(ctx.t, job))
    if not target.platforms:
        lines.append(_("No platform is configured for broadcasts, so nothing can be sent."))
    elif total:
        label = fmt(_("✅ Send to {count}"), count=ctx.t.number(total))
        rows.append((ActionButton(label, f"{ACTION}:go:{job.id}:{job.revision}"),
                     ActionButton(_("✖ Discard"), f"{ACTION}:no:{job.id}")))
    else:
        lines.append(_("No subscriber matches, so there is nothing to send."))
        rows.append((ActionButton(_("✖ Discard"), f"{ACTION}:no:{job.id}"),))
    replies.append(Reply("\n".join(lines), tuple(rows)))
    return replies


def _fallback_line(t: Translator, content: Content) -> str:
    if content.fallback and content.text_for(content.fallback) is not None:
        return fmt(t._("Subscribers in other languages get the {language} text."),
                   language=esc(content.fallback))
    return t._("Subscribers in other languages are skipped.")


def _fallback_row(t: Translator, job: JobStatus) -> tuple[Button, ...]:
    return (ActionButton(t._("🇬🇧 Others get English"), f"{ACTION}:fb:{job.id}:en"),
            ActionButton(t._("⏭ Skip others"), f"{ACTION}:fb:{job.id}:skip"))


# -- commands ---------------------------------------------------------------------------------


def _unavailable(ctx: Ctx) -> list[Reply]:
    return [Reply(ctx.t._("Broadcasts are not available in this process. Use the running bot "
                          "or the command line (reclaim-bot broadcast)."))]


async def milestone(ctx: Ctx, arg: str | None) -> list[Reply]:
    """``/milestone 250000 [telegram|matrix] [de,fr]``: draft a milestone broadcast and preview it."""
    if not ctx.is_admin:
        return refusal(ctx)
    outbox = outbox_of(ctx.deps)
    if outbox is None:
        return _unavailable(ctx)
    target, rest = parse_target((arg or "").split())
    number = parse_number(rest[0]) if len(rest) == 1 else None
    if number is None:
        return [Reply(_milestone_usage(ctx))]
    job = await outbox.save_draft(ctx.person, Content(MILESTONE, number=number), target)
    return await preview(ctx, outbox, job)


def _milestone_usage(ctx: Ctx) -> str:
    p = command_prefix(ctx.msg.platform)
    return fmt(ctx.t._("Usage: {example} — the number of signatures, then optionally a platform "
                       "(telegram, matrix) and languages (de,fr)."),
               example=f"<code>{p}milestone 250000</code>")


def broadcast_usage(ctx: Ctx) -> str:
    """Return the help text of /broadcast."""
    p = command_prefix(ctx.msg.platform) + "broadcast"
    return "\n".join([
        ctx.t._("📣 <b>Broadcasts</b>"),
        fmt(ctx.t._("{cmd} — add your text in one language to the draft"),
            cmd=f"<code>{p} en Hello all</code>"),
        fmt(ctx.t._("{cmd} — who gets it (platform, languages; 'all' resets)"),
            cmd=f"<code>{p} to telegram de,fr</code>"),
        fmt(ctx.t._("{cmd} — others get English, or nothing"),
            cmd=f"<code>{p} fallback en|skip</code>"),
        fmt(ctx.t._("{cmd} — show the draft again, or drop it"),
            cmd=f"<code>{p} preview|discard</code>"),
        fmt(ctx.t._("{cmd} — watch or steer a running broadcast"),
            cmd=f"<code>{p} status|pause|resume|cancel [#]</code>"),
        fmt(ctx.t._("{cmd} — a milestone, in every subscriber's language"),
            cmd=f"<code>{command_prefix(ctx.msg.platform)}milestone 250000</code>"),
    ])


async def broadcast(ctx: Ctx, arg: str | None) -> list[Reply]:
    """``/broadcast ...``: compose a free-text broadcast, or watch and steer one."""
    if not ctx.is_admin:
        return refusal(ctx)
    outbox = outbox_of(ctx.deps)
    if outbox is None:
        return _unavailable(ctx)
    tokens = (arg or "").split()
    head = tokens[0].lower() if tokens else ""
    if head in ("status", *CONTROLS):
        return await _steer(ctx, outbox, head, tokens[1:2])
    if head in ("preview", "discard", "fallback", "to"):
        return await _edit_draft(ctx, outbox, head, tokens[1:])
    language = normalize_language(head) if len(head) == 2 else None
    if language is None or language != head:
        return [Reply(broadcast_usage(ctx))]
    if _maybe_cut(ctx, arg or ""):
        return [Reply(ctx.t._("That text arrived cut short (this chat passes only about 20 words "
                              "with a command), so I did not add it. Please send a shorter "
                              "text."))]
    return await _add_text(ctx, outbox, language, _text_after(ctx, arg or "", 2))


def _maybe_cut(ctx: Ctx, arg: str) -> bool:
    """Tell whether the router may have shortened the text (adapters that pass no raw text)."""
    if ctx.msg.text:
        return False
    return len(ctx.msg.args) >= MAX_ARGS or len(arg) >= ROUTER_ARG_LIMIT


def _text_after(ctx: Ctx, arg: str, words: int) -> str:
    """Return the text after the command and ``words - 1`` argument words, newlines kept."""
    raw = ctx.msg.text or ""
    if raw.strip()[:1] in ("/", "!"):
        parts = raw.strip().split(None, words)
        if len(parts) > words:
            return parts[words].strip()
    return " ".join(arg.split()[words - 1:]).strip()


async def _add_text(ctx: Ctx, outbox: Outbox, language: str, text: str) -> list[Reply]:
    if not text:
        return [Reply(broadcast_usage(ctx))]
    if len(text) > MAX_TEXT:
        return [Reply(fmt(ctx.t._("That text is too long: at most {max} characters, please."),
                          max=ctx.t.number(MAX_TEXT)))]
    draft = await outbox.draft(ctx.person)
    content = (draft.content if draft else Content(TEXT)).with_text(language, text)
    job = await outbox.save_draft(ctx.person, content, draft.target if draft else Target())
    return await preview(ctx, outbox, job)


async def _edit_draft(ctx: Ctx, outbox: Outbox, verb: str, args: Sequence[str]) -> list[Reply]:
    if verb == "discard":
        gone = await outbox.discard_draft(ctx.person)
        return [Reply(ctx.t._("Draft discarded.") if gone else ctx.t._("You have no draft."))]
    draft = await outbox.draft(ctx.person)
    if draft is None:
        return [Reply(ctx.t._("You have no draft."))]
    content, target = draft.content, draft.target
    if verb == "fallback" and content.kind == TEXT and args and args[0].lower() in ("en", "skip"):
        content = replace(content, fallback=None if args[0].lower() == "skip" else "en")
    elif verb == "to":
        target = Target() if [a.lower() for a in args] == ["all"] else parse_target(args)[0]
    elif verb != "preview":
        return [Reply(broadcast_usage(ctx))]
    if (content, target) != (draft.content, draft.target):
        draft = await outbox.save_draft(ctx.person, content, target)
    return await preview(ctx, outbox, draft)


async def _steer(ctx: Ctx, outbox: Outbox, verb: str, args: Sequence[str]) -> list[Reply]:
    job_id = int(args[0].lstrip("#")) if args and args[0].lstrip("#").isdigit() else None
    if verb == "status":
        job = await outbox.status(job_id)
    else:
        job = await outbox.control(job_id, verb)
        if job is None:
            return [Reply(ctx.t._("There is no running or paused broadcast to change."))]
    if job is None:
        return [Reply(ctx.t._("No broadcast yet."))]
    return [status_reply(ctx.t, job)]


async def action(ctx: Ctx, arg: str | None) -> list[Reply]:
    """Buttons ``bc:go|no|fb|pause|resume|cancel:<job>[:...]``."""
    if not ctx.is_admin:
        return refusal(ctx)
    outbox = outbox_of(ctx.deps)
    if outbox is None:
        return _unavailable(ctx)
    verb, _sep, rest = (arg or "").partition(":")
    job_text, _sep, extra = rest.partition(":")
    if not job_text.isdigit():
        return [Reply(broadcast_usage(ctx))]
    job_id = int(job_text)
    if verb in CONTROLS or verb == "status":
        return await _steer(ctx, outbox, verb, [job_text])
    if verb == "go":
        return await confirm(ctx, outbox, job_id, int(extra) if extra.isdigit() else None)
    draft = await outbox.draft(ctx.person)
    if draft is None or draft.id != job_id:
        return [Reply(ctx.t._("That draft is gone: it was sent, discarded or replaced."))]
    if verb == "no":
        await outbox.discard_draft(ctx.person)
        return [Reply(ctx.t._("Draft discarded."))]
    if verb == "fb" and extra in ("en", "skip"):
        return await _edit_draft(ctx, outbox, "fallback", [extra])
    return [Reply(broadcast_usage(ctx))]


async def confirm(ctx: Ctx, outbox: Outbox, job_id: int, revision: int | None) -> list[Reply]:
    """Queue the admin's draft, if the confirmed preview is still what the draft says."""
    _ = ctx.t._
    draft = await outbox.draft(ctx.person)
    if draft is None or draft.id != job_id:
        return [Reply(_("That draft is gone: it was sent, discarded or replaced."))]
    if revision is not None and revision != draft.revision:
        note = Reply(_("The draft changed after that preview. Here is the current one:"))
        return [note, *await preview(ctx, outbox, draft)]
    target = resolve_target(ctx.deps.settings, draft.content, draft.target,
                            await outbox.delivering())
    if not target.platforms:
        return [Reply(_("No platform is configured for broadcasts, so nothing can be sent."))]
    progress = None
    if ctx.msg.platform in PLATFORMS:
        progress = Progress(ctx.msg.platform, ctx.msg.conversation, ctx.language)
    job = await outbox.start(job_id, target, revision=draft.revision, progress=progress)
    if job is None:
        return [Reply(_("That draft is gone: it was sent, discarded or replaced."))]
    log.info("broadcast %d queued for %d recipients", job.id, job.total)
    text = fmt(ctx.t.ngettext("📣 Broadcast #{id} is on its way to {count} subscriber.",
                              "📣 Broadcast #{id} is on its way to {count} subscribers.", job.total),
               id=job.id, count=ctx.t.number(job.total))
    if progress is None:
        p = command_prefix(ctx.msg.platform)
        text += "\n" + fmt(_("Follow it with {command}."), command=f"{p}broadcast status")
    return [Reply(text)]
