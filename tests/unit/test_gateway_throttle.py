"""The local gateway's usage-plan throttle: a token bucket per API key, as API Gateway applies a usage plan."""

from __future__ import annotations

from local.apigw import TokenBuckets
from local.template import Throttle

PLAN = Throttle(rate=10, burst=100)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_serves_the_burst_then_asks_to_wait():
    clock = Clock()
    buckets = TokenBuckets(clock)
    assert all(buckets.take("partner-a", PLAN) == 0 for _ in range(100))
    wait = buckets.take("partner-a", PLAN)
    assert 0 < wait <= 0.1 + 1e-9


def test_tokens_come_back_at_the_plan_rate():
    clock = Clock()
    buckets = TokenBuckets(clock)
    for _ in range(100):
        buckets.take("partner-a", PLAN)
    clock.now += 1.0
    served = sum(buckets.take("partner-a", PLAN) == 0 for _ in range(20))
    assert served == 10


def test_each_key_has_its_own_bucket():
    buckets = TokenBuckets(Clock())
    for _ in range(100):
        buckets.take("partner-a", PLAN)
    assert buckets.take("partner-a", PLAN) > 0
    assert buckets.take("partner-b", PLAN) == 0
