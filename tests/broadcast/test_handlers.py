"""Composing broadcasts in chat: admins only, previews per language, explicit confirm, control."""

from __future__ import annotations

import gettext
import io

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from handlers.broadcast import (
    MILESTONE,
    PAUSED,
    RUNNING,
    TEXT,
    Content,
    JobStatus,
    Target,
    progress_bar,
    render_message,
    render_status,
)
from handlers.context import Deps
from handlers.i18n import Translator
from handlers.messages import MAX_ACTION_BYTES, TELEGRAM, Reply
from handlers.router import Core
from storage.outbox import SqlOutbox
from storage.repositories import SqlStore
from tests.broadcast.conftest import add_subscribers
from tests.conftest import BEFORE, CLOSED, OPEN, Clock, actions, message, texts


def admin(command: str, *args: str, action: str | None = None, text: str | None = None) -> object:
    """A message from the Telegram admin (telegram:42 in the test settings)."""
    return message(command=command or None, args=args, action=action, user="42",
                   platform=TELEGRAM, lang="en", text=text)


def _go(replies: list[Reply]) -> str:
    return next(a for a in actions(replies) if a.startswith("bc:go:"))


async def test_non_admin_is_refused_and_nothing_is_queued(bc_core: Core, outbox: SqlOutbox,
                                                          store: SqlStore) -> None:
    await add_subscribers(store, 3)
    for msg in (message(command="milestone", args=("1000",), user="7", platform=TELEGRAM),
                message(command="broadcast", args=("en", "hi"), user="7", platform=TELEGRAM),
                message(command="broadcast", args=("status",), user="7", platform=TELEGRAM),
                message(action="bc:go:1:1", user="7", platform=TELEGRAM),
                message(action="bc:cancel:1", user="7", platform=TELEGRAM)):
        replies = await bc_core.handle(msg)
        assert "only the campaign team" in texts(replies)
    assert await outbox.status() is None
    assert await outbox.draft(bc_core.deps.keyring.person_key("telegram", "7")) is None


async def test_milestone_preview_confirm_and_progress_address(bc_core: Core, outbox: SqlOutbox,
                                                              store: SqlStore) -> None:
    await add_subscribers(store, 6)  # en, de, fr
    replies = await bc_core.handle(admin("milestone", "250000"))
    text = texts(replies)
    assert "250,000" in text and "250.000" in text and "250\u202f000" in text
    assert "6 subscribers on telegram" in text
    assert all(len(a.encode()) <= MAX_ACTION_BYTES for a in actions(replies))
    assert await outbox.status() is None  # nothing before the confirm
    go = _go(replies)
    confirmed = await bc_core.handle(admin("", action=go))
    assert "on its way to 6 subscribers" in texts(confirmed)
    job = await outbox.status()
    assert job is not None and (job.state, job.total, job.content.number) == (RUNNING, 6, 250000)
    claim = await outbox.take_progress(job.id, "w", 10)
    assert claim is not None and claim.progress is not None
    assert (claim.progress.platform, claim.progress.address) == ("telegram", "chat-42")
    again = await bc_core.handle(admin("", action=go))
    assert "draft is gone" in texts(again)


async def test_milestone_targets_platform_and_languages(bc_core: Core, store: SqlStore,
                                                       outbox: SqlOutbox) -> None:
    await add_subscribers(store, 6)
    replies = await bc_core.handle(admin("milestone", "1000", "telegram", "de,fr"))
    assert "4 subscribers on telegram" in texts(replies)
    assert "<b>en</b>" not in texts(replies)
    matrix = await bc_core.handle(admin("milestone", "1000", "matrix"))
    assert "No platform is configured" in texts(matrix)
    assert not [a for a in actions(matrix) if a.startswith("bc:go")]
    await outbox.announce(["matrix"])  # the replica that runs Matrix delivers there
    await add_subscribers(store, 2, platform="matrix", first=5000, prefix="m")
    matrix = await bc_core.handle(admin("milestone", "1000", "matrix"))
    assert "2 subscribers on matrix" in texts(matrix)
    usage = await bc_core.handle(admin("milestone", "lots"))
    assert "Usage" in texts(usage)


@pytest.mark.parametrize("now", [BEFORE, OPEN, CLOSED])
async def test_milestones_work_in_every_campaign_state(bc_core: Core, store: SqlStore,
                                                       clock: Clock, now: object) -> None:
    clock.now = now  # type: ignore[assignment]
    await add_subscribers(store, 2)
    replies = await bc_core.handle(admin("milestone", "80000"))
    assert _go(replies)


async def test_free_text_per_language_with_fallback_choice(bc_core: Core, outbox: SqlOutbox,
                                                           store: SqlStore) -> None:
    await add_subscribers(store, 9)  # 3 each of en, de, fr
    typed = "/broadcast en Hello all\nsee you"
    first = await bc_core.handle(admin("broadcast", "en", "Hello", "all", text=typed))
    assert "Hello all\nsee you" in texts(first)
    replies = await bc_core.handle(admin("broadcast", "de", "Hallo", "alle"))
    text = texts(replies)
    assert "Preview, en" in text and "Preview, de" in text and "Hallo alle" in text
    assert "9 subscribers" in text and "gets the en text" in text
    skip = next(a for a in actions(replies) if a.endswith(":skip"))
    skipped = await bc_core.handle(admin("", action=skip))
    assert "6 subscribers" in texts(skipped) and "other languages are skipped" in texts(skipped)
    stale = _go(replies)  # the preview before the change
    changed = await bc_core.handle(admin("", action=stale))
    assert "changed after that preview" in texts(changed)
    done = await bc_core.handle(admin("", action=_go(skipped)))
    assert "on its way to 6 subscribers" in texts(done)
    job = await outbox.status()
    assert job is not None and job.target.languages == ("de", "en")
    assert job.content.text_for("en") == "Hello all\nsee you"


async def test_targeting_and_discarding_a_draft(bc_core: Core, store: SqlStore) -> None:
    await add_subscribers(store, 6)
    await bc_core.handle(admin("broadcast", "en", "Hi"))
    narrowed = await bc_core.handle(admin("broadcast", "to", "telegram", "fr"))
    assert "2 subscribers" in texts(narrowed) and "Languages: fr" in texts(narrowed)
    reset = await bc_core.handle(admin("broadcast", "to", "all"))
    assert "6 subscribers" in texts(reset)
    assert "Draft discarded" in texts(await bc_core.handle(admin("broadcast", "discard")))
    assert "no draft" in texts(await bc_core.handle(admin("broadcast", "preview")))
    assert "Broadcasts" in texts(await bc_core.handle(admin("broadcast")))
    words = tuple(f"w{i}" for i in range(19))  # with "en": the 20 words parse_command keeps
    cut = await bc_core.handle(admin("broadcast", "en", *words))
    assert "cut short" in texts(cut)
    long_text = "/broadcast en " + "x" * 3600  # an adapter that passes the whole text along
    too_long = await bc_core.handle(admin("broadcast", "en", "x" * 100, text=long_text))
    assert "too long" in texts(too_long)


async def test_status_pause_resume_cancel_commands_and_buttons(bc_core: Core, outbox: SqlOutbox,
                                                               store: SqlStore) -> None:
    await add_subscribers(store, 3)
    assert "No broadcast yet" in texts(await bc_core.handle(admin("broadcast", "status")))
    replies = await bc_core.handle(admin("milestone", "5000"))
    await bc_core.handle(admin("", action=_go(replies)))
    status = await bc_core.handle(admin("broadcast", "status"))
    assert "Broadcast #1" in texts(status) and "left 3" in texts(status)
    assert actions(status) == ["bc:pause:1", "bc:cancel:1"]
    paused = await bc_core.handle(admin("broadcast", "pause"))
    assert "paused" in texts(paused) and actions(paused) == ["bc:resume:1", "bc:cancel:1"]
    resumed = await bc_core.handle(admin("", action="bc:resume:1"))
    assert "sending" in texts(resumed)
    cancelled = await bc_core.handle(admin("broadcast", "cancel", "1"))
    assert "cancelled" in texts(cancelled) and actions(cancelled) == []
    nothing = await bc_core.handle(admin("broadcast", "resume"))
    assert "no running or paused" in texts(nothing).lower()


async def test_without_outbox_admins_are_told(core: Core) -> None:
    replies = await core.handle(message(command="milestone", args=("1000",), user="ana"))
    assert "not available in this process" in texts(replies)


def _german() -> Translator:
    catalog = Catalog(locale="de", domain="messages")
    catalog.add(("🎉 We passed {count} signature!", "🎉 We passed {count} signatures!"),
                ("🎉 Wir haben {count} Unterschrift geschafft!",
                 "🎉 Wir haben {count} Unterschriften geschafft!"))
    catalog.add("🔕 Stop updates", "🔕 Updates beenden")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translator("de", gettext.GNUTranslations(buffer), gettext.NullTranslations())


def test_render_message_is_localised_with_a_stop_button(bc_deps: Deps) -> None:
    content = Content(MILESTONE, number=250000)
    german = render_message(_german(), content)
    assert german is not None and german.text.startswith("🎉 Wir haben 250.000 Unterschriften")
    assert [(b.label, getattr(b, "action", None)) for b in german.flat_buttons()] == [
        ("🔕 Updates beenden", "unsub")]
    english = render_message(bc_deps.i18n.translator("en"), Content(MILESTONE, number=1))
    assert english is not None and "We passed 1 signature!" in english.text
    french = render_message(bc_deps.i18n.translator("fr"), content)
    assert french is not None and "250\u202f000" in french.text
    text = Content(TEXT, texts=(("de", "<Hallo> & tschüss"),), fallback=None)
    rendered = render_message(bc_deps.i18n.translator("de"), text)
    assert rendered is not None and "&lt;Hallo&gt; &amp; tschüss" in rendered.text
    assert render_message(bc_deps.i18n.translator("fr"), text) is None


def test_status_text_has_bar_rate_and_eta(bc_deps: Deps) -> None:
    t = bc_deps.i18n.translator("en")
    status = JobStatus(id=3, state=RUNNING, content=Content(MILESTONE, number=250000),
                       target=Target(("telegram",)), total=1000, sent=390, failed=5, gone=5,
                       left=600, rate=4.5)
    text = render_status(t, status)
    assert progress_bar(0.4) in text and "40 %" in text
    assert "Sent 390 · failed 10 · left 600 (of 1,000)" in text
    assert "4.5 per second" in text and "about 3 minutes left" in text
    paused = render_status(t, JobStatus(id=3, state=PAUSED, content=status.content,
                                        target=status.target))
    assert "paused" in paused and "per second" not in paused
