"""An in-memory Store for handler tests (the SQL store passes the same contract suite)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from handlers.ports import ArrivalMarker, PersonKey, Stats, Subscription


class MemoryStore:
    """Keeps everything in dicts; mirrors storage.repositories.SqlStore's behaviour."""

    def __init__(self) -> None:
        self.languages: dict[PersonKey, tuple[str, bool]] = {}
        self.arrivals: Counter[tuple[str, str, dt.date]] = Counter()
        self.markers: set[ArrivalMarker] = set()
        self.clicks: Counter[tuple[str, str, dt.date]] = Counter()
        self.subscriptions: dict[PersonKey, Subscription] = {}
        self._next_id = 1
        self.claimed: set[tuple[str, int]] = set()

    async def claim_update(self, platform: str, update_id: int) -> bool:
        if (platform, update_id) in self.claimed:
            return False
        self.claimed.add((platform, update_id))
        return True

    async def get_language(self, person: PersonKey) -> tuple[str, bool] | None:
        return self.languages.get(person)

    async def set_language(self, person: PersonKey, language: str, *, chosen: bool) -> None:
        current = self.languages.get(person)
        if current and current[1] and not chosen:
            return
        self.languages[person] = (language, chosen)

    async def record_arrival(self, code: str, platform: str, day: dt.date,
                             marker: ArrivalMarker | None) -> bool:
        if marker is not None:
            if marker in self.markers:
                return False
            self.markers.add(marker)
        self.arrivals[(code, platform, day)] += 1
        return True

    async def arrivals_for_code(self, code: str) -> int:
        return sum(n for (c, _p, _d), n in self.arrivals.items() if c == code)

    async def record_sign_click(self, language: str, country: str | None, day: dt.date) -> None:
        self.clicks[(language, country or "", day)] += 1

    async def stats(self, *, top: int = 10) -> Stats:
        s = Stats()
        codes: Counter[str] = Counter()
        for (code, platform, day), n in self.arrivals.items():
            s.arrivals_total += n
            s.arrivals_by_platform[platform] = s.arrivals_by_platform.get(platform, 0) + n
            s.arrivals_by_day[day.isoformat()] = s.arrivals_by_day.get(day.isoformat(), 0) + n
            codes[code] += n
        for (language, country, day), n in self.clicks.items():
            s.sign_clicks_total += n
            s.sign_clicks_by_language[language] = s.sign_clicks_by_language.get(language, 0) + n
            if country:
                s.sign_clicks_by_country[country] = s.sign_clicks_by_country.get(country, 0) + n
            s.sign_clicks_by_day[day.isoformat()] = s.sign_clicks_by_day.get(day.isoformat(), 0) + n
        s.subscribers = len(self.subscriptions)
        for sub in self.subscriptions.values():
            s.subscribers_by_platform[sub.platform] = s.subscribers_by_platform.get(sub.platform, 0) + 1
            s.subscribers_by_language[sub.language] = s.subscribers_by_language.get(sub.language, 0) + 1
        s.top_codes = sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return s

    async def subscribe(self, person: PersonKey, platform: str, address: str, language: str) -> bool:
        new = person not in self.subscriptions
        sub_id = self.subscriptions[person].id if not new else self._next_id
        self._next_id += int(new)
        self.subscriptions[person] = Subscription(sub_id, platform, address, language)
        return new

    async def unsubscribe(self, person: PersonKey) -> bool:
        return self.subscriptions.pop(person, None) is not None

    async def is_subscribed(self, person: PersonKey) -> bool:
        return person in self.subscriptions

    async def set_subscription_language(self, person: PersonKey, language: str) -> None:
        sub = self.subscriptions.get(person)
        if sub:
            self.subscriptions[person] = Subscription(sub.id, sub.platform, sub.address, language)

    async def remove_address(self, platform: str, address: str) -> int:
        gone = [p for p, s in self.subscriptions.items() if (s.platform, s.address) == (platform, address)]
        for person in gone:
            del self.subscriptions[person]
        return len(gone)

    async def forget_person(self, person: PersonKey) -> int:
        removed = int(self.languages.pop(person, None) is not None)
        removed += int(self.subscriptions.pop(person, None) is not None)
        return removed

    async def close(self) -> None:
        return None
