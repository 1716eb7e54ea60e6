"""The conversation core, driven like an adapter would, on an in-memory store."""

from __future__ import annotations

import pytest

from handlers.campaign import FAQ_TOPICS
from handlers.context import Deps
from handlers.html import ALLOWED_TAGS, tags_used
from handlers.router import Core
from tests.conftest import BEFORE, OPEN, Clock, actions, message, texts, urls


async def test_start_greets_with_main_menu(core: Core) -> None:
    replies = await core.handle(message(command="start"))
    assert "Reclaim Your Face" in texts(replies)
    assert {"about", "faq", "sign", "share", "lang", "sub"} <= set(actions(replies))


async def test_referral_arrival_counts_once_per_person_and_code(core: Core, deps: Deps) -> None:
    code = deps.keyring.referral_code("console", "sharer")
    for _ in range(3):
        await core.handle(message(command="start", args=(code,), user="friend"))
    await core.handle(message(command="start", args=(code,), user="other"))
    await core.handle(message(command="start", args=(code,), user="sharer"))  # own link
    assert await deps.store.arrivals_for_code(code) == 2
    share = await core.handle(message(command="share", user="sharer"))
    assert "2 people came through your link" in texts(share)


async def test_made_up_code_counts_nothing_and_is_welcomed(core: Core, deps: Deps) -> None:
    good = deps.keyring.referral_code("console", "sharer")
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    for code in (forged, "x" * 70, "<b>hi</b>", "../../etc"):
        replies = await core.handle(message(command="start", args=(code,), user="friend"))
        assert "does not look right" in texts(replies)
    assert (await deps.store.stats()).arrivals_total == 0


async def test_typed_share_link_counts_as_arrival(core: Core, deps: Deps) -> None:
    code = deps.keyring.referral_code("matrix", "@a:hs")
    await core.handle(message(f"http://127.0.0.1:8080/r/{code}", user="@b:hs"))
    await core.handle(message(code, user="@c:hs"))
    assert await deps.store.arrivals_for_code(code) == 2


async def test_sign_when_closed_tells_outcome_and_links_after_close_page(core: Core) -> None:
    replies = await core.handle(message(action="sign:DE"))
    body = texts(replies)
    assert "Germany" in body and "67,680" in body and "18" in body
    assert "80,000" in body or "closed" in body.lower()
    assert any("citizens-initiative.europa.eu" in url for url in urls(replies))
    assert not any("sign.reclaimyourface.eu" in url for url in urls(replies))


async def test_sign_while_open_links_the_form(core: Core, clock: Clock) -> None:
    clock.now = OPEN
    replies = await core.handle(message(action="sign:FR", lang="fr"))
    assert any(url.startswith("https://sign.reclaimyourface.eu/") and "fr" in url
               for url in urls(replies))
    assert "55 695" in texts(replies).replace("\u202f", " ").replace("\xa0", " ")


async def test_sign_before_opening_says_when(core: Core, clock: Clock) -> None:
    clock.now = BEFORE
    replies = await core.handle(message(action="sign:AT"))
    assert "17 February 2021" in texts(replies)
    assert not any("sign.reclaimyourface.eu" in url for url in urls(replies))


async def test_sign_counts_a_click_without_public_url(core: Core, deps: Deps) -> None:
    await core.handle(message(command="sign", args=("germany",)))
    stats = await deps.store.stats()
    assert stats.sign_clicks_total == 1 and stats.sign_clicks_by_country == {"DE": 1}


async def test_sign_menu_lists_27_countries_by_local_name(core: Core) -> None:
    replies = await core.handle(message(command="sign", lang="de"))
    country_actions = [a for a in actions(replies) if a.startswith("sign:")]
    assert len(country_actions) == 27
    labels = [b.label for r in replies for b in r.flat_buttons()]
    assert "Deutschland" in labels and "Österreich" in labels


async def test_unknown_country_gets_the_menu(core: Core) -> None:
    replies = await core.handle(message(command="sign", args=("Atlantis",)))
    assert "Atlantis" in texts(replies)
    assert len([a for a in actions(replies) if a.startswith("sign:")]) == 27


async def test_language_choice_is_remembered_and_beats_the_hint(core: Core, deps: Deps) -> None:
    await core.handle(message(action="lang:de", lang="fr"))
    replies = await core.handle(message(command="sign", args=("DE",), lang="fr"))
    assert "67.680" in texts(replies)


async def test_platform_hint_decides_each_time(core: Core) -> None:
    replies = await core.handle(message(command="sign", args=("DE",), lang="de-AT"))
    assert "67.680" in texts(replies)
    replies = await core.handle(message(command="sign", args=("DE",), lang="pt-BR"))
    assert "67 680" in texts(replies).replace("\xa0", " ").replace("\u202f", " ")
    replies = await core.handle(message(command="sign", args=("DE",), lang="en-GB"))
    assert "67,680" in texts(replies)


async def test_language_menu_offers_24_languages(core: Core) -> None:
    replies = await core.handle(message(command="language"))
    assert len([a for a in actions(replies) if a.startswith("lang:")]) == 24


async def test_faq_menu_and_answer(core: Core) -> None:
    replies = await core.handle(message(command="faq"))
    assert [a for a in actions(replies) if a.startswith("faq:")] == [f"faq:{t}" for t in FAQ_TOPICS]
    answer = await core.handle(message(action="faq:ai-act"))
    assert "AI Act" in texts(answer)


async def test_free_text_question_gets_the_right_answer(core: Core, deps: Deps) -> None:
    replies = await core.handle(message("Who can sign this initiative? Do I have to be 18?"))
    title = deps.campaign.faq["who-can-sign"].title
    assert title in texts(replies)


async def test_off_topic_question_gets_the_menu_not_a_wrong_answer(core: Core, deps: Deps) -> None:
    replies = await core.handle(message("what is the best pizza topping"))
    assert "not sure" in texts(replies)
    assert "faq" in actions(replies)


async def test_subscribe_unsubscribe_and_forget(core: Core, deps: Deps) -> None:
    await core.handle(message(action="lang:it", user="s"))
    await core.handle(message(command="subscribe", user="s"))
    stats = await deps.store.stats()
    assert stats.subscribers == 1 and stats.subscribers_by_language == {"it": 1}
    replies = await core.handle(message(command="unsubscribe", user="s"))
    assert (await deps.store.stats()).subscribers == 0 and replies
    await core.handle(message(action="sub:yes", user="s"))
    ask = await core.handle(message(command="forget", user="s"))
    assert "forget:yes" in actions(ask)
    await core.handle(message(action="forget:yes", user="s"))
    person = deps.keyring.person_key("console", "s")
    assert await deps.store.get_language(person) is None
    assert not await deps.store.is_subscribed(person)


async def test_groups_cannot_subscribe(core: Core, deps: Deps) -> None:
    replies = await core.handle(message(command="subscribe", group=True))
    assert "private chat" in texts(replies)
    assert (await deps.store.stats()).subscribers == 0


async def test_stats_only_for_admins(core: Core) -> None:
    refused = await core.handle(message(command="stats", user="bob"))
    assert "only the campaign team" in texts(refused)
    allowed = await core.handle(message(command="stats", user="ana"))
    assert "Anonymous figures" in texts(allowed)


@pytest.mark.parametrize("text", [
    "", "   ", "x" * 100_000, "\x00\x01\x02\xff\ufffe" * 50, "<script>alert(1)</script>",
    "𝕳𝖊𝖑𝖑𝖔 \u202e\u200b🙂🙃", "\ud800", "/", "/" + "a" * 500, "!!!???",
])
async def test_bad_input_gets_a_friendly_reply_and_stores_nothing(core: Core, deps: Deps,
                                                                  text: str) -> None:
    replies = await core.handle(message(text))
    assert replies and all(r.text for r in replies)
    assert "<script>" not in texts(replies)
    stats = await deps.store.stats()
    assert stats.arrivals_total == 0 and stats.subscribers == 0


async def test_unknown_command_and_forged_button(core: Core) -> None:
    unknown = await core.handle(message(command="frobnicate", args=("<b>",)))
    assert "do not know that command" in texts(unknown)
    forged = await core.handle(message(action="evil:payload"))
    assert "no longer works" in texts(forged)
    forged_topic = await core.handle(message(action="faq:not-a-topic"))
    assert forged_topic


async def test_every_reply_uses_only_the_html_subset(core: Core) -> None:
    inputs = [message(command=c) for c in ("start", "help", "about", "faq", "sign", "share")]
    inputs += [message(action=f"faq:{t}") for t in FAQ_TOPICS]
    inputs += [message(action=f"sign:{c}") for c in ("DE", "FR", "MT", "GR")]
    for incoming in inputs:
        for reply in await core.handle(incoming):
            assert tags_used(reply.text) <= ALLOWED_TAGS, (incoming, reply.text)


async def test_handler_error_becomes_an_apology(core: Core, deps: Deps) -> None:
    async def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("database on fire")

    deps.store.arrivals_for_code = broken  # type: ignore[method-assign]
    replies = await core.handle(message(command="share"))
    assert "something went wrong" in texts(replies)


async def test_language_detected_on_first_message_without_hint(core: Core, deps: Deps) -> None:
    replies = await core.handle(message("Wer steckt hinter dieser Kampagne?", lang=None, user="m"))
    assert "lang" in actions(replies)
    stored = await deps.store.get_language(deps.keyring.person_key("console", "m"))
    assert stored == ("de", False)


async def test_storage_failure_before_handling_gets_a_translated_apology(core: Core, deps: Deps) -> None:
    async def down(*_args: object, **_kw: object) -> None:
        raise ConnectionError("database unreachable")

    deps.store.get_language = down  # type: ignore[method-assign]
    replies = await core.handle(message("hello", lang="de"))
    english = await Core(deps).handle(message("hello", lang="en"))
    assert replies and texts(replies) != texts(english)
    assert "something went wrong" in texts(english)
