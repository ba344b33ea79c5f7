"""What the conformance suite cannot see of the nats:// transport: connection
errors, the JetStream layout, settlements, lost connections and broker restarts.

Tests on the machine's NATS use unique subjects and services; tests that kill,
restart or misconfigure a server run a nats-server of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest
from nats.js.api import ConsumerConfig

import interlink
from interlink import Context, Service
from interlink._embedded import NatsServer, free_port
from interlink.testing import unique
from interlink.testing.conformance import counting_service, eventually
from interlink.transports.base import Binding, Message
from interlink.transports.nats import NatsTransport
from interlink.transports.nats._client import FastClient
from interlink.transports.nats._support import consumer_name
from tests.conftest import NATS_URL, require_broker
from tests.transports.nats_servers import ConfiguredServer


@pytest.fixture
def url() -> str:
    return require_broker(NATS_URL, "NATS")


@pytest.fixture
def own_server() -> Iterator[NatsServer]:
    server = NatsServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[ConfiguredServer]:
    """No JetStream; user "ada", password "secret"."""
    server = ConfiguredServer(tmp_path, 'authorization { user: "ada", password: "secret" }')
    yield server
    server.stop()


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[ConfiguredServer]:
    """JetStream, and a max payload of 64 KiB."""
    server = ConfiguredServer(tmp_path, f'max_payload: 65536\njetstream {{ store_dir: "{tmp_path}/js" }}')
    yield server
    server.stop()


async def started(url: str) -> AsyncIterator[NatsTransport]:
    transport = NatsTransport(url)
    await transport.start()
    try:
        yield transport
    finally:
        await transport.close()


# -- connecting --------------------------------------------------------------


async def assert_fails_fast(url: str, *words: str) -> str:
    start = time.monotonic()
    with pytest.raises(interlink.BrokerError) as err:
        await NatsTransport(url).start()
    assert time.monotonic() - start < 4.0
    text = str(err.value)
    assert "nats" in text.lower() and all(w.lower() in text.lower() for w in words), text
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no library trace attached
    return text


async def test_unreachable_port_fails_fast() -> None:
    port = free_port()
    await assert_fails_fast(f"nats://127.0.0.1:{port}", f"127.0.0.1:{port}", "refused")


async def test_a_dead_server_in_the_list_does_not_stop_the_start(own_server: NatsServer) -> None:
    dead = ",".join(f"nats://127.0.0.1:{free_port()}" for _ in range(3))
    for _ in range(5):  # the servers are tried in random order: a dead one comes first now and then
        async with interlink.connect(f"{dead},{own_server.url}") as bus:
            await bus.notify(unique("alive"), 1)
    await assert_fails_fast(dead, "refused")  # every one refused: still fast


async def test_unknown_host_fails_fast() -> None:
    await assert_fails_fast("nats://no-such-host.invalid:4222", "no-such-host.invalid")


async def test_bad_credentials_fail_fast_without_showing_the_password(auth_server: ConfiguredServer) -> None:
    text = await assert_fails_fast(f"nats://ada:wrong@127.0.0.1:{auth_server.port}", "authorization")
    assert "wrong" not in text


async def test_server_without_jetstream_is_refused_at_start(auth_server: ConfiguredServer) -> None:
    with pytest.raises(interlink.BrokerError, match="JetStream"):
        await NatsTransport(f"nats://ada:secret@127.0.0.1:{auth_server.port}").start()


async def test_max_payload_comes_from_the_server(small_server: ConfiguredServer) -> None:
    async with interlink.connect(f"nats://127.0.0.1:{small_server.port}") as bus:
        assert bus.transport.max_payload == 65536
        with pytest.raises(interlink.ValidationError, match="limit"):  # the body fits, not with its headers
            await bus.publish(unique(), "x" * 65_400)
        with pytest.raises(interlink.ValidationError, match="limit"):
            await bus.notify(unique(), "x" * 70_000)
        await bus.publish(unique(), "x" * 60_000)  # the connection survived


# -- the JetStream layout ----------------------------------------------------


async def test_requests_are_never_captured_by_a_stream(url: str) -> None:
    svc = Service(unique("svc"))
    subject = f"{unique()}.verify"

    @svc.endpoint(subject)
    async def verify(_: Any) -> str:
        return "ok"

    async with interlink.connect(url) as bus:
        instance = await bus.serve(svc)  # declares the durable consumer
        await bus.notify(subject, 1)
        await instance.stop()
        await bus.notify(subject, 2)  # stored, waiting for the service
        with pytest.raises(interlink.NoResponders):  # not a JetStream publish acknowledgement
            await bus.request(subject, None, timeout=2.0)
        async with await nats.connect(url) as raw:
            with pytest.raises(nats.js.errors.NotFoundError):
                await raw.jetstream().find_stream_name_by_subject(subject)
            stream = await raw.jetstream().find_stream_name_by_subject(f"_il.q.{subject}")
            assert stream == "interlink_work"


def test_consumer_names_are_valid_and_distinct() -> None:
    names = {consumer_name("svc", s) for s in ("a.b", "a_b", "a.*", "a.>", "a.STAR")}
    names |= {consumer_name("x" * 64 + tail, "a.b") for tail in ("1", "2")}
    assert len(names) == 7
    assert not any(c in name for name in names for c in ".*> ")
    assert consumer_name("svc", "a.b") == consumer_name("svc", "a.b")  # stable across starts


async def test_sends_before_the_service_ever_started_are_kept(url: str) -> None:
    svc, subject, got = counting_service()

    async with interlink.connect(url) as sender:
        for n in range(3):
            await sender.notify(subject, n)
    async with interlink.connect(url) as bus:
        await bus.serve(svc)
        await eventually(lambda: sorted(got) == [0, 1, 2])


async def test_an_endpoint_queue_kept_under_another_name_is_adopted(url: str) -> None:
    svc, subject, got = counting_service()

    async with await nats.connect(url) as raw:
        js = raw.jetstream()
        old = unique("earlier_name")
        await js.add_consumer("interlink_work", ConsumerConfig(
            name=old, durable_name=old, filter_subject=f"_il.q.{subject}", inactive_threshold=60.0))
        async with interlink.connect(url) as bus:
            await bus.notify(subject, 7)  # kept by the older consumer
            await bus.serve(svc)
            await eventually(lambda: got == [7])
            await bus.notify(subject, 8)
            await eventually(lambda: got == [7, 8])
        assert (await js.consumer_info("interlink_work", old)).config.ack_wait == 30.0  # our settings now


async def test_serving_again_with_other_limits_updates_the_consumer(url: str) -> None:
    name, subject = unique("svc"), unique()
    got: list[int] = []
    for concurrency in (4, 16):
        svc = Service(name)

        @svc.endpoint(subject, max_concurrency=concurrency, ack_wait=5.0)
        async def note(n: int) -> None:
            got.append(n)

        async with interlink.connect(url) as bus:
            await bus.serve(svc)
            await bus.notify(subject, concurrency)
            await eventually(lambda: concurrency in got)  # noqa: B023 - awaited within the iteration
    async with await nats.connect(url) as raw:
        info = await raw.jetstream().consumer_info("interlink_work", consumer_name("endpoint", subject))
        assert info.config.max_ack_pending == 64 * 16 and info.config.ack_wait == 5.0
        assert info.config.inactive_threshold == 900.0  # the URL's ?retention=900


async def test_flush_sends_its_ping_after_the_commands_waiting_before_it(url: str) -> None:
    """nats-py wrote PING ahead of buffered commands, so flush() could return before the server had a
    new subscription (a broadcast instance then missed the first event published after serve())."""
    client = FastClient()
    await client.connect(url)
    try:
        wire: list[bytes] = []
        transport: Any = client._transport
        write, writelines = transport.write, transport.writelines

        def record(data: bytes) -> None:
            wire.append(bytes(data))
            write(data)

        def record_lines(chunks: list[bytes]) -> None:
            wire.extend(bytes(c) for c in chunks)
            writelines(chunks)

        transport.write, transport.writelines = record, record_lines
        await client._send_command(b"SUB interlink.wire.order 9999\r\n")  # waits for the flusher task
        await client.flush(timeout=5)
        sent = b"".join(wire)
        assert b"SUB interlink.wire.order" in sent and sent.index(b"SUB interlink") < sent.index(b"PING")
    finally:
        await client.close()


async def test_same_message_id_is_stored_once(url: str) -> None:
    subject = unique()
    got: list[Message] = []

    async def handler(message: Message) -> None:
        got.append(message)
        if message.receipt is not None:
            await message.receipt.ack()

    async for transport in started(url):
        await transport.consume(Binding("endpoint", subject, group=unique("g"), durable=True, name=unique("svc")),
                                handler)
        message = Message(subject, b"1", {"il-id": unique("id")})
        for _ in range(3):
            await transport.send(message)
        await transport.send(Message(subject, b"2", {"il-id": unique("id")}))
        await eventually(lambda: len(got) >= 2)
        await asyncio.sleep(0.3)
        assert [m.body for m in got] == [b"1", b"2"]
        assert "Nats-Msg-Id" not in got[0].headers and got[0].headers["il-id"] == message.headers["il-id"]


@pytest.mark.parametrize("kind", ["broadcast", "live endpoint"])
async def test_stored_messages_heard_live_carry_no_reply_address(url: str, kind: str) -> None:
    """A JetStream publish heard on a core subscription has the sender's acknowledgement inbox as its
    NATS reply subject; a handler's answer sent there would be taken for the stream's (it was, at times)."""
    subject = unique()
    got: list[Message] = []

    async def handler(message: Message) -> None:
        got.append(message)

    async for transport in started(url):
        if kind == "broadcast":
            await transport.consume(Binding("subscription", subject, group=None, durable=False), handler)
            await transport.publish(Message(subject, b"1", {"il-id": unique("id")}))
        else:
            await transport.consume(Binding("endpoint", subject, group=None), handler)
            await transport.send(Message(subject, b"1", {"il-id": unique("id")}))
        await eventually(lambda: len(got) == 1)
    assert got[0].reply_to is None


async def test_live_publish_reaches_running_groups_and_is_not_stored(url: str) -> None:
    topic = unique()
    svc = Service(unique("svc"))
    got: list[str] = []

    @svc.subscribe(f"{topic}.>")
    async def on_event(body: str) -> None:
        got.append(body)

    async with interlink.connect(url) as bus:
        instance = await bus.serve(svc)
        await bus.publish(f"{topic}.a", "live while running", durable=False)
        await eventually(lambda: got == ["live while running"])
        await instance.stop()
        await bus.publish(f"{topic}.a", "live while down", durable=False)
        await bus.publish(f"{topic}.b", "stored while down")
        await bus.serve(svc)
        await eventually(lambda: len(got) == 2)
        await asyncio.sleep(0.3)
        assert got == ["live while running", "stored while down"]


# -- settling deliveries -----------------------------------------------------


async def test_nack_redelivers_after_the_delay_and_reject_drops(url: str) -> None:
    subject = unique()
    seen: list[tuple[bytes, int, float]] = []

    async def handler(message: Message) -> None:
        seen.append((message.body, message.attempt, time.monotonic()))
        assert message.receipt is not None
        if message.body == b"retry" and message.attempt == 1:
            await message.receipt.nack(0.4)
        elif message.body == b"drop":
            await message.receipt.reject()
        else:
            await message.receipt.ack()

    async for transport in started(url):
        binding = Binding("endpoint", subject, group=unique("g"), durable=True, name=unique("svc"), ack_wait=1.0)
        await transport.consume(binding, handler)
        await transport.send(Message(subject, b"retry", {"il-id": unique("id")}))
        await transport.send(Message(subject, b"drop", {"il-id": unique("id")}))
        await eventually(lambda: len(seen) == 3)
        await asyncio.sleep(1.5)  # past ack_wait: a rejected message stays dropped
        retries = [(attempt, at) for body, attempt, at in seen if body == b"retry"]
        assert [a for a, _ in retries] == [1, 2] and retries[1][1] - retries[0][1] >= 0.35
        assert [body for body, _, _ in seen].count(b"drop") == 1


async def test_working_keeps_a_long_handler_from_redelivery(url: str) -> None:
    subject = unique()
    attempts: list[int] = []

    async def handler(message: Message) -> None:
        attempts.append(message.attempt)
        assert message.receipt is not None
        for _ in range(4):
            await asyncio.sleep(0.35)
            await message.receipt.working()
        await message.receipt.ack()

    async for transport in started(url):
        binding = Binding("endpoint", subject, group=unique("g"), durable=True, name=unique("svc"), ack_wait=1.0)
        await transport.consume(binding, handler)
        await transport.send(Message(subject, b"slow", {"il-id": unique("id")}))
        await asyncio.sleep(2.0)
        assert attempts == [1]


async def test_prefetch_is_bounded_per_member(url: str) -> None:
    subject = unique()
    running = 0
    peak = 0
    release = asyncio.Event()

    async def handler(message: Message) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        assert message.receipt is not None
        await message.receipt.ack()

    async for transport in started(url):
        binding = Binding("endpoint", subject, group=unique("g"), durable=True, name=unique("svc"), max_inflight=4)
        await transport.consume(binding, handler)
        await asyncio.gather(*(transport.send(Message(subject, b"x", {"il-id": unique("id")})) for _ in range(20)))
        await eventually(lambda: running == 4)
        await asyncio.sleep(0.3)
        assert peak == 4
        release.set()


# -- lost connections and restarts -------------------------------------------


async def test_request_in_flight_fails_with_connection_lost(own_server: NatsServer) -> None:
    svc = Service(unique("svc"))
    subject = unique()
    done = asyncio.Event()

    @svc.endpoint(subject)
    async def slow(_: Any) -> None:
        await done.wait()

    async with interlink.connect(own_server.url) as server, interlink.connect(own_server.url) as client:
        await server.serve(svc)
        request = asyncio.ensure_future(client.request(subject, None, timeout=8.0))
        await asyncio.sleep(0.2)
        start = time.monotonic()
        await asyncio.to_thread(own_server.stop, True)
        with pytest.raises(interlink.ConnectionLost):
            await request
        assert time.monotonic() - start < 2.0
        start = time.monotonic()
        with pytest.raises(interlink.ConnectionLost):  # while reconnecting: at once, not after the timeout
            await client.request(subject, None, timeout=8.0)
        assert time.monotonic() - start < 0.5
        done.set()


async def test_consumers_resume_after_a_reconnect_to_the_same_server(own_server: NatsServer) -> None:
    svc, subject, got = counting_service()

    async with interlink.connect(own_server.url) as server, interlink.connect(own_server.url) as client:
        await server.serve(svc)
        await client.notify(subject, 1)
        await eventually(lambda: got == [1])
        transport = server.transport
        assert isinstance(transport, NatsTransport)
        await transport.client.force_reconnect()
        await eventually(lambda: transport.client.is_connected)
        for n in range(2, 12):
            await client.notify(subject, n)
        await eventually(lambda: sorted(got) == list(range(1, 12)))
        await asyncio.sleep(0.3)
        assert len(got) == 11  # no message twice


async def test_bus_recovers_from_a_broker_restart(own_server: NatsServer) -> None:
    svc = Service(unique("svc"))
    s_kept, s_live = unique(), unique()
    kept: list[int] = []
    live: list[int] = []

    @svc.endpoint(s_kept)
    async def on_kept(n: int) -> None:
        kept.append(n)

    other = Service(unique("other"))

    @other.endpoint(s_live)
    async def on_live(n: int, ctx: Context) -> int:
        live.append(n)
        return n

    async with interlink.connect(own_server.url) as server, interlink.connect(own_server.url) as client:
        instance = await server.serve(svc)
        await server.serve(other)  # keeps running through the restart
        await instance.stop()
        for n in range(5):
            await client.notify(s_kept, n)  # stored before the restart
        await client.notify(s_live, -1)
        await eventually(lambda: live == [-1])

        await asyncio.to_thread(own_server.stop)
        await asyncio.to_thread(own_server.start)

        await client.notify(s_live, 1)  # waits for the reconnect, then is stored
        await eventually(lambda: live == [-1, 1])  # the running consumer resumed by itself
        assert await client.request(s_live, 2, timeout=5.0) == 2
        await server.serve(svc)
        await eventually(lambda: sorted(kept) == [0, 1, 2, 3, 4])


async def test_dead_letters_are_browsed_without_being_consumed(own_server: NatsServer) -> None:
    async for transport in started(own_server.url):
        for n in range(3):
            await transport.dead_letter(Message(f"orders.n{n}", str(n).encode(),
                                                {"il-id": f"id{n}", "il-dead-service": "billing"}))
        first = await transport.dead_letters()
        assert [m.subject for m in first] == ["orders.n0", "orders.n1", "orders.n2"]
        assert [m.subject for m in await transport.dead_letters(limit=2)] == ["orders.n0", "orders.n1"]
        assert len(await transport.dead_letters()) == 3
        assert await transport.remove_dead_letters({"id1"}) == 1
        assert [m.body for m in await transport.dead_letters()] == [b"0", b"2"]
        assert await transport.remove_dead_letters() == 2
        assert await transport.dead_letters() == []
