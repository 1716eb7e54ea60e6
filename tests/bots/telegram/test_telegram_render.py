"""Rendering neutral replies for Telegram: keyboards, URL checks, splitting at 4096."""

from __future__ import annotations

import re

import pytest

from bots.telegram.render import (
    IMAGE_LABEL,
    MAX_MESSAGE,
    OutMessage,
    render,
    split_html,
    valid_url,
    visible_length,
)
from handlers.messages import ActionButton, LinkButton, Reply

TAG_RE = re.compile(r"<(/?)([a-z]+)[^>]*>")


def balanced(html: str) -> bool:
    """Tell whether every tag is closed in the right order."""
    stack: list[str] = []
    for closing, name in TAG_RE.findall(html):
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


def test_buttons_become_an_inline_keyboard() -> None:
    reply = Reply("Hi", ((ActionButton("About", "about"), LinkButton("Site", "https://x.eu/a")),))
    [out] = render(reply)
    assert out.text == "Hi"
    assert out.markup == {"inline_keyboard": [[{"text": "About", "callback_data": "about"},
                                               {"text": "Site", "url": "https://x.eu/a"}]]}
    assert out.params(5) == {"chat_id": 5, "text": "Hi", "parse_mode": "HTML",
                             "reply_markup": out.markup}


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x.eu", "https://", "tg://resolve",
                                 "http://exa mple.org", "", "https:///path"])
def test_bad_link_buttons_are_dropped(url: str) -> None:
    reply = Reply("Hi", ((LinkButton("Bad", url), ActionButton("Ok", "menu")),))
    [out] = render(reply)
    assert out.markup is not None
    assert [b["text"] for row in out.markup["inline_keyboard"] for b in row] == ["Ok"]
    assert not valid_url(url)


def test_a_row_of_only_bad_buttons_disappears() -> None:
    [out] = render(Reply("Hi", ((LinkButton("Bad", "mailto:a@b.c"),),)))
    assert out.markup is None


def test_image_becomes_a_link_button_unless_already_linked() -> None:
    [out] = render(Reply("QR", image="https://bot.example.org/qr/abc.svg"))
    assert out.markup is not None
    [[button]] = out.markup["inline_keyboard"]
    assert button == {"text": IMAGE_LABEL, "url": "https://bot.example.org/qr/abc.svg"}
    linked = Reply("QR", ((LinkButton("QR code", "https://bot.example.org/qr/abc.svg"),),),
                   image="https://bot.example.org/qr/abc.svg")
    [out] = render(linked)
    assert out.markup is not None
    assert len(out.markup["inline_keyboard"]) == 1


def test_br_becomes_a_newline() -> None:
    [out] = render(Reply("one<br>two<br/>three"))
    assert out.text == "one\ntwo\nthree"


def test_short_text_is_one_message() -> None:
    assert split_html("<b>short</b>") == ["<b>short</b>"]
    assert split_html("   ") == []


def test_long_text_splits_at_paragraphs_and_keeps_buttons_on_the_last_part() -> None:
    paragraph = "<b>Title</b>\n" + ("word " * 150).strip()
    text = "\n\n".join(f"{paragraph} {n}" for n in range(20))
    reply = Reply(text, ((ActionButton("Menu", "menu"),),))
    parts = render(reply)
    assert len(parts) >= 3
    assert all(visible_length(p.text) <= MAX_MESSAGE for p in parts)
    assert all(p.markup is None for p in parts[:-1]) and parts[-1].markup is not None
    # Each part ends where a paragraph ended: the paragraph counters come out whole and in order.
    numbers = [int(n) for p in parts for n in re.findall(r"word (\d+)", p.text)]
    assert numbers == list(range(20))


def test_split_never_breaks_tags_or_entities_and_reopens_them() -> None:
    body = " ".join(f"caf&eacute; &lt;{n}&gt;" for n in range(600))
    text = f'<blockquote><i><a href="https://x.eu/?a=1&amp;b=2">{body}</a></i></blockquote>'
    parts = split_html(text, 500)
    assert len(parts) > 5
    for part in parts:
        assert balanced(part), part[:80]
        assert visible_length(part) <= 500
        assert part.startswith('<blockquote><i><a href="https://x.eu/?a=1&amp;b=2">')
        assert not re.search(r"&[a-z]*$|<[^>]*$", part)  # no cut entity or tag at the end
    assert "".join(re.sub(r"<[^>]+>", "", p) for p in parts).count("caf&eacute;") == 600


def test_a_giant_word_is_cut_hard() -> None:
    parts = split_html("x" * 10_000)
    assert [len(p) for p in parts] == [4096, 4096, 1808]


def test_visible_length_counts_utf16_units() -> None:
    assert visible_length("😀") == 2
    assert visible_length("<b>a&amp;b</b>") == 3


def test_plain_fallback_strips_tags_and_lists_links() -> None:
    reply = Reply("<b>Bold</b> &amp; co", ((LinkButton("Site", "https://x.eu"),
                                            ActionButton("Menu", "menu")),))
    [out] = render(reply)
    plain = out.plain()
    assert plain.text == "Bold & co\nSite: https://x.eu"
    assert plain.markup == {"inline_keyboard": [[{"text": "Menu", "callback_data": "menu"}]]}
    assert "parse_mode" not in plain.params(1)
    assert OutMessage("<i></i>").plain().text == "…"
