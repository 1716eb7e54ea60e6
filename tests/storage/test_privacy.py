"""No raw platform id leaves the subscriptions table; forgetting a person erases them."""

from __future__ import annotations

import datetime as dt

from handlers.identity import Keyring
from storage.repositories import SqlStore
from tests.storage.dump import dump_all_text, find_leaks

RAW = {
    "telegram": ["735102948", "eci_fan_42"],
    "matrix": ["@alice:example.org", "!privateroom:example.org"],
}


async def _populate(store: SqlStore, keyring: Keyring) -> None:
    day = dt.date(2025, 5, 1)
    for platform, (user, address) in RAW.items():
        person = keyring.person_key(platform, user)
        code = keyring.referral_code(platform, user)
        await store.set_language(person, "de", chosen=True)
        marker = keyring.arrival_marker(platform, user, code)
        await store.record_arrival(code, platform, day, marker)
        await store.record_sign_click("de", "DE", day)
        await store.subscribe(person, platform, address, "de")
        await store.claim_update(platform, 123)


async def test_raw_ids_only_in_subscriptions(store: SqlStore, db_url: str) -> None:
    keyring = Keyring("k" * 32)
    await _populate(store, keyring)
    dump = await dump_all_text(db_url)
    needles = [raw for values in RAW.values() for raw in values]
    assert find_leaks(dump, needles) == []
    assert any("!privateroom:example.org" in cell for cell in dump["subscriptions"])
    assert set(dump) >= {"preferences", "referral_arrivals", "arrival_markers", "subscriptions"}


async def test_forget_person_leaves_no_address(store: SqlStore, db_url: str) -> None:
    keyring = Keyring("k" * 32)
    await _populate(store, keyring)
    for platform, (user, _address) in RAW.items():
        assert await store.forget_person(keyring.person_key(platform, user)) == 2
    dump = await dump_all_text(db_url)
    needles = [raw for values in RAW.values() for raw in values]
    assert find_leaks(dump, needles, allowed=frozenset()) == []
    assert dump["subscriptions"] == [] and dump["preferences"] == []
