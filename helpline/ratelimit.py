"""Token-bucket rate limits, kept in memory per process.

A limit is written ``"<count>/<seconds>"``: at most ``count`` requests in a burst,
refilled at ``count / seconds`` per second (``"20/60"``: 20 at once, then one every
3 s). ``"off"`` (or ``"0"``) disables a limit. Each process keeps its own buckets,
so with N processes behind a balancer the effective limit is N times higher; that is
fine for what these limits are for (floods and password guessing), not for quotas.

Framework-free and thread-safe (the handoff service runs sync handlers in threads).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from helpline.errors import ConfigError

MAX_KEYS = 50_000  # memory bound; forgetting the oldest key only ever makes a limit more lenient


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @classmethod
    def parse(cls, text: str, name: str = "rate limit") -> Rate | None:
        """``"20/60"`` -> Rate(20, 60.0); ``"off"``, ``"0"`` or ``""`` -> None (no limit)."""
        raw = str(text).strip().lower()
        if raw in ("", "0", "off", "none", "false"):
            return None
        count, sep, seconds = raw.partition("/")
        try:
            rate = cls(int(count), float(seconds) if sep else 1.0)
        except ValueError:
            raise ConfigError(f"{name}: expected '<count>/<seconds>' such as '20/60', or 'off'") from None
        if rate.count < 1 or rate.seconds <= 0:
            raise ConfigError(f"{name}: count and seconds must be positive")
        return rate

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}"


class RateLimiter:
    """One token bucket per key (an IP address, a sender id, a username)."""

    def __init__(self, rate: Rate | None, max_keys: int = MAX_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate is not None

    def hit(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens for ``key``: 0.0 if allowed, else the seconds until it would be."""
        rate = self.rate
        if rate is None:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(rate.count), now))
            tokens = min(float(rate.count), tokens + (now - last) * rate.per_second)
            if tokens >= cost:
                tokens -= cost
                wait = 0.0
            else:
                wait = (cost - tokens) / rate.per_second
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        return wait

    def wait_time(self, key: str, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available for ``key``, without taking any."""
        rate = self.rate
        if rate is None:
            return 0.0
        with self._lock:
            tokens, last = self._buckets.get(key, (float(rate.count), self._clock()))
        tokens = min(float(rate.count), tokens + (self._clock() - last) * rate.per_second)
        return max(0.0, (cost - tokens) / rate.per_second)

    def allow(self, key: str) -> bool:
        return self.hit(key) == 0.0

    def reset(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._buckets.clear()
            else:
                self._buckets.pop(key, None)


def retry_after_header(wait: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, int(wait + 0.999)))


class Backoff:
    """Exponential backoff per key (a client address): a few free failures, then waits that double.

    After ``free`` failures, each further one makes the key wait ``base * 2 ** (n - free)`` seconds
    (at most ``max_wait``) before it is served again; a success forgets the key. Used for console
    logins per address, beside the per-account delay kept in the database (:mod:`helpline.handoff.accounts`).
    """

    def __init__(self, free: int = 3, base: float = 1.0, max_wait: float = 900.0, max_keys: int = MAX_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free = free
        self.base = base
        self.max_wait = max_wait
        self._max_keys = max_keys
        self._clock = clock
        self._state: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key -> (failures, not before)
        self._lock = threading.Lock()

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` consecutive failures."""
        if failures < self.free:
            return 0.0
        return min(self.max_wait, self.base * 2.0 ** min(failures - self.free, 40))

    def wait_time(self, key: str) -> float:
        """Seconds before ``key`` may try again (0.0 if it may now)."""
        with self._lock:
            _, not_before = self._state.get(key, (0, 0.0))
        return max(0.0, not_before - self._clock())

    def failure(self, key: str) -> float:
        """Record a failure; returns the wait it imposes."""
        now = self._clock()
        with self._lock:
            failures, _ = self._state.pop(key, (0, 0.0))
            failures += 1
            wait = self.delay(failures)
            self._state[key] = (failures, now + wait)
            while len(self._state) > self._max_keys:
                self._state.popitem(last=False)
        return wait

    def success(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)
