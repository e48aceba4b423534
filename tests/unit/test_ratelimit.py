"""Token buckets: bursts, refill, Retry-After, the memory bound, configuration errors."""

from __future__ import annotations

import threading

import pytest

from helpline.errors import ConfigError
from helpline.ratelimit import Rate, RateLimiter, retry_after_header


class Tick:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_and_retry_after() -> None:
    tick = Tick()
    limiter = RateLimiter(Rate(3, 30.0), clock=tick)  # 3 at once, then one every 10 s
    assert [limiter.hit("ip") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.hit("ip")
    assert wait == pytest.approx(10.0)
    assert retry_after_header(wait) == "10"
    assert limiter.allow("other-ip"), "keys are independent"
    tick.now += 9.9
    assert not limiter.allow("ip")
    tick.now += 0.2
    assert limiter.allow("ip")
    assert limiter.wait_time("ip") == pytest.approx(10.0, abs=0.2)
    tick.now += 1000
    assert [limiter.allow("ip") for _ in range(4)] == [True, True, True, False], "never more than the burst"


def test_disabled_and_parsing() -> None:
    assert Rate.parse("20/60") == Rate(20, 60.0)
    assert Rate.parse(" 5 ") == Rate(5, 1.0)
    for off in ("off", "0", "", "none"):
        assert Rate.parse(off) is None
    unlimited = RateLimiter(None)
    assert all(unlimited.allow("x") for _ in range(10_000)) and not unlimited.enabled
    for bad in ("abc", "10/x", "-1/60", "10/0"):
        with pytest.raises(ConfigError):
            Rate.parse(bad, "HELPLINE_RATE_LIMIT_IP")


def test_memory_stays_bounded_and_forgetting_is_lenient() -> None:
    tick = Tick()
    limiter = RateLimiter(Rate(1, 60.0), max_keys=100, clock=tick)
    assert limiter.allow("first") and not limiter.allow("first")
    for n in range(500):
        limiter.allow(f"flood-{n}")
    assert len(limiter._buckets) == 100
    assert limiter.allow("first"), "the oldest key was forgotten, so it starts with a full bucket"


def test_threads_never_get_more_than_the_burst() -> None:
    limiter = RateLimiter(Rate(50, 3600.0))
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(40):
            ok = limiter.allow("shared")
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 50


def test_backoff_doubles_after_free_failures_is_bounded_and_reset_by_success() -> None:
    from helpline.ratelimit import Backoff

    now = [0.0]
    backoff = Backoff(free=3, base=2.0, max_wait=30.0, clock=lambda: now[0])
    assert [backoff.failure("a") for _ in range(7)] == [0.0, 0.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert backoff.wait_time("a") == 30.0 and backoff.wait_time("b") == 0.0, "per key"
    now[0] += 31
    assert backoff.wait_time("a") == 0.0
    backoff.success("a")
    assert backoff.failure("a") == 0.0, "a success forgets the failures"


def test_trusted_proxies_are_empty_by_default() -> None:
    from helpline.handoff.__main__ import trusted_proxies
    from helpline.settings import Settings

    assert trusted_proxies(Settings()) == []
    assert trusted_proxies(Settings(trusted_proxies=" 127.0.0.1, 10.0.0.0/8 ,")) == ["127.0.0.1", "10.0.0.0/8"]
