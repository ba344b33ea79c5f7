"""Wire fuzzing: hypothesis-made bodies, header names and values, and protocol fields, put by raw clients
on a served service's channels on NATS, RabbitMQ and Redis.

After each case the service must have handled the message, answered it (requests)
or dead-lettered it with a reason, and a good message sent right after must be
handled: the service is alive. Bounded for CI (EXAMPLES per test); ``--soak`` runs
SOAK_EXAMPLES. Hypothesis drives a worker thread; each case runs on the test's loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.wire._raw import RawText, mp_frame, mp_str
from tests.wire.conftest import Served

EXAMPLES = 25
SOAK_EXAMPLES = 150

PROTOCOL_FIELDS = ("il-v", "il-id", "il-cid", "il-from", "il-instance", "il-deadline", "il-reply-to", "il-inbox",
                   "il-re", "il-error", "content-type", "traceparent")
ODD_NUMBERS = ("abc", "-5", "0", "nan", "inf", "-inf", "1e400", "", " ", "2", "1.5", "0x10", "99999999999999999999",
               "application/msgpack", "text/plain", "00-" + "0" * 32 + "-" + "0" * 16 + "-01")
BODIES = (b"", b"null", b"{", b"[" * 3000 + b"]" * 3000, b"1e999", b"\xff\xfe", b'"text"', b"[1,2]", b"7" * 400)

int64 = st.integers(-(2**63), 2**63 - 1)
scalars = st.none() | st.booleans() | int64 | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
bodies = st.one_of(st.binary(max_size=300), json_values.map(msgspec.json.encode), st.sampled_from(BODIES),
                   st.integers(1_000, 120_000).map(lambda n: b"x" * n))


def _line(raw: bytes) -> bytes:
    return raw.replace(b"\r", b"").replace(b"\n", b"")


names = st.one_of(st.sampled_from(PROTOCOL_FIELDS),
                  st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
                          min_size=1, max_size=30).filter(lambda n: not n.lower().startswith("nats")))
byte_values = st.one_of(st.binary(max_size=60).map(_line), st.sampled_from(ODD_NUMBERS).map(str.encode),
                        st.text(max_size=30).map(lambda t: _line(t.encode())),
                        st.integers(1_000, 15_000).map(lambda n: b"v" * n))
byte_headers = st.lists(st.tuples(names.map(str.encode), byte_values), max_size=6)
# AMQP typed values; no NaN or infinite floats: RabbitMQ (Erlang) cannot read them and closes the sender's connection
amqp_values: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=40), st.sampled_from(ODD_NUMBERS), int64,
    st.floats(width=32, allow_nan=False, allow_infinity=False),
    st.booleans(), st.none(), st.binary(max_size=30).map(bytearray), st.binary(max_size=30).map(RawText),
    st.lists(st.integers(0, 9) | st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                                    st.integers(0, 9), max_size=3),
    st.integers(1_000, 15_000).map(lambda n: "v" * n))
amqp_headers = st.one_of(st.none(), st.dictionaries(st.one_of(names, st.just("x-il-attempt"), st.just("x-il-subject"),
                                                               st.just("x-delivery-count"), st.just("x-death")),
                                                     amqp_values, max_size=6))
redis_fields = st.dictionaries(st.sampled_from([b"a", b"x", b"f2"]), st.sampled_from([b"abc", b"-1", b"0", b"3", b""]),
                               max_size=2)


def run(served: Served, request: pytest.FixtureRequest, strategy: st.SearchStrategy[Any],
        case: Callable[[Any], Awaitable[None]]) -> Awaitable[None]:
    """Run ``case`` on the test's loop for each example hypothesis draws from ``strategy``."""
    loop = asyncio.get_running_loop()
    examples = SOAK_EXAMPLES if request.config.getoption("--soak") else EXAMPLES

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def check(value: Any) -> None:
        try:
            asyncio.run_coroutine_threadsafe(case(value), loop).result(timeout=120)
        except BaseException as exc:
            raise AssertionError(f"{served.broker}: {exc} -- the case: {shown(value)}") from exc

    return asyncio.to_thread(check)


def shown(value: Any) -> str:
    """A readable summary of a drawn case (bodies and values of any size, cut)."""
    if isinstance(value, bytes | bytearray | str):
        return repr(value[:80]) + (f"...({len(value)})" if len(value) > 80 else "")
    if isinstance(value, tuple | list):
        return "(" + ", ".join(shown(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{shown(k)}: {shown(v)}" for k, v in value.items()) + "}"
    return repr(value)


REPLY_FIELDS = (b"il-reply-to", b"il-inbox", "il-reply-to", "il-inbox")


def names_reply(headers: Any) -> bool:
    """Whether the drawn headers name a reply address (a refusal may then be answered there)."""
    if headers is None:
        return False
    if isinstance(headers, dict):
        return any(k in REPLY_FIELDS for k in headers)
    if isinstance(headers, list):
        return any(k in REPLY_FIELDS for k, _ in headers)
    return True  # a whole frame of any shape


async def settle(served: Served, before: tuple[int, int], channel: str, headers: Any) -> None:
    """The one rule: handled, answered or dead-lettered with a reason; then the service is alive;
    then a clean slate."""
    if logging.getLogger("interlink").getEffectiveLevel() > logging.WARNING:
        logging.getLogger("interlink").setLevel(logging.WARNING)
    await served.outcome(before[0], channel=channel, may_answer=names_reply(headers), refused=before[1])
    await served.alive()
    await served.purge()


async def put(served: Served, channel: str, body: bytes, headers: Any) -> None:
    raw, subject = served.raw, served.subject if channel == "endpoint" else f"{served.topic}.z"
    if served.broker == "redis":
        frame = mp_frame(subject.encode(), headers, body) if isinstance(headers, list) else headers
        if channel == "endpoint":
            await raw.send(subject, frame)
        else:
            await raw.publish(served.name, f"{served.topic}.*", frame)
    elif channel == "endpoint":
        await raw.send(subject, body, headers)
    else:
        await raw.publish(subject, body, headers)


def headers_for(broker: str) -> st.SearchStrategy[Any]:
    """Headers as each raw client takes them: AMQP typed values, NATS lines (None: no header block at
    all), Redis map entries."""
    if broker == "rabbitmq":
        return amqp_headers
    return st.one_of(st.none(), byte_headers) if broker == "nats" else byte_headers


@pytest.mark.parametrize("channel", ["endpoint", "subscription"])
async def test_anything_on_a_stored_channel(served: Served, request: pytest.FixtureRequest, channel: str) -> None:
    async def case(drawn: tuple[bytes, Any]) -> None:
        before = len(served.got if channel == "endpoint" else served.heard), len(served.refused)
        await put(served, channel, *drawn)
        await settle(served, before, channel, drawn[1])

    await run(served, request, st.tuples(bodies, headers_for(served.broker)), case)


async def test_any_request_is_answered(served: Served, request: pytest.FixtureRequest) -> None:
    async def case(drawn: tuple[bytes, Any]) -> None:
        body, headers = drawn
        if served.broker == "redis":
            reply = await served.raw.request(served.subject, served.subject.encode(), headers, body, 15.0)
        else:
            reply = await served.raw.request(served.subject, body, headers, 15.0)
        assert reply is not None, "no answer"
        await served.alive()

    await run(served, request, st.tuples(bodies, headers_for(served.broker)), case)


@pytest.mark.parametrize("served", ["redis"], indirect=True)
async def test_any_redis_frame_and_entry_fields(served: Served, request: pytest.FixtureRequest) -> None:
    """Whole frames of any shape, typed header values, and the entry fields beside ``f``."""
    frames = st.one_of(
        st.binary(max_size=200),
        st.tuples(st.text(max_size=20), st.dictionaries(st.text(max_size=10), json_values, max_size=4),
                  st.one_of(st.binary(max_size=50), st.text(max_size=20), int64))
        .map(msgspec.msgpack.encode),
        st.lists(json_values, max_size=5).map(msgspec.msgpack.encode),
        st.binary(max_size=40).map(lambda b: b"\x93" + mp_str(b) + b"\x80\xc4\x01" + b"1"))

    async def case(drawn: tuple[bytes, dict[bytes, bytes]]) -> None:
        frame, fields = drawn
        before = len(served.got), len(served.refused)
        await served.raw.send(served.subject, frame, **{k.decode(): v for k, v in fields.items()})
        await settle(served, before, "endpoint", frame)

    await run(served, request, st.tuples(frames, redis_fields), case)


def _nats_frame(envelope: bytes, body: bytes, version: int = 1, extra: int = 0) -> bytes:
    return bytes((0xC1, version)) + max(0, len(envelope) + extra).to_bytes(2, "big") + envelope + body


envelopes = st.one_of(
    st.dictionaries(st.sampled_from(PROTOCOL_FIELDS) | st.text(max_size=10),
                    st.sampled_from(ODD_NUMBERS) | st.text(max_size=30), max_size=6).map(msgspec.json.encode),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4).map(msgspec.json.encode),
    json_values.map(msgspec.json.encode), st.binary(max_size=60))
nats_frames = st.one_of(
    st.tuples(envelopes, bodies).map(lambda d: _nats_frame(*d)),
    st.tuples(envelopes, bodies, st.integers(0, 255), st.integers(-3, 3)).map(lambda d: _nats_frame(*d)),
    st.binary(max_size=6).map(lambda b: b"\xc1" + b))


@pytest.mark.parametrize("served", ["nats"], indirect=True)
@pytest.mark.parametrize("channel", ["endpoint", "subscription", "request"])
async def test_any_nats_frame(served: Served, request: pytest.FixtureRequest, channel: str) -> None:
    """Payloads starting with the frame's magic byte, of any shape (see docs/protocol.md, "The frame"),
    with or without NATS headers beside them."""
    async def case(drawn: tuple[bytes, Any]) -> None:
        payload, headers = drawn
        if channel == "request":
            assert await served.raw.request(served.subject, payload, headers, 15.0) is not None, "no answer"
            await served.alive()
            return
        before = len(served.got if channel == "endpoint" else served.heard), len(served.refused)
        await put(served, channel, payload, headers)
        await settle(served, before, channel, payload)

    await run(served, request, st.tuples(nats_frames, st.one_of(st.none(), byte_headers)), case)
