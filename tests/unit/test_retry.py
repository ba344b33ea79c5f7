"""Retry policies per error, on the memory broker (the dispatcher is the same on every transport)."""

import asyncio
from typing import Any

import pytest

import interlink
from interlink import RetryPolicy, Service, ServiceError, no_retry, retry_on
from interlink.testing import unique
from interlink.testing.conformance import dead_letters_of, eventually


class Glitch(Exception):
    pass


def _flaky(svc: Service, subject: str, errors: list[BaseException], **options: Any) -> list[int]:
    """An endpoint raising the given errors in turn, then succeeding; returns the attempts it saw."""
    attempts: list[int] = []

    @svc.endpoint(subject, **options)
    async def handle(body: Any, ctx: interlink.Context) -> None:
        attempts.append(ctx.attempt)
        if errors:
            raise errors.pop(0)

    return attempts


async def test_immediate_retries_run_again_in_the_same_delivery() -> None:
    svc, subject = Service(unique("svc")), unique()
    seen = _flaky(svc, subject, [Glitch(), Glitch()], retry=RetryPolicy(retry_on(Glitch, immediate=2, delayed=0)))
    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(svc)
        await bus.notify(subject, 1)
        await eventually(lambda: len(seen) == 3)
        await asyncio.sleep(0.1)
        assert seen == [1, 1, 1]  # three runs, one delivery
        assert await dead_letters_of(bus, svc.name) == []


async def test_delayed_retries_after_immediate_ones_then_dead_letter() -> None:
    svc, subject = Service(unique("svc")), unique()
    errors: list[BaseException] = [Glitch() for _ in range(10)]
    seen = _flaky(svc, subject, errors,
                  retry=RetryPolicy(retry_on(Glitch, immediate=1, delayed=2, backoff=0.01, max_backoff=0.02)))
    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(svc)
        await bus.notify(subject, 1)
        await eventually(lambda: len(seen) == 6)
        dead = await dead_letters_of(bus, svc.name)
        await eventually(lambda: len(bus.transport.broker.dead) == 1)  # type: ignore[attr-defined]
        assert seen == [1, 1, 2, 2, 3, 3]  # (1 + 1 immediate) per delivery, 1 + 2 delayed deliveries
        dead = await dead_letters_of(bus, svc.name)
        assert dead[0].headers["il-dead-attempts"] == "3"


async def test_no_retry_dead_letters_at_once_and_codes_are_rules_too() -> None:
    svc, subject = Service(unique("svc"), retry=RetryPolicy(no_retry(KeyError, "card_declined"))), unique()
    seen = _flaky(svc, subject, [KeyError("k"), ServiceError("card_declined", "no")])
    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(svc)
        await bus.notify(subject, 1)
        await bus.notify(subject, 2)
        await eventually(lambda: len(bus.transport.broker.dead) == 2)  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        assert seen == [1, 1]


async def test_a_service_error_code_can_be_retried() -> None:
    svc, subject = Service(unique("svc")), unique()
    seen = _flaky(svc, subject, [ServiceError("busy", "later")],
                  retry=RetryPolicy(retry_on("busy", delayed=1, backoff=0.01)))
    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(svc)
        await bus.notify(subject, 1)
        await eventually(lambda: seen == [1, 2])
        assert await dead_letters_of(bus, svc.name) == []


async def test_unmatched_errors_keep_the_delivery_settings() -> None:
    svc, subject = Service(unique("svc")), unique()
    seen = _flaky(svc, subject, [ValueError() for _ in range(5)], max_attempts=2, backoff=0.01,
                  retry=RetryPolicy(retry_on(Glitch, immediate=3)))
    async with interlink.connect(f"memory://{unique()}") as bus:
        await bus.serve(svc)
        await bus.notify(subject, 1)
        await eventually(lambda: len(bus.transport.broker.dead) == 1)  # type: ignore[attr-defined]
        assert seen == [1, 2]


def test_rules_are_checked() -> None:
    with pytest.raises(TypeError):
        retry_on(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        retry_on(Glitch, immediate=-1)
    with pytest.raises(TypeError):
        RetryPolicy(Glitch)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Service("s", retry=retry_on(Glitch))  # type: ignore[arg-type]
    rule = retry_on(Glitch, backoff=1.0, max_backoff=3.0, jitter=0.0)
    assert [rule.delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 3.0]
