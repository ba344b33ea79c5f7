"""Which JetStream failures an election explains (retried) and which it does not (raised at once)."""

from __future__ import annotations

import asyncio
import time

import nats.errors
import nats.js.errors as jse
import pytest

from interlink.transports.nats._retry import Backoff, ack_error, passing, retrying


@pytest.mark.parametrize(("error", "retried"), [
    (nats.errors.TimeoutError(), True),
    (nats.errors.NoRespondersError(), True),
    (jse.ServiceUnavailableError(code=503, err_code=10008, description="JetStream system temporarily unavailable"),
     True),
    (jse.ServerError(code=500, err_code=10118, description="stream is offline"), True),
    (jse.ServerError(code=500, err_code=10052, description="duplicates window needs to be >= 100ms"), False),
    (jse.ServiceUnavailableError(code=503, err_code=10023, description="insufficient resources"), False),
    (jse.BadRequestError(code=400, err_code=10058, description="stream name already in use"), False),
    (ValueError("a bug"), False),
])
def test_passing(error: Exception, retried: bool) -> None:
    assert passing(error) is retried


def test_ack_error() -> None:
    assert ack_error(b'{"stream":"interlink_work","seq":5}') == (0, 0, "")
    assert ack_error(b'{"error":{"code":503,"err_code":10008,"description":"JetStream system temporarily '
                     b'unavailable"}}') == (503, 10008, "JetStream system temporarily unavailable")
    assert ack_error(b"") == (0, 0, "no stream stores it")


async def test_retrying_gives_up_within_its_budget_with_the_last_error() -> None:
    calls = 0

    async def election() -> None:
        nonlocal calls
        calls += 1
        raise nats.errors.TimeoutError

    start = time.monotonic()
    with pytest.raises(nats.errors.TimeoutError):
        await retrying(_Open(), election, "test", budget=1.0)  # type: ignore[arg-type]
    assert 3 <= calls <= 6 and time.monotonic() - start < 1.5


async def test_a_refusal_is_raised_at_once() -> None:
    async def refused() -> None:
        raise jse.BadRequestError(code=400, err_code=10058)

    start = time.monotonic()
    with pytest.raises(jse.BadRequestError):
        await retrying(_Open(), refused, "test", budget=5.0)  # type: ignore[arg-type]
    assert time.monotonic() - start < 0.05


async def test_backoff_doubles_up_to_two_seconds_within_the_deadline() -> None:
    backoff = Backoff(0.35)
    start = asyncio.get_running_loop().time()
    assert await backoff.wait() and await backoff.wait()  # 0.1 + 0.2
    assert not await backoff.wait()  # 0.4 would pass the deadline: not slept
    assert 0.29 <= asyncio.get_running_loop().time() - start < 0.45


class _Open:
    is_closed = False
