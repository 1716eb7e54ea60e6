"""Rendering replies and reading messages: pure functions, no homeserver."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bots.matrix.inbound import (
    MAX_INBOUND_CHARS,
    Typed,
    is_edit,
    read_text,
    strip_reply_fallback,
)
from bots.matrix.render import MAX_CONTENT_CHARS, edit_content, render_replies, to_html
from handlers.messages import ActionButton, LinkButton, Reply

BOT = "@reclaim:example.org"
NAMES = ("Reclaim Bot",)


def test_buttons_become_numbers_across_replies_and_links_stay_links() -> None:
    """Action buttons are numbered 1..n over all replies; links are <a> and 'label: url'."""
    replies = [
        Reply("<b>Hi</b>\nthere", ((ActionButton("About", "about"), ActionButton("FAQ", "faq")),
                                   (LinkButton("Site & more", "https://example.org/?a=1&b=2"),))),
        Reply("Language?", ((ActionButton("🌐 Language", "lang"),),),
              image="https://example.org/q.png"),
    ]
    rendered = render_replies(replies)
    assert rendered.actions == ["about", "faq", "lang"]
    first, second = rendered.contents
    assert first["msgtype"] == "m.notice" and first["format"] == "org.matrix.custom.html"
    assert first["formatted_body"].startswith("<b>Hi</b><br>there<br><br><b>1.</b> About")
    link = '<a href="https://example.org/?a=1&amp;b=2">Site &amp; more</a>'
    assert link in first["formatted_body"]
    assert first["body"] == ("Hi\nthere\n\n1. About\n2. FAQ\n"
                             "Site & more: https://example.org/?a=1&b=2")
    assert "3. 🌐 Language" in second["body"] and "https://example.org/q.png" in second["body"]
    assert first["m.mentions"] == {}


def test_pre_keeps_its_newlines_and_huge_replies_fall_back_to_plain() -> None:
    """Newlines become <br> except inside <pre>; an oversized reply is plain and shortened."""
    assert to_html("a\n<pre>x\ny</pre>\nb") == "a<br><pre>x\ny</pre><br>b"
    content = render_replies([Reply("x" * (MAX_CONTENT_CHARS + 10))]).contents[0]
    assert "formatted_body" not in content and len(content["body"]) == MAX_CONTENT_CHARS


def test_edit_content_is_an_m_replace() -> None:
    """An edit carries m.new_content and the relation; the fallback body starts with '*'."""
    new = render_replies([Reply("<i>50%</i>")]).contents[0]
    edit = edit_content("$orig", new)
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$orig"}
    assert edit["m.new_content"]["formatted_body"] == "<i>50%</i>"
    assert edit["body"] == "* 50%"


def _read(body: str, content: Mapping[str, Any] | None = None, *,
          direct: bool = True) -> Typed | None:
    return read_text(body, content or {}, own_id=BOT, names=NAMES, direct=direct)


def test_direct_chat_reads_commands_numbers_and_text() -> None:
    """In a direct chat everything is for the bot: commands, numbers, free text."""
    typed = _read("!sign de")
    assert typed is not None and typed.command == "sign" and typed.args == ("de",)
    typed = _read("/faq")
    assert typed is not None and typed.command == "faq"
    typed = _read(" 2 ")
    assert typed is not None and typed.number == 2 and typed.command is None
    typed = _read("!3")
    assert typed is not None and typed.number == 3 and typed.command == "3"
    typed = _read("What is an ECI?")
    assert typed is not None and typed.text == "What is an ECI?" and typed.command is None
    typed = _read("!")
    assert typed is not None and typed.command is None and typed.text == "!"


def test_room_answers_only_commands_mentions_and_numbers() -> None:
    """In a room: chatter is None; commands, numbers and mentions are read."""
    assert _read("hello all", direct=False) is None
    assert _read("!", direct=False) is None
    typed = _read("!faq", direct=False)
    assert typed is not None and typed.command == "faq" and not typed.addressed
    typed = _read("4", direct=False)
    assert typed is not None and typed.number == 4 and not typed.addressed
    typed = _read(f"{BOT}: what is an ECI?", direct=False)
    assert typed is not None and typed.addressed and typed.text == "what is an ECI?"
    typed = _read("reclaim bot, !sign fr", direct=False)
    assert typed is not None and typed.command == "sign" and typed.args == ("fr",)
    pill = {"formatted_body":
            '<a href="https://matrix.to/#/%40reclaim%3Aexample.org">Reclaim Bot</a> hi'}
    typed = _read("hey Reclaim Bot hi", pill, direct=False)
    assert typed is not None and typed.addressed and typed.text == "hey hi"
    typed = _read("Reclaim Bot:", direct=False)
    assert typed is not None and typed.command == "start"
    intentional = {"m.mentions": {"user_ids": [BOT]}}
    typed = _read("Reclaim Bot !about", intentional, direct=False)
    assert typed is not None and typed.command == "about"
    assert _read("Reclaim Botanics is a shop", direct=False) is None


def test_edits_replies_and_huge_texts() -> None:
    """Edits are ignored, reply quotes dropped, and 100 kB is cut to the inbound cap."""
    edit = {"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}, "m.new_content": {}}
    assert is_edit(edit) and _read("* !faq", edit) is None
    assert not is_edit({"m.relates_to": "garbage"})
    reply = {"m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}}
    assert strip_reply_fallback("> <@a:b> !start\n> more\n\n!about", reply) == "!about"
    typed = _read("> <@a:b> hi\n\n!about", reply)
    assert typed is not None and typed.command == "about"
    typed = _read("x" * 100_000)
    assert typed is not None and len(typed.text) == MAX_INBOUND_CHARS
