"""Partial-failure tools for requests: retries, circuit breakers, bulkheads, fallbacks.

Per target (a subject or pattern), on the bus; every ``bus.request`` and
``ctx.request`` to a matching subject goes through the policy::

    bus.policies = Policies({
        "billing.*": Policy(max_concurrent=20, fallback={"estimate": None}),
        "trip.get": Policy(idempotent=True, retry=Retry(attempts=3)),
    })

Per call (replaces the target's policy for that call)::

    status = await ctx.request("trip.get", body, policy=Policy(idempotent=True, timeout=0.5))

Around one call the layers are, outermost first: fallback, bulkhead, retry,
circuit breaker, one attempt. The call's ``timeout`` (and any deadline it
inherits) bounds all attempts together; ``Policy.timeout`` caps each attempt.
Breaker and bulkhead state is kept per target subject, in the ``Policies`` of the
bus. Without policies, ``bus.request`` does not touch this module.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from interlink import _headers as h
from interlink._errors import BrokerError, CircuitOpen, NoResponders, Overloaded, RemoteError, RequestTimeout
from interlink._subjects import check_pattern, matches

if TYPE_CHECKING:
    from interlink._bus import Bus
    from interlink._context import Context

T = TypeVar("T")
State = Literal["closed", "open", "half_open"]

#: Errors that say the target is unavailable (as opposed to a business answer such as "not_found").
UNAVAILABLE: tuple[type[Exception], ...] = (RequestTimeout, NoResponders, BrokerError, Overloaded)


def is_failure(exc: BaseException) -> bool:
    """True for errors that say the target is unhealthy: unavailable, or crashed ("internal").

    Typed errors a handler answers with (``not_found``, ``invalid``...) are answers, not failures.
    """
    if isinstance(exc, RemoteError):
        return exc.code == "internal"
    return isinstance(exc, UNAVAILABLE)


def _retryable(exc: BaseException) -> bool:
    # a refusal by a local limit is not retried: trying again at once would be refused too
    return is_failure(exc) and not isinstance(exc, Overloaded)


@dataclass(frozen=True, slots=True)
class Retry:
    """Retries of a request marked idempotent: ``attempts`` in all, with exponential backoff and jitter.

    The n-th retry waits between half and all of ``min(max_backoff, backoff * 2**(n-1))`` seconds.
    Only failures (see :func:`is_failure`) are retried, never a local refusal.
    """

    attempts: int = 3
    backoff: float = 0.05
    max_backoff: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Retry.attempts must be at least 1")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("Retry.backoff and max_backoff must not be negative")

    def delay(self, retry: int) -> float:
        full = min(self.max_backoff, self.backoff * 2.0 ** (retry - 1))
        return full * random.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Breaker:
    """Settings of a circuit breaker (the state lives in :class:`CircuitBreaker`, one per target).

    It opens when, over the last ``window`` seconds, at least ``min_calls`` calls were made and
    at least ``failure_rate`` of them failed. After ``cool_down`` seconds it lets ``probes``
    calls through (half-open): a success closes it, a failure opens it again.
    """

    failure_rate: float = 0.5
    min_calls: int = 10
    window: float = 10.0
    cool_down: float = 5.0
    probes: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.failure_rate <= 1.0:
            raise ValueError("Breaker.failure_rate must be in (0, 1]")
        if self.min_calls < 1 or self.probes < 1:
            raise ValueError("Breaker.min_calls and probes must be at least 1")
        if self.window <= 0 or self.cool_down <= 0:
            raise ValueError("Breaker.window and cool_down must be positive")


class CircuitBreaker:
    """The state of one target's breaker: closed, open or half-open.

        breaker = CircuitBreaker(Breaker(min_calls=5))
        probe = breaker.allow()          # raises CircuitOpen while open
        breaker.record(failed, probe)    # failed=None: the call was cancelled, not counted
    """

    BUCKETS = 10  # the window slides in tenths

    def __init__(self, settings: Breaker = Breaker(), clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._state: State = "closed"
        self._opened_at = 0.0
        self._probes = 0
        self._buckets: deque[list[float]] = deque()  # [start, calls, failures]
        self._calls = self._failures = 0  # totals of the buckets
        self.opened = 0  # times it opened, for metrics

    @property
    def state(self) -> State:
        if self._state == "open" and self._clock() - self._opened_at >= self.settings.cool_down:
            self._state, self._probes = "half_open", 0
        return self._state

    def allow(self) -> bool:
        """Let a call through (True if it is a half-open probe) or raise :class:`CircuitOpen`."""
        state = self.state
        if state == "closed":
            return False
        if state == "half_open" and self._probes < self.settings.probes:
            self._probes += 1
            return True
        wait = self.settings.cool_down - (self._clock() - self._opened_at)
        raise CircuitOpen("circuit open", retry_after=max(wait, 0.0) if state == "open" else 1.0)

    def record(self, failed: bool | None, probe: bool = False) -> None:
        if probe:
            self._probes = max(0, self._probes - 1)
            if failed is None or self._state != "half_open":
                return
            if failed:
                self._open()
            else:
                self._state = "closed"
                self._clear()
            return
        if failed is None or self._state != "closed":
            return
        calls, failures = self._count(failed)
        s = self.settings
        if calls >= s.min_calls and failures >= s.failure_rate * calls:
            self._open()

    def _count(self, failed: bool) -> tuple[int, int]:
        """Count a call in the window; the window's (calls, failures), kept as running totals
        so that a call costs the same however many buckets the window holds."""
        now = self._clock()
        window = self.settings.window
        buckets = self._buckets
        while buckets and buckets[0][0] <= now - window:
            _, calls, failures = buckets.popleft()
            self._calls -= int(calls)
            self._failures -= int(failures)
        if not buckets or buckets[-1][0] + window / self.BUCKETS <= now:
            buckets.append([now, 0, 0])
        last = buckets[-1]
        last[1] += 1
        self._calls += 1
        if failed:
            last[2] += 1
            self._failures += 1
        return self._calls, self._failures

    def _clear(self) -> None:
        self._buckets.clear()
        self._calls = self._failures = 0

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._clear()
        self.opened += 1


class Bulkhead:
    """At most ``limit`` calls outstanding to one target; one more fails fast with Overloaded.

        with bulkhead:        # raises Overloaded when full; never queues
            await call()
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a bulkhead limit must be at least 1")
        self.limit = limit
        self.in_flight = 0

    def __enter__(self) -> Bulkhead:
        if self.in_flight >= self.limit:
            raise Overloaded(f"{self.limit} requests already outstanding")
        self.in_flight += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.in_flight -= 1


_NO_FALLBACK: Any = object()


@dataclass(frozen=True, slots=True)
class Policy:
    """How calls to a target behave under partial failure.

    timeout:        seconds for each attempt (None: the call's whole timeout).
    idempotent:     the request may be repeated safely; only then is ``retry`` used.
    retry:          retry settings for idempotent requests.
    breaker:        circuit breaker settings (None: no breaker).
    max_concurrent: bulkhead size, outstanding calls per target (None: unbounded).
    fallback:       a value returned instead of a failure, or a function ``f(exc)`` (sync or
                    async) returning one. Used for failures only (see :func:`is_failure`),
                    never for a typed error the target answered with.
    """

    timeout: float | None = None
    idempotent: bool = False
    retry: Retry = field(default_factory=Retry)
    breaker: Breaker | None = field(default_factory=Breaker)
    max_concurrent: int | None = 256
    fallback: Any = _NO_FALLBACK

    def __post_init__(self) -> None:
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("Policy.timeout must be positive")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError("Policy.max_concurrent must be at least 1")

    @property
    def has_fallback(self) -> bool:
        return self.fallback is not _NO_FALLBACK


class Policies:
    """The policies of one bus, per target pattern, and the breaker and bulkhead state per subject.

    An exact subject wins over patterns; among patterns the first declared wins. Subjects that
    match nothing get ``default`` (None: called as if there were no policies).
    """

    def __init__(self, targets: Mapping[str, Policy] | None = None, default: Policy | None = None) -> None:
        self.targets = dict(targets or {})
        for pattern in self.targets:
            check_pattern(pattern)
        self.default = default
        self._resolved: dict[str, Policy | None] = {}
        self._breakers: dict[tuple[str, Breaker], CircuitBreaker] = {}
        self._bulkheads: dict[tuple[str, int], Bulkhead] = {}
        self._last: dict[str, tuple[Policy, Bulkhead | None, CircuitBreaker | None]] = {}

    def policy_for(self, subject: str) -> Policy | None:
        try:
            return self._resolved[subject]
        except KeyError:
            pass
        policy = self.targets.get(subject)
        if policy is None:
            policy = next((p for pat, p in self.targets.items() if matches(pat, subject)), self.default)
        self._resolved[subject] = policy
        return policy

    def breaker(self, subject: str, settings: Breaker) -> CircuitBreaker:
        key = (subject, settings)
        found = self._breakers.get(key)
        if found is None:
            found = self._breakers[key] = CircuitBreaker(settings)
        return found

    def bulkhead(self, subject: str, limit: int) -> Bulkhead:
        key = (subject, limit)
        found = self._bulkheads.get(key)
        if found is None:
            found = self._bulkheads[key] = Bulkhead(limit)
        return found

    def breakers(self) -> dict[str, CircuitBreaker]:
        """Every breaker by target subject (for metrics and readiness)."""
        return {subject: b for (subject, _), b in self._breakers.items()}

    def bulkheads(self) -> dict[str, Bulkhead]:
        return {subject: b for (subject, _), b in self._bulkheads.items()}

    def _guards(self, subject: str, policy: Policy) -> tuple[Policy, Bulkhead | None, CircuitBreaker | None]:
        """The bulkhead and breaker of ``policy`` on ``subject``, cached by subject for the policy last used
        there: found by identity, without hashing the policy's settings on every call."""
        guards = self._last.get(subject)
        if guards is None or guards[0] is not policy:
            guards = self._last[subject] = (
                policy,
                None if policy.max_concurrent is None else self.bulkhead(subject, policy.max_concurrent),
                None if policy.breaker is None else self.breaker(subject, policy.breaker))
        return guards

    async def call(self, subject: str, attempt: Callable[[float], Awaitable[T]], timeout: float,
                   policy: Policy | None = None) -> T:
        """Run ``attempt(seconds)`` under the policy of the call (else of the target).

        One coroutine for the layers (this runs for every request): fallback, bulkhead, then the
        attempts, each through the breaker.
        """
        policy = policy or self.policy_for(subject)
        if policy is None:
            return await attempt(timeout)
        _, bulkhead, breaker = self._guards(subject, policy)
        try:
            if bulkhead is not None:
                if bulkhead.in_flight >= bulkhead.limit:
                    raise Overloaded(f"{bulkhead.limit} requests already outstanding")
                bulkhead.in_flight += 1
            try:
                loop = asyncio.get_running_loop()
                end = loop.time() + timeout
                attempts = policy.retry.attempts if policy.idempotent else 1
                cap = policy.timeout
                n = 1
                while True:
                    seconds = end - loop.time() if n > 1 else timeout
                    if cap is not None and cap < seconds:
                        seconds = cap
                    try:
                        if breaker is None:
                            return await attempt(seconds)
                        # a closed breaker lets every call through: its state is read without the property
                        probe = False if breaker._state == "closed" else breaker.allow()
                        failed: bool | None = None
                        try:
                            result = await attempt(seconds)
                        except Exception as exc:
                            failed = is_failure(exc) and not isinstance(exc, Overloaded)
                            raise
                        else:
                            failed = False
                            return result
                        finally:
                            breaker.record(failed, probe)
                    except Exception as exc:
                        if n == attempts or not _retryable(exc):
                            raise
                        pause = policy.retry.delay(n)
                        if loop.time() + pause >= end:  # no time left for another attempt
                            raise
                        await asyncio.sleep(pause)
                    n += 1
            finally:
                if bulkhead is not None:
                    bulkhead.in_flight -= 1
        except Exception as exc:
            if not policy.has_fallback or not is_failure(exc):
                raise
            value: T = await _fall_back(policy.fallback, exc)  # the caller's own fallback, of its own type
            return value


async def _fall_back(fallback: Any, exc: Exception) -> Any:
    if not callable(fallback):
        return fallback
    value = fallback(exc)
    if isinstance(value, Awaitable):
        return await value
    return value


def guarded_request(bus: Bus, subject: str, timeout: float, policy: Policy | None,
                    parent: Context | None, attempt: Callable[[float], Awaitable[T]]) -> Awaitable[T]:
    """The bus's one hook: a request under the bus's policies and/or the call's ``policy``.

    A plain function returning the call's awaitable: one coroutine fewer on every request.
    """
    if bus.policies is None:
        bus.policies = Policies()
    if parent is not None:  # the whole call, retries included, fits in the deadline it inherits
        left = h.seconds_left(parent.headers)
        if left is not None:
            timeout = min(timeout, max(left, 0.0))
    return bus.policies.call(subject, attempt, timeout, policy)
