"""The Store contract, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import text

from handlers.ports import ArrivalMarker, PersonKey, Stats, Store, Subscription
from storage.repositories import SqlStore

DAY1 = dt.date(2025, 5, 1)
DAY2 = dt.date(2025, 5, 2)
ALICE = PersonKey("a" * 40)
BOB = PersonKey("b" * 40)


def test_sqlstore_satisfies_the_port(store: SqlStore) -> None:
    port: Store = store  # checked by mypy; the assert keeps pytest honest
    assert isinstance(port, SqlStore)


# -- preferences ------------------------------------------------------------------------------


async def test_language_unknown_person(store: SqlStore) -> None:
    assert await store.get_language(ALICE) is None


async def test_detected_language_is_replaced_by_detected(store: SqlStore) -> None:
    await store.set_language(ALICE, "de", chosen=False)
    assert await store.get_language(ALICE) == ("de", False)
    await store.set_language(ALICE, "fr", chosen=False)
    assert await store.get_language(ALICE) == ("fr", False)


async def test_detected_never_overwrites_chosen(store: SqlStore) -> None:
    await store.set_language(ALICE, "de", chosen=False)
    await store.set_language(ALICE, "it", chosen=True)
    await store.set_language(ALICE, "fr", chosen=False)
    assert await store.get_language(ALICE) == ("it", True)
    await store.set_language(ALICE, "pl", chosen=True)
    assert await store.get_language(ALICE) == ("pl", True)
    assert await store.get_language(BOB) is None


async def test_chosen_first_then_detected(store: SqlStore) -> None:
    await store.set_language(BOB, "es", chosen=True)
    await store.set_language(BOB, "en", chosen=False)
    assert await store.get_language(BOB) == ("es", True)


# -- referral counters ------------------------------------------------------------------------


async def test_arrivals_without_marker_always_count(store: SqlStore) -> None:
    assert await store.record_arrival("code1", "web", DAY1, None)
    assert await store.record_arrival("code1", "web", DAY1, None)
    assert await store.arrivals_for_code("code1") == 2
    assert await store.arrivals_for_code("other") == 0


async def test_marker_counts_once(store: SqlStore) -> None:
    first = ArrivalMarker("m" * 40)
    assert await store.record_arrival("code1", "telegram", DAY1, first)
    assert not await store.record_arrival("code1", "telegram", DAY2, first)
    assert await store.record_arrival("code1", "matrix", DAY2, ArrivalMarker("n" * 40))
    assert await store.arrivals_for_code("code1") == 2


async def test_concurrent_arrivals_same_key(store: SqlStore) -> None:
    results = await asyncio.gather(
        *(store.record_arrival("hot", "telegram", DAY1, None) for _ in range(50))
    )
    assert all(results)
    assert await store.arrivals_for_code("hot") == 50


async def test_concurrent_arrivals_distinct_markers(store: SqlStore) -> None:
    results = await asyncio.gather(
        *(
            store.record_arrival("hot", "matrix", DAY1, ArrivalMarker(f"{i:040x}"))
            for i in range(30)
        )
    )
    assert all(results)
    assert await store.arrivals_for_code("hot") == 30


async def test_concurrent_same_marker_counts_once(store: SqlStore) -> None:
    marker = ArrivalMarker("f" * 40)
    results = await asyncio.gather(
        *(store.record_arrival("dup", "telegram", DAY1, marker) for _ in range(20))
    )
    assert results.count(True) == 1
    assert await store.arrivals_for_code("dup") == 1


async def test_concurrent_sign_clicks(store: SqlStore) -> None:
    await asyncio.gather(*(store.record_sign_click("de", "DE", DAY1) for _ in range(25)))
    stats = await store.stats()
    assert stats.sign_clicks_total == 25
    assert stats.sign_clicks_by_country == {"DE": 25}


# -- subscriptions ----------------------------------------------------------------------------


async def test_subscribe_lifecycle(store: SqlStore) -> None:
    assert not await store.is_subscribed(ALICE)
    assert await store.subscribe(ALICE, "telegram", "1001", "en")
    assert await store.is_subscribed(ALICE)
    assert not await store.subscribe(ALICE, "telegram", "1002", "de")  # refresh, not new
    subs = await store.list_subscriptions()
    assert [(s.platform, s.address, s.language) for s in subs] == [("telegram", "1002", "de")]
    await store.set_subscription_language(ALICE, "fr")
    assert (await store.list_subscriptions())[0].language == "fr"
    assert await store.unsubscribe(ALICE)
    assert not await store.unsubscribe(ALICE)
    assert not await store.is_subscribed(ALICE)


async def test_set_subscription_language_without_subscription(store: SqlStore) -> None:
    await store.set_subscription_language(ALICE, "fr")
    assert not await store.is_subscribed(ALICE)


async def test_remove_address(store: SqlStore) -> None:
    carol = PersonKey("c" * 40)
    await store.subscribe(ALICE, "matrix", "!room:example.org", "en")
    await store.subscribe(BOB, "matrix", "!room:example.org", "de")
    await store.subscribe(carol, "telegram", "!room:example.org", "de")
    assert await store.remove_address("matrix", "!room:example.org") == 2
    assert await store.remove_address("matrix", "!room:example.org") == 0
    assert not await store.is_subscribed(ALICE)
    assert await store.is_subscribed(carol)


async def test_concurrent_subscribe_is_new_once(store: SqlStore) -> None:
    results = await asyncio.gather(
        *(store.subscribe(ALICE, "telegram", "1001", "en") for _ in range(10))
    )
    assert results.count(True) == 1
    assert (await store.stats()).subscribers == 1


async def test_list_subscriptions_pages(store: SqlStore) -> None:
    for i in range(5):
        await store.subscribe(PersonKey(f"{i:040x}"), "telegram" if i % 2 else "matrix",
                              str(i), "en")
    first = await store.list_subscriptions(limit=2)
    rest = await store.list_subscriptions(after_id=first[-1].id, limit=10)
    assert [s.address for s in first + rest] == ["0", "1", "2", "3", "4"]
    assert all(isinstance(s, Subscription) for s in rest)
    telegram = await store.list_subscriptions(platform="telegram")
    assert [s.address for s in telegram] == ["1", "3"]


async def test_subscription_ids_are_not_reused(store: SqlStore) -> None:
    await store.subscribe(ALICE, "telegram", "1", "en")
    [old] = await store.list_subscriptions()
    await store.unsubscribe(ALICE)
    await store.subscribe(ALICE, "telegram", "1", "en")
    [new] = await store.list_subscriptions()
    assert new.id > old.id


# -- erasure ----------------------------------------------------------------------------------


async def test_forget_person(store: SqlStore) -> None:
    await store.set_language(ALICE, "de", chosen=True)
    await store.subscribe(ALICE, "telegram", "1001", "de")
    await store.set_language(BOB, "fr", chosen=True)
    await store.subscribe(BOB, "telegram", "1002", "fr")
    assert await store.forget_person(ALICE) == 2
    assert await store.get_language(ALICE) is None
    assert not await store.is_subscribed(ALICE)
    assert await store.get_language(BOB) == ("fr", True)
    assert await store.is_subscribed(BOB)
    assert await store.forget_person(ALICE) == 0


async def test_forget_person_with_preference_only(store: SqlStore) -> None:
    await store.set_language(ALICE, "de", chosen=False)
    assert await store.forget_person(ALICE) == 1


# -- stats ------------------------------------------------------------------------------------


async def test_stats_empty(store: SqlStore) -> None:
    assert await store.stats() == Stats()


async def test_stats_values(store: SqlStore) -> None:
    for _ in range(3):
        await store.record_arrival("bbb", "telegram", DAY1, None)
    await store.record_arrival("bbb", "matrix", DAY2, None)
    await store.record_arrival("aaa", "web", DAY2, None)
    await store.record_arrival("aaa", "web", DAY2, None)
    await store.record_arrival("ccc", "web", DAY1, None)
    await store.record_arrival("zzz", "web", DAY1, None)
    await store.record_sign_click("de", "DE", DAY1)
    await store.record_sign_click("de", None, DAY2)
    await store.record_sign_click("fr", "BE", DAY2)
    await store.subscribe(ALICE, "telegram", "1", "de")
    await store.subscribe(BOB, "matrix", "!r:x", "de")
    await store.subscribe(PersonKey("c" * 40), "matrix", "!s:x", "en")

    stats = await store.stats(top=3)

    assert stats == Stats(
        arrivals_total=8,
        arrivals_by_platform={"matrix": 1, "telegram": 3, "web": 4},
        arrivals_by_day={"2025-05-01": 5, "2025-05-02": 3},
        sign_clicks_total=3,
        sign_clicks_by_language={"de": 2, "fr": 1},
        sign_clicks_by_country={"": 1, "BE": 1, "DE": 1},
        sign_clicks_by_day={"2025-05-01": 1, "2025-05-02": 2},
        subscribers=3,
        subscribers_by_platform={"matrix": 2, "telegram": 1},
        subscribers_by_language={"de": 2, "en": 1},
        top_codes=[("bbb", 4), ("aaa", 2), ("ccc", 1)],
    )
    assert (await store.stats()).top_codes[-2:] == [("ccc", 1), ("zzz", 1)]


# -- processed updates (webhook dedup) --------------------------------------------------------


async def test_claim_update(store: SqlStore) -> None:
    assert await store.claim_update("telegram", 1)
    assert not await store.claim_update("telegram", 1)
    assert await store.claim_update("telegram", 2)
    assert await store.claim_update("matrix", 1)
    assert await store.claim_update("telegram", 2**40)  # ids beyond 32 bits


async def test_claim_update_concurrently(store: SqlStore) -> None:
    results = await asyncio.gather(*(store.claim_update("telegram", 7) for _ in range(20)))
    assert results.count(True) == 1


async def test_prune_updates(store: SqlStore) -> None:
    today = dt.date(2025, 6, 10)
    await store.claim_update("telegram", 1, day=dt.date(2025, 6, 1))
    await store.claim_update("telegram", 2, day=dt.date(2025, 6, 9))
    assert await store.prune_updates(3, today=today) == 1
    assert await store.claim_update("telegram", 1, day=today)  # forgotten, so new again
    assert not await store.claim_update("telegram", 2, day=today)


# -- engine settings --------------------------------------------------------------------------


async def test_sqlite_pragmas(store: SqlStore, backend: str) -> None:
    if backend != "sqlite":
        return
    async with store.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
        assert (await conn.execute(text("PRAGMA secure_delete"))).scalar() == 1
