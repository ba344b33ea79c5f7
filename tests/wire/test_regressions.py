"""Each way that a raw client once broke a served service, as a named test (docs/protocol.md, "Robustness").

Every test injects with a raw client, then checks the one rule: the message
is handled, answered or dead-lettered with its reason, exactly once, and the
service goes on (a good message sent after it is handled). Figures (before
the fix) are in the test docstrings.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec
import pytest

import interlink
from interlink import Context, Service
from interlink.testing import unique
from interlink.testing.conformance import eventually
from tests.wire._raw import RawText, mp_frame
from tests.wire.conftest import Served


def rejections(caplog: pytest.LogCaptureFixture, served: Served) -> int:
    return sum(1 for r in caplog.records if r.getMessage().startswith(f"{served.name}: rejected message"))


async def held_for(seconds: float, served: Served, caplog: pytest.LogCaptureFixture, expected: int) -> None:
    """Over ``seconds`` the bad messages are refused exactly ``expected`` times: no redelivery loop."""
    await asyncio.sleep(seconds)
    assert rejections(caplog, served) == expected
    assert len(await served.dead()) == expected


@pytest.mark.parametrize("served", ["redis"], indirect=True)
async def test_redis_attempt_field_that_is_not_a_number_keeps_the_consumer(served: Served) -> None:
    """Before: the stream reader task ended; 0 of 3 later notifications handled in 40 s."""
    await served.raw.send(served.subject, served.good_frame(served.subject, 7), a=b"abc")
    later = [await served.send_good() for _ in range(3)]
    await eventually(lambda: 7 in served.got and all(n in served.got for n in later), 20,
                     state=lambda: served.got)


@pytest.mark.parametrize("served", ["redis"], indirect=True)
async def test_redis_entries_that_cannot_be_decoded_are_dead_lettered(served: Served) -> None:
    """Before: logged and deleted (dropped, no dead letter); the one with a non-UTF-8 header value too."""
    subject = served.subject
    for frame in (b"", b"\xc1 not msgpack", msgspec.msgpack.encode((subject, b"1")),  # headers missing
                  msgspec.msgpack.encode((subject, {"k": "v"}, 5))):  # body not bytes
        await served.raw.send(subject, frame)
    await served.raw.entry(f"{served.raw.prefix}:q:{subject}", {b"x": b"no frame field"})
    await served.raw.send(subject, mp_frame(subject.encode(), [(b"k", b"\xff\xfe"), (b"ok", b"1")], b"8"))
    await served.raw.client.rpush(f"{served.raw.prefix}:rq:{subject}", b"\x93\x01")  # a request frame
    await eventually(lambda: 8 in served.got, 20)
    letters: list[interlink.transports.base.Message] = []

    async def six() -> bool:
        letters[:] = await served.dead()
        return len(letters) == 6

    end = time.monotonic() + 20
    while not await six():
        assert time.monotonic() < end, [m.headers.get("il-dead-reason") for m in letters]
        await asyncio.sleep(0.1)
    assert all(m.headers["il-dead-reason"].startswith("unreadable") for m in letters)
    assert all(m.headers.get("il-id") for m in letters)  # each can be listed, replayed and removed
    await served.alive()


@pytest.mark.parametrize("served", ["rabbitmq"], indirect=True)
async def test_rabbitmq_non_utf8_header_with_a_bad_body_is_dead_lettered_once(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    """Before: dead-lettering failed in pamqp (bytes header) and the message was requeued at once:
    13,209 redeliveries in 20 s, never dead-lettered."""
    caplog.set_level(logging.WARNING, "interlink")
    await served.raw.send(served.subject, b"not json", {"k": RawText(b"\xff\xfe"), "n": 5, "t": {"a": 1}})
    await eventually(lambda: rejections(caplog, served) >= 1, 20)
    await held_for(3.0, served, caplog, 1)
    letter = (await served.dead())[0]
    assert "k" not in letter.headers and "n" not in letter.headers  # not text: ignored
    await served.alive()


@pytest.mark.parametrize("served", ["rabbitmq"], indirect=True)
async def test_rabbitmq_headers_just_under_the_frame_limit_keep_the_connection(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    """Before: the dead letter exceeded frame_max and the broker closed interlink's connection
    (42 times in 40 s); 151 of 159 requests to the service failed meanwhile."""
    caplog.set_level(logging.WARNING, "interlink")
    client = await interlink.connect(served.url).start()
    try:
        await served.raw.send(served.subject, b"not json", {"big": "x" * (131_072 - 150)})
        ok = failed = 0
        for n in range(30):
            try:
                assert await client.request(served.subject, n, timeout=5.0) == n
                ok += 1
            except interlink.InterlinkError:
                failed += 1
            await asyncio.sleep(0.05)
        assert (ok, failed) == (30, 0)
        await held_for(0.5, served, caplog, 1)
        letter = (await served.dead())[0]
        assert "big cut from" in letter.headers["il-dead-cut"]
        assert letter.headers["il-dead-reason"].startswith("malformed body")
    finally:
        await client.close()
    await served.alive()


@pytest.mark.parametrize("served", ["rabbitmq"], indirect=True)
async def test_rabbitmq_retry_of_headers_at_the_frame_limit_is_dead_lettered(served: Served) -> None:
    """The retry copy adds x-il-attempt and x-il-subject: at the frame limit it could not be published."""
    svc, subject, calls = Service(unique("retry")), unique("r"), []

    @svc.endpoint(subject, max_attempts=3, backoff=0.01)
    async def failing(n: int) -> None:
        calls.append(n)
        raise RuntimeError("always")

    await served.bus.serve(svc)
    await served.raw.send(subject, b"1", {"big": "x" * (131_072 - 150)})
    end = time.monotonic() + 20
    while not (letters := await served.bus.transport.dead_letters(100)):
        assert time.monotonic() < end
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)
    assert calls == [1]  # not redelivered in a loop
    assert "frame limit" in letters[0].headers["il-dead-reason"]
    assert "big cut from" in letters[0].headers["il-dead-cut"]
    await served.alive()


@pytest.mark.parametrize("served", ["nats"], indirect=True)
async def test_nats_dead_letter_near_the_size_limits_is_cut_and_settled(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    """Before: JetStream refused the dead letter (64 KiB of headers, 1 MiB message); the original was
    never settled and came back every ack_wait, forever."""
    caplog.set_level(logging.WARNING, "interlink")
    headers = [(b"big", b"x" * 65_000)]
    assert not await served.raw.send(served.subject, b"not json", headers)
    body = b"[" + b"1," * ((served.bus.transport.max_payload - 400) // 2)
    assert not await served.raw.send(served.subject, body[:served.bus.transport.max_payload - 300],
                                     [(b"il-id", b"big-body")])
    await eventually(lambda: rejections(caplog, served) >= 2, 20)
    await held_for(7.0, served, caplog, 2)  # ack_wait is 3 s: a redelivery would have come twice
    letters = {m.headers["il-id"]: m for m in await served.dead()}
    assert letters["big-body"].body == b"" and "body of" in letters["big-body"].headers["il-dead-cut"]
    other = next(m for k, m in letters.items() if k != "big-body")
    assert other.body == b"not json" and "big cut from 65000" in other.headers["il-dead-cut"]
    await served.alive()


@pytest.mark.parametrize("served", ["nats"], indirect=True)
async def test_nats_dead_letters_without_il_id_are_all_kept(served: Served) -> None:
    """Before: all got the dead-letter id '.<service>.dead'; JetStream kept only the first."""
    for n in range(5):
        await served.raw.send(served.subject, b"bad %d" % n, None)
    end = time.monotonic() + 20
    while len(await served.dead()) < 5:
        assert time.monotonic() < end
        await asyncio.sleep(0.1)
    letters = await served.dead()
    assert sorted(m.body for m in letters) == [b"bad %d" % n for n in range(5)]
    assert len({m.headers["il-id"] for m in letters}) == 5


@pytest.mark.parametrize("value", ["abc", "-5", "nan", "inf", "1e400", ""])
async def test_unreadable_deadline_is_ignored_on_every_transport(served: Served, value: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Before: ``il-deadline: abc`` made every nested ctx.request raise ValueError; -5 or nan were read
    as deadlines (the nested request failed with "deadline passed")."""
    caplog.set_level(logging.WARNING, "interlink")
    svc = Service(unique("nest"))
    subject, echo = unique("n"), unique("e")
    seen: list[tuple[float | None, int]] = []

    @svc.endpoint(echo)
    async def echoed(n: int) -> int:
        return n

    @svc.endpoint(subject, max_attempts=1)
    async def nested(n: int, ctx: Context) -> None:
        seen.append((ctx.deadline, await ctx.request(echo, n, timeout=5.0)))

    await served.bus.serve(svc)
    raw = served.raw
    if served.broker == "nats":
        await raw.send(subject, b"3", [(b"il-deadline", value.encode())])
    elif served.broker == "rabbitmq":
        await raw.send(subject, b"3", {"il-deadline": value})
    else:
        await raw.send(subject, mp_frame(subject.encode(), [(b"il-deadline", value.encode())], b"3"))
    await eventually(lambda: bool(seen), 20)
    assert seen == [(None, 3)]
    assert any("ignored unreadable header" in r.getMessage() for r in caplog.records)


async def test_a_newer_protocol_version_is_refused_with_its_reason(served: Served) -> None:
    raw = served.raw
    if served.broker == "nats":
        reply = await raw.request(served.subject, b"1", [(b"il-v", b"2")], 10.0)
        await raw.send(served.subject, b"1", [(b"il-v", b"2")])
    elif served.broker == "rabbitmq":
        reply = await raw.request(served.subject, b"1", {"il-v": "2"}, 10.0)
        await raw.send(served.subject, b"1", {"il-v": "2"})
    else:
        reply = await raw.request(served.subject, served.subject.encode(), [(b"il-v", b"2")], b"1", 10.0)
        await raw.send(served.subject, mp_frame(served.subject.encode(), [(b"il-v", b"2")], b"1"))
    assert reply is not None and reply[1]["il-error"] == "invalid"
    assert await served.outcome(0) == "dead-lettered"
    assert "protocol version 2" in (await served.dead())[0].headers["il-dead-reason"]
