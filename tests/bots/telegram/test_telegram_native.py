"""Native touches: per-language command menu and descriptions, and the inline share card."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bots.app import build_i18n
from bots.telegram.profile import MAX_SHORT_DESCRIPTION, clip
from handlers.i18n import LANGUAGES, CatalogSource, I18n
from handlers.info import COMMANDS
from handlers.messages import TELEGRAM
from handlers.router import Core
from tests.fakes.telegram_api import FakeBotApi

if TYPE_CHECKING:
    from tests.bots.telegram.conftest import Running

SETTERS = ("setMyCommands", "setMyDescription", "setMyShortDescription")
PO = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\\n"

msgid "Open the bot"
msgstr "Ouvrir le bot"

msgid "Start and main menu"
msgstr "Démarrer et menu principal"
"""


@pytest.fixture
def french(core: Core, tmp_path: Path) -> None:
    """Give the bot a French catalog with a few of its strings."""
    catalog = tmp_path / "locales" / "fr" / "LC_MESSAGES" / "messages.po"
    catalog.parent.mkdir(parents=True)
    catalog.write_text(PO, encoding="utf-8")
    campaign = core.deps.campaign
    core.deps.i18n = I18n(CatalogSource(tmp_path / "locales", "messages"),
                          CatalogSource(campaign.locales_dir, campaign.domain))


async def test_profile_is_set_for_every_language_and_not_again(
        fake: FakeBotApi, core: Core, running: Running, french: None) -> None:
    bot = await running.polling(core)
    assert bot.profile_task is not None
    await bot.profile_task
    calls = fake.calls_of("setMyCommands")
    assert sorted(c.params.get("language_code", "") for c in calls) == sorted(["", *LANGUAGES])
    assert all(c.params.get("scope") in (None, {"type": "default"}) for c in calls)
    menu = fake.profile.commands[('{"type": "default"}', "fr")]
    assert [c["command"] for c in menu] == [name for name, _ in COMMANDS]
    assert menu[0]["description"] == "Démarrer et menu principal"
    assert 0 < len(fake.profile.short_descriptions[""]) <= MAX_SHORT_DESCRIPTION
    assert 0 < len(fake.profile.descriptions[""]) <= 512
    assert "Reclaim Your Face" in fake.profile.descriptions[""]

    await running.stop_all()
    fake.clear()
    bot = await running.polling(core)
    assert bot.profile_task is not None
    await bot.profile_task
    assert not any(fake.calls_of(setter) for setter in SETTERS)
    assert len(fake.calls_of("getMyCommands")) == len(LANGUAGES) + 1

    await running.stop_all()
    fake.clear()
    fake.profile.commands[('{"type": "default"}', "de")] = [{"command": "old", "description": "x"}]
    bot = await running.polling(core)
    assert bot.profile_task is not None
    await bot.profile_task
    [changed] = fake.calls_of("setMyCommands")
    assert changed.params["language_code"] == "de"


def test_clip_keeps_telegram_limits() -> None:
    assert clip("a  b\n c", 10) == "a b c"
    assert clip("x" * 200, 120) == "x" * 119 + "…"


def test_every_language_fits_the_short_description_limit(core: Core) -> None:
    from bots.telegram.profile import profile_for

    i18n = build_i18n(core.deps.campaign)
    for language in LANGUAGES:
        profile = profile_for(i18n.translator(language), core.deps.campaign)
        assert len(profile.short_description) <= MAX_SHORT_DESCRIPTION
        assert len(profile.description) <= 512
        assert all(1 <= len(text) <= 256 for _name, text in profile.commands)


@pytest.mark.parametrize(("hint", "stored", "label"), [
    ("en", None, "Open the bot"),
    ("fr-FR", None, "Ouvrir le bot"),
    ("de", "fr", "Ouvrir le bot"),
    (None, None, "Open the bot"),
])
async def test_inline_query_offers_a_personal_share_card(
        fake: FakeBotApi, core: Core, running: Running, french: None,
        hint: str | None, stored: str | None, label: str) -> None:
    deps = core.deps
    if stored:
        person = deps.keyring.person_key(TELEGRAM, "7001")
        await deps.store.set_language(person, stored, chosen=True)
    await running.polling(core)
    fake.add_update(fake.make_inline_query_update(7001, "", language_code=hint))
    call = await fake.wait_for_call("answerInlineQuery")
    await fake.wait_for(lambda: call.done)
    params = call.params
    assert params["is_personal"] is True
    assert params["cache_time"] == 30
    [result] = params["results"]
    code = deps.keyring.referral_code(TELEGRAM, "7001")
    link = f"https://t.me/{fake.username}?start={code}"
    assert result["type"] == "article"
    assert link in result["input_message_content"]["message_text"]
    assert result["input_message_content"]["parse_mode"] == "HTML"
    [[button]] = result["reply_markup"]["inline_keyboard"]
    assert (button["text"], button["url"]) == (label, link)
    assert not call.failed
