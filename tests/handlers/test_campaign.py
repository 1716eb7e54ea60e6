"""The campaign file: loading, validation and the collection state on a clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from handlers.campaign import FAQ_TOPICS, CampaignError, State, load_campaign
from handlers.config import DEFAULT_CAMPAIGN
from handlers.html import ALLOWED_TAGS, tags_used


def test_shipped_campaign_is_complete() -> None:
    c = load_campaign(DEFAULT_CAMPAIGN)
    assert c.name == "Reclaim Your Face" and len(c.countries) == 27
    assert set(c.faq) == set(FAQ_TOPICS)
    assert c.countries["DE"].threshold == 67680 and c.countries["AT"].min_age == 16
    assert c.countries["GR"].min_age == 17
    assert all(len(entry.title) <= 32 for entry in c.faq.values())
    for text in c.msgids():
        assert tags_used(text) <= ALLOWED_TAGS


def test_states_follow_the_clock() -> None:
    c = load_campaign(DEFAULT_CAMPAIGN)
    assert c.state(dt.datetime(2021, 2, 16, 22, 59, tzinfo=dt.UTC)) is State.BEFORE
    assert c.state(dt.datetime(2021, 2, 16, 23, 0, tzinfo=dt.UTC)) is State.OPEN
    assert c.state(dt.datetime(2022, 8, 1, 21, 59, tzinfo=dt.UTC)) is State.OPEN
    assert c.state(dt.datetime(2022, 8, 1, 22, 1, tzinfo=dt.UTC)) is State.CLOSED


def test_links_follow_the_language() -> None:
    c = load_campaign(DEFAULT_CAMPAIGN)
    assert "de" in c.sign_url("de") and "lang=en" in c.sign_url("mt")
    assert c.after_close_url("fr").endswith("_fr")


def test_broken_campaign_file_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "c.toml"
    text = DEFAULT_CAMPAIGN.read_text().replace("[window]", "[windowx]")
    broken.write_text(text)
    with pytest.raises(CampaignError, match="window"):
        load_campaign(broken)
    broken.write_text("not = [toml")
    with pytest.raises(CampaignError):
        load_campaign(broken)
