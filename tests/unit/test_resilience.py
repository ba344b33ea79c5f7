"""Retries, circuit breakers, bulkheads and fallbacks, alone and through bus.request / ctx.request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import interlink
from interlink import Context, NoResponders, Overloaded, RemoteError, RequestTimeout, Service, ServiceError
from interlink._resilience import Breaker, Bulkhead, CircuitBreaker, CircuitOpen, Policies, Policy, Retry, is_failure
from interlink.testing import unique


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the breaker alone ---------------------------------------------------------


def test_breaker_opens_on_failure_rate_and_refuses_with_retry_after() -> None:
    clock = Clock()
    breaker = CircuitBreaker(Breaker(failure_rate=0.5, min_calls=4, window=10, cool_down=5), clock)
    for failed in (False, True, False):
        breaker.record(failed, breaker.allow())
    assert breaker.state == "closed"  # 3 calls: below min_calls
    breaker.record(True, breaker.allow())  # 2 of 4 failed: 50%
    assert breaker.state == "open"
    clock.now += 2
    with pytest.raises(CircuitOpen) as refused:
        breaker.allow()
    assert refused.value.retry_after == pytest.approx(3.0)
    assert isinstance(refused.value, Overloaded)


def test_breaker_half_open_probe_closes_or_reopens() -> None:
    clock = Clock()
    breaker = CircuitBreaker(Breaker(min_calls=1, cool_down=5, probes=1), clock)
    breaker.record(True, breaker.allow())
    assert breaker.state == "open"
    clock.now += 5
    assert breaker.state == "half_open"
    probe = breaker.allow()
    assert probe is True
    with pytest.raises(CircuitOpen):  # only one probe at a time
        breaker.allow()
    breaker.record(True, probe)
    assert breaker.state == "open" and breaker.opened == 2
    clock.now += 5
    breaker.record(False, breaker.allow())
    assert breaker.state == "closed"
    assert breaker.allow() is False


def test_breaker_cancelled_probe_frees_the_slot_without_deciding() -> None:
    clock = Clock()
    breaker = CircuitBreaker(Breaker(min_calls=1, cool_down=1), clock)
    breaker.record(True, breaker.allow())
    clock.now += 1
    breaker.record(None, breaker.allow())
    assert breaker.state == "half_open"
    assert breaker.allow() is True


def test_breaker_window_forgets_old_failures() -> None:
    clock = Clock()
    breaker = CircuitBreaker(Breaker(failure_rate=0.5, min_calls=4, window=10), clock)
    for _ in range(3):
        breaker.record(True, breaker.allow())
    clock.now += 11  # those three fell out of the window
    for failed in (True, False, False, False):
        breaker.record(failed, breaker.allow())
    assert breaker.state == "closed"


def test_settings_are_checked_with_real_exceptions() -> None:
    with pytest.raises(ValueError):
        Breaker(failure_rate=0)
    with pytest.raises(ValueError):
        Retry(attempts=0)
    with pytest.raises(ValueError):
        Policy(max_concurrent=0)
    with pytest.raises(ValueError):
        Bulkhead(0)
    with pytest.raises(interlink.SubjectError):
        Policies({"bad subject": Policy()})


def test_retry_delay_grows_with_jitter_and_cap() -> None:
    retry = Retry(backoff=0.1, max_backoff=0.3)
    assert 0.05 <= retry.delay(1) <= 0.1
    assert 0.1 <= retry.delay(2) <= 0.2
    assert 0.15 <= retry.delay(5) <= 0.3


def test_what_counts_as_a_failure() -> None:
    assert is_failure(RequestTimeout()) and is_failure(NoResponders()) and is_failure(Overloaded())
    assert is_failure(RemoteError("internal"))
    assert not is_failure(RemoteError("not_found")) and not is_failure(ValueError())


def test_policy_lookup_exact_then_first_pattern_then_default() -> None:
    exact, pattern, default = Policy(timeout=1), Policy(timeout=2), Policy(timeout=3)
    policies = Policies({"billing.*": pattern, "billing.get": exact}, default=default)
    assert policies.policy_for("billing.get") is exact
    assert policies.policy_for("billing.put") is pattern
    assert policies.policy_for("trip.get") is default
    assert Policies().policy_for("trip.get") is None


# -- through the bus -------------------------------------------------------------


class Flaky:
    """An endpoint that fails its first ``failures`` calls, then answers."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        self.calls = 0


@pytest.fixture
async def bus() -> AsyncIterator[interlink.Bus]:
    async with interlink.connect(f"memory://{unique('res')}") as bus:
        yield bus


async def serve_flaky(bus: interlink.Bus, flaky: Flaky, subject: str = "flaky.get") -> None:
    svc = Service("flaky")

    @svc.endpoint(subject)
    async def get(body: Any) -> str:
        flaky.calls += 1
        if flaky.delay:
            await asyncio.sleep(flaky.delay)
        if body == "missing":
            raise ServiceError("not_found", "no such thing")
        if flaky.calls <= flaky.failures:
            raise RuntimeError("boom")
        return "ok"

    await bus.serve(svc)


async def test_idempotent_requests_are_retried_until_they_succeed(bus: interlink.Bus) -> None:
    flaky = Flaky(failures=2)
    await serve_flaky(bus, flaky)
    policy = Policy(idempotent=True, retry=Retry(attempts=3, backoff=0.01))
    assert await bus.request("flaky.get", "x", policy=policy) == "ok"
    assert flaky.calls == 3


async def test_requests_not_marked_idempotent_are_not_retried(bus: interlink.Bus) -> None:
    flaky = Flaky(failures=1)
    await serve_flaky(bus, flaky)
    with pytest.raises(RemoteError) as failed:
        await bus.request("flaky.get", "x", policy=Policy(retry=Retry(attempts=5, backoff=0.01)))
    assert failed.value.code == "internal" and flaky.calls == 1


async def test_typed_errors_are_answers_not_retried(bus: interlink.Bus) -> None:
    flaky = Flaky()
    await serve_flaky(bus, flaky)
    with pytest.raises(RemoteError) as failed:
        await bus.request("flaky.get", "missing", policy=Policy(idempotent=True, retry=Retry(backoff=0.01)))
    assert failed.value.code == "not_found" and flaky.calls == 1


async def test_retries_stay_within_the_call_timeout(bus: interlink.Bus) -> None:
    flaky = Flaky(failures=100, delay=0.05)
    await serve_flaky(bus, flaky)
    start = time.monotonic()
    with pytest.raises((RemoteError, RequestTimeout)):  # the last attempt may run out of time
        await bus.request("flaky.get", "x", timeout=0.3,
                          policy=Policy(idempotent=True, retry=Retry(attempts=50, backoff=0.02, max_backoff=0.02)))
    assert time.monotonic() - start < 1.0
    assert 2 <= flaky.calls < 10


async def test_per_attempt_timeout_then_retry(bus: interlink.Bus) -> None:
    flaky = Flaky()
    svc = Service("slow")

    @svc.endpoint("slow.get")
    async def get(body: Any) -> str:
        flaky.calls += 1
        if flaky.calls == 1:
            await asyncio.sleep(1.0)
        return "ok"

    await bus.serve(svc)
    policy = Policy(timeout=0.1, idempotent=True, retry=Retry(backoff=0.01))
    assert await bus.request("slow.get", None, timeout=2.0, policy=policy) == "ok"
    assert flaky.calls == 2


async def test_bulkhead_fails_fast_when_full(bus: interlink.Bus) -> None:
    flaky = Flaky(delay=0.5)
    await serve_flaky(bus, flaky)
    policy = Policy(max_concurrent=2, breaker=None)
    slow = [asyncio.create_task(bus.request("flaky.get", "x", policy=policy)) for _ in range(2)]
    await asyncio.sleep(0.05)
    start = time.monotonic()
    with pytest.raises(Overloaded):
        await bus.request("flaky.get", "x", policy=policy)
    assert time.monotonic() - start < 0.2  # not after the 0.5 s the others take
    assert await asyncio.gather(*slow) == ["ok", "ok"]
    assert await bus.request("flaky.get", "x", policy=policy) == "ok"  # room again
    assert bus.policies is not None and bus.policies.bulkheads()["flaky.get"].in_flight == 0


async def test_breaker_opens_per_target_and_stops_calling_it(bus: interlink.Bus) -> None:
    flaky = Flaky(failures=1000)
    await serve_flaky(bus, flaky)
    await serve_flaky(bus, Flaky(), "flaky.other")
    bus.policies = Policies({"flaky.*": Policy(breaker=Breaker(min_calls=3, cool_down=0.2))})
    for _ in range(3):
        with pytest.raises(RemoteError):
            await bus.request("flaky.get", "x")
    with pytest.raises(CircuitOpen):
        await bus.request("flaky.get", "x")
    assert flaky.calls == 3  # refused without reaching the service
    assert await bus.request("flaky.other", "x") == "ok"  # another target is not affected
    flaky.failures = 0
    await asyncio.sleep(0.25)
    assert await bus.request("flaky.get", "x") == "ok"  # the half-open probe succeeds
    assert bus.policies.breakers()["flaky.get"].state == "closed"


async def test_policies_alternating_on_one_subject_keep_their_own_breakers(bus: interlink.Bus) -> None:
    flaky = Flaky(failures=1000)
    await serve_flaky(bus, flaky)
    strict = Policy(breaker=Breaker(min_calls=2, cool_down=60))
    lenient = Policy(breaker=Breaker(min_calls=100, cool_down=60))
    for policy in (strict, lenient, strict):
        with pytest.raises(RemoteError):
            await bus.request("flaky.get", "x", policy=policy)
    with pytest.raises(CircuitOpen):  # the strict breaker saw its own two failures, not the lenient one's
        await bus.request("flaky.get", "x", policy=strict)
    with pytest.raises(RemoteError):  # the lenient breaker is still closed
        await bus.request("flaky.get", "x", policy=lenient)
    assert flaky.calls == 4


async def test_fallback_value_and_functions(bus: interlink.Bus) -> None:
    assert await bus.request("nobody.home", 1, policy=Policy(fallback={"cached": True})) == {"cached": True}
    seen: list[BaseException] = []

    def sync_fallback(exc: BaseException) -> str:
        seen.append(exc)
        return "from function"

    async def async_fallback(exc: BaseException) -> str:
        return "from coroutine"

    assert await bus.request("nobody.home", 1, policy=Policy(fallback=sync_fallback)) == "from function"
    assert isinstance(seen[0], NoResponders)
    assert await bus.request("nobody.home", 1, policy=Policy(fallback=async_fallback)) == "from coroutine"
    assert await bus.request("nobody.home", 1, policy=Policy(fallback=None)) is None


async def test_fallback_is_not_used_for_typed_errors(bus: interlink.Bus) -> None:
    await serve_flaky(bus, Flaky())
    with pytest.raises(RemoteError) as failed:
        await bus.request("flaky.get", "missing", policy=Policy(fallback="nope"))
    assert failed.value.code == "not_found"


async def test_ctx_request_takes_a_policy_and_the_inherited_deadline_bounds_retries(bus: interlink.Bus) -> None:
    flaky = Flaky(failures=1000)
    await serve_flaky(bus, flaky)
    front = Service("front")

    @front.endpoint("front.get")
    async def get(body: Any, ctx: Context) -> Any:
        policy = Policy(idempotent=True, retry=Retry(attempts=100, backoff=0.01, max_backoff=0.01),
                        fallback="fallback")
        return await ctx.request("flaky.get", body, timeout=30.0, policy=policy)

    await bus.serve(front)
    start = time.monotonic()
    assert await bus.request("front.get", "x", timeout=0.4) in ("fallback",)
    assert time.monotonic() - start < 1.0  # not the 30 s the inner call asked for
    assert flaky.calls >= 3


async def test_bus_without_policies_is_untouched(bus: interlink.Bus) -> None:
    await serve_flaky(bus, Flaky())
    assert await bus.request("flaky.get", "x") == "ok"
    assert bus.policies is None
