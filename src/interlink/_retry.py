"""Retry policies for asynchronous messages, chosen by the error a handler raised.

A handler (or a whole service) names rules; the first rule whose errors match
the exception decides. Each rule gives immediate retries (the handler runs
again at once, in the same delivery) and then delayed retries (the message goes
back to the broker and returns after a backoff with jitter); a rule with neither
dead-letters the message at once::

    policy = RetryPolicy(
        retry_on(ConnectionError, TimeoutError, immediate=2, delayed=5, backoff=1.0, max_backoff=60.0),
        no_retry(KeyError, "card_declined"),      # a ServiceError code counts as an error name
    )

    @billing.endpoint("billing.charge", retry=policy)
    async def charge(req: Charge) -> None: ...

    billing = Service("billing", retry=policy)    # every handler of the service, unless it names its own

An error no rule matches gets the policy's ``default`` (None: the handler's
``Delivery`` settings, which is also what a handler without any policy gets:
any exception retried up to ``max_attempts`` deliveries, a ``ServiceError`` never).
Requests are never retried here: the caller gets the error at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from interlink._errors import ServiceError

ErrorSpec = type[BaseException] | str


@dataclass(frozen=True, slots=True)
class RetryRule:
    """What to do with the errors in ``errors`` (exception types, or ``ServiceError`` codes as strings).

    immediate:   runs of the handler again at once, within the same delivery.
    delayed:     redeliveries after that, the n-th after ``min(max_backoff, backoff * 2**(n-1))``
                 seconds, times a random factor in ``[1 - jitter, 1]``.
    Both 0: dead-letter at once.
    """

    errors: tuple[ErrorSpec, ...]
    immediate: int = 0
    delayed: int = 4
    backoff: float = 0.2
    max_backoff: float = 10.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        for error in self.errors:
            if not (isinstance(error, str) or (isinstance(error, type) and issubclass(error, BaseException))):
                raise TypeError(f"a retry rule names exception types or ServiceError codes, not {error!r}")
        if self.immediate < 0 or self.delayed < 0:
            raise ValueError("immediate and delayed retries must not be negative")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be in [0, 1]")

    def matches(self, exc: BaseException) -> bool:
        code = exc.code if isinstance(exc, ServiceError) else None
        return any(e == code if isinstance(e, str) else isinstance(exc, e) for e in self.errors)

    def delay(self, retry: int) -> float:
        """Seconds before delayed retry number ``retry`` (1 for the first)."""
        full = min(self.max_backoff, self.backoff * 2.0 ** (retry - 1))
        return full * random.uniform(1.0 - self.jitter, 1.0)


def retry_on(*errors: ErrorSpec, immediate: int = 0, delayed: int = 4, backoff: float = 0.2,
             max_backoff: float = 10.0, jitter: float = 0.5) -> RetryRule:
    """A rule retrying ``errors``: ``immediate`` times at once, then ``delayed`` times with backoff."""
    return RetryRule(errors, immediate, delayed, backoff, max_backoff, jitter)


def no_retry(*errors: ErrorSpec) -> RetryRule:
    """A rule that dead-letters ``errors`` at once (or answers an async request with the error)."""
    return RetryRule(errors, immediate=0, delayed=0)


class RetryPolicy:
    """Rules tried in order; the first that matches the exception decides."""

    __slots__ = ("default", "rules")

    def __init__(self, *rules: RetryRule, default: RetryRule | None = None) -> None:
        for rule in rules:
            if not isinstance(rule, RetryRule):
                raise TypeError(f"RetryPolicy takes RetryRule values (retry_on, no_retry), not {rule!r}")
        self.rules = rules
        self.default = default

    def __repr__(self) -> str:
        return f"RetryPolicy({', '.join(map(repr, self.rules))}, default={self.default!r})"

    def rule_for(self, exc: BaseException) -> RetryRule | None:
        """The rule for ``exc``; None means the handler's ``Delivery`` settings decide."""
        for rule in self.rules:
            if rule.matches(exc):
                return rule
        return self.default
