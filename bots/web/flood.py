"""Flood protection: an in-memory token bucket per client, bounded in size, never persisted.

Clients are keyed by a keyed hash of their address under a random per-process salt, so not even
this process's memory holds the addresses, and the key means nothing after a restart.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Monotonic = Callable[[], float]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class FloodGuard:
    """Allows ``burst`` requests at once and ``rate`` per second after that, per client."""

    def __init__(self, rate: float = 10.0, burst: float = 40.0, *, max_clients: int = 10_000,
                 monotonic: Monotonic = time.monotonic) -> None:
        if rate <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate and max_clients must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._now = monotonic
        self._salt = secrets.token_bytes(16)
        self._buckets: OrderedDict[bytes, _Bucket] = OrderedDict()

    def _key(self, client: str) -> bytes:
        return hashlib.blake2b(client.encode(), key=self._salt, digest_size=16).digest()

    def take(self, client: str) -> float:
        """Spend one token; return 0 when allowed, else the seconds until one is available."""
        now = self._now()
        key = self._key(client)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        # Re-inserted at the end: the least recently seen client is the first one dropped.
        self._buckets[key] = bucket
        self._evict(now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def retry_after(self, seconds: float) -> int:
        """Return a whole number of seconds for the Retry-After header (at least 1)."""
        return max(1, math.ceil(seconds))

    def _evict(self, now: float) -> None:
        """Drop full buckets (they equal a fresh one) and the oldest beyond the size bound."""
        refill = self.burst / self.rate
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if len(self._buckets) > self.max_clients or now - oldest.updated >= refill:
                self._buckets.popitem(last=False)
            else:
                break

    def __len__(self) -> int:
        return len(self._buckets)
