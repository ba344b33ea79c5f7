"""What the conformance suite cannot see of the amqp:// transport: errors, topology, restarts, retries.

Test state lives under the ``iltest`` prefix with short expiries (see
tests/conformance/test_rabbitmq.py), so the shared broker forgets it on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import interlink
from interlink import BrokerError, Context, Service
from interlink.testing import unique
from interlink.testing.conformance import counting_service, eventually
from interlink.transports.base import Binding, Handler, Message
from interlink.transports.rabbitmq import RabbitTransport
from interlink.transports.rabbitmq._topology import amqp_pattern, delay_tier
from interlink.transports.rabbitmq._url import parse_url
from tests.conftest import require_broker

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
OPTIONS = "?prefix=iltest&expires=900&dead_expires=3600"


@pytest.fixture
def url() -> str:
    return require_broker(RABBIT_URL, "RabbitMQ") + OPTIONS


@pytest.fixture
async def transports(url: str) -> AsyncIterator[list[RabbitTransport]]:
    made: list[RabbitTransport] = []
    yield made
    for transport in made:
        await transport.close()


def acking(got: list[bytes]) -> Handler:
    """A transport handler that keeps each body and acks it."""
    async def on(message: Message) -> None:
        got.append(message.body)
        assert message.receipt is not None
        await message.receipt.ack()
    return on


async def started(made: list[RabbitTransport], url: str) -> RabbitTransport:
    transport = RabbitTransport(url)
    await transport.start()
    made.append(transport)
    return transport


# -- no broker needed -----------------------------------------------------------------


def test_url_options_are_split_off_and_checked() -> None:
    opts = parse_url("amqp://bob:secret@rabbit.example:5673/prod?heartbeat=10&queue_type=quorum&expires=60&prefix=x")
    assert opts.url == "amqp://bob:secret@rabbit.example:5673/prod?heartbeat=10&reconnect_interval=1"
    assert opts.shown == "amqp://bob@rabbit.example:5673/prod" and "secret" not in opts.shown
    assert (opts.queue_type, opts.expires, opts.prefix, opts.vhost) == ("quorum", 60.0, "x", "prod")
    assert parse_url("amqp://localhost").shown == "amqp://localhost:5672/"
    for bad in ("queue_type=stream", "expires=-1", "expires=soon", "prefix=amq.x", "prefix=a*b"):
        with pytest.raises(BrokerError, match=bad.split("=")[0]):
            parse_url(f"amqp://localhost/?{bad}")


def test_several_hosts_mean_a_cluster_with_quorum_queues() -> None:
    opts = parse_url("amqp://bob:pw@h1:5672,h2:5673,[::1]/v?heartbeat=5")
    assert opts.urls == ("amqp://bob:pw@h1:5672/v?heartbeat=5&reconnect_interval=1",
                         "amqp://bob:pw@h2:5673/v?heartbeat=5&reconnect_interval=1",
                         "amqp://bob:pw@[::1]:5672/v?heartbeat=5&reconnect_interval=1")
    assert opts.shown == "amqp://bob@h1:5672,h2:5673,[::1]:5672/v" and opts.cluster
    assert opts.queue_type == "quorum"
    assert parse_url("amqp://h1,h2/?queue_type=classic").queue_type == "classic"
    assert parse_url("amqps://h1").urls == ("amqps://h1:5671?reconnect_interval=1",)
    assert parse_url("amqp://h1").queue_type == "classic" and not parse_url("amqp://h1").cluster


def test_bad_hosts_and_options_are_named(tmp_path: Path) -> None:
    for url, named in (("amqp://h1,,h2/", "bad host"), ("amqp://h1:99999/", "bad port"),
                       ("amqp://h1/?colour=red", "unknown URL option 'colour'"),
                       ("amqp://h1/?certfile=c.pem", "certfile= is a TLS option: use amqps://"),
                       (f"amqps://h1/?cafile={tmp_path / 'none.pem'}", "cafile=.* cannot be read"),
                       ("amqps://h1/?auth=kerberos", "auth='kerberos'")):
        with pytest.raises(BrokerError, match=named):
            parse_url(url)


def test_wildcards_map_onto_amqp() -> None:
    assert amqp_pattern("a.*.c") == "a.*.c"
    assert amqp_pattern("a.>") == "a.*.#"  # '#' alone would also match "a"
    assert amqp_pattern(">") == "*.#"
    assert amqp_pattern("a.b") == "a.b"


def test_delays_round_to_the_nearest_tier() -> None:
    assert delay_tier(0.0) == 10
    assert delay_tier(0.011) == 10
    assert delay_tier(0.9) == 1_000
    assert delay_tier(3.0) == 2_500
    assert delay_tier(10_000.0) == 3_600_000


# -- bad input at connect -------------------------------------------------------------------


@pytest.mark.parametrize(("bad_url", "cause"), [
    ("amqp://guest:pw-s3cret@127.0.0.1:5672/", "refused the login"),
    ("amqp://guest:guest@127.0.0.1:5672/no-such-vhost", "virtual host 'no-such-vhost'"),
    ("amqp://guest:guest@127.0.0.1:1/", "connection refused"),
])
async def test_bad_connection_fails_fast_and_clearly(url: str, bad_url: str, cause: str) -> None:
    start = time.monotonic()
    with pytest.raises(interlink.BrokerError) as err:
        await RabbitTransport(bad_url).start()
    assert time.monotonic() - start < 5.0
    text = str(err.value)
    assert cause in text and "127.0.0.1" in text and "s3cret" not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no library stack attached


async def test_several_hosts_are_tried_in_turn(url: str, transports: list[RabbitTransport]) -> None:
    transport = await started(transports, url.replace("127.0.0.1:5672", "127.0.0.1:1,127.0.0.1:5672"))
    assert transport._connection is not None and transport._connection.url.port == 5672
    subject = unique()
    got: list[bytes] = []
    await transport.consume(Binding("endpoint", subject, group="g", durable=True, name="g"), acking(got))
    await transport.send(Message(subject, b"on the live host"))
    await eventually(lambda: got == [b"on the live host"])
    with pytest.raises(interlink.BrokerError, match=r"no host could be used: .*127.0.0.1:1.*127.0.0.1:2.*refused"):
        await RabbitTransport("amqp://guest:guest@127.0.0.1:1,127.0.0.1:2/").start()


async def test_a_silent_port_times_out_at_connect() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never speaks AMQP
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        start = time.monotonic()
        with pytest.raises(interlink.BrokerError, match=f"127.0.0.1:{port}.*no answer within 0.5s"):
            await RabbitTransport(f"amqp://guest:guest@127.0.0.1:{port}/?connect_timeout=0.5").start()
        assert time.monotonic() - start < 3.0
    finally:
        server.close()


# -- topology ------------------------------------------------------------------------------


async def test_tail_wildcard_needs_at_least_one_token(url: str, transports: list[RabbitTransport]) -> None:
    transport = await started(transports, url)
    topic = unique()
    got: list[str] = []

    async def on(message: Message) -> None:
        got.append(message.subject)
        if message.receipt is not None:
            await message.receipt.ack()

    for durable in (True, False):
        await transport.consume(Binding("subscription", f"{topic}.>", group=unique("g"), durable=durable,
                                        name="g"), on)
    for subject in (topic, f"{topic}.a", f"{topic}.a.b"):
        await transport.publish(Message(subject, b""), durable=True)
    await eventually(lambda: len(got) >= 4)
    await asyncio.sleep(0.2)
    assert sorted(got) == sorted([f"{topic}.a", f"{topic}.a.b"] * 2)


async def test_non_durable_publish_is_not_stored_for_a_stopped_group(url: str,
                                                                     transports: list[RabbitTransport]) -> None:
    transport = await started(transports, url)
    subject, group = unique(), unique("g")
    got: list[bytes] = []

    async def on(message: Message) -> None:
        got.append(message.body)
        if message.receipt is not None:
            await message.receipt.ack()

    binding = Binding("subscription", subject, group=group, durable=True, name=group)
    sub = await transport.consume(binding, on)
    await transport.publish(Message(subject, b"live"), durable=False)  # a running member: delivered
    await eventually(lambda: got == [b"live"])
    await sub.stop()
    await transport.publish(Message(subject, b"gone"), durable=False)
    await transport.publish(Message(subject, b"kept"), durable=True)
    await asyncio.sleep(0.2)
    await transport.consume(binding, on)
    await eventually(lambda: len(got) >= 2)
    await asyncio.sleep(0.2)
    assert got == [b"live", b"kept"]


async def test_request_to_a_stopped_endpoint_fails_fast(url: str, transports: list[RabbitTransport]) -> None:
    server, client = await started(transports, url), await started(transports, url)
    subject = unique()

    async def echo(message: Message) -> None:
        assert message.reply_to is not None
        await server.reply(message.reply_to, Message(subject, message.body))

    sub = await server.consume(Binding("endpoint", subject, group="g", durable=True, name="g"), echo)
    assert (await client.request(Message(subject, b"ping"), 2.0)).body == b"ping"
    await sub.stop()  # the durable queue stays; nobody consumes it
    start = time.monotonic()
    with pytest.raises(interlink.NoResponders):
        await client.request(Message(subject, b"ping"), 5.0)
    assert time.monotonic() - start < 1.0


async def test_late_reply_is_dropped_quietly(url: str, transports: list[RabbitTransport]) -> None:
    server, client = await started(transports, url), await started(transports, url)
    subject = unique()
    replied = asyncio.Event()

    async def slow(message: Message) -> None:
        await asyncio.sleep(0.3)
        assert message.reply_to is not None
        await server.reply(message.reply_to, Message(subject, b"late"))
        replied.set()

    async def fast(message: Message) -> None:
        assert message.reply_to is not None
        await server.reply(message.reply_to, Message(subject, message.body))

    await server.consume(Binding("endpoint", subject, group="g"), slow)
    with pytest.raises(interlink.RequestTimeout):
        await client.request(Message(subject, b"x"), 0.1)
    await asyncio.wait_for(replied.wait(), 5.0)
    other = unique()
    await server.consume(Binding("endpoint", other, group="g"), fast)
    assert (await client.request(Message(other, b"next"), 2.0)).body == b"next"
    assert client._waiting == {}


# -- durability ----------------------------------------------------------------------------


async def test_send_waits_for_a_service_that_restarts(url: str) -> None:
    require_broker(RABBIT_URL, "RabbitMQ")
    svc, subject, got = counting_service()

    server = await interlink.connect(url).start()
    await server.serve(svc)
    await server.close()  # the whole process goes away, not just the instance
    async with interlink.connect(url) as sender:
        for n in range(3):
            await sender.notify(subject, n)
    async with interlink.connect(url) as server:
        await server.serve(svc)
        await eventually(lambda: sorted(got) == [0, 1, 2])


async def test_send_before_any_member_is_parked(url: str, transports: list[RabbitTransport]) -> None:
    sender, server = await started(transports, url), await started(transports, url)
    subject = unique()
    got: list[bytes] = []
    on = acking(got)

    await sender.send(Message(subject, b"early"))
    assert await sender._publisher.flush(5.0) == 0  # type: ignore[union-attr]
    await server.consume(Binding("endpoint", subject, group="g", durable=True, name="g"), on)
    await eventually(lambda: got == [b"early"])


async def test_nack_redelivers_after_the_delay_with_the_next_attempt(url: str,
                                                                     transports: list[RabbitTransport]) -> None:
    transport = await started(transports, url)
    subject = unique()
    seen: list[tuple[int, float, str]] = []

    async def on(message: Message) -> None:
        seen.append((message.attempt, time.monotonic(), message.subject))
        assert message.receipt is not None
        if message.attempt == 1:
            await message.receipt.nack(0.5)
        else:
            await message.receipt.ack()

    await transport.consume(Binding("subscription", f"{subject}.*", group="g", durable=True, name="g"), on)
    await transport.publish(Message(f"{subject}.x", b"", {"il-id": "m1"}))
    await eventually(lambda: len(seen) == 2)
    (first, t1, s1), (second, t2, s2) = seen
    assert (first, second) == (1, 2) and s1 == s2 == f"{subject}.x"
    assert 0.4 <= t2 - t1 < 3.0


async def test_quorum_queues(url: str, transports: list[RabbitTransport]) -> None:
    transport = await started(transports, url + "&queue_type=quorum")
    subject = unique()
    attempts: list[int] = []

    async def on(message: Message) -> None:
        attempts.append(message.attempt)
        assert message.receipt is not None
        await (message.receipt.nack(0.01) if message.attempt < 3 else message.receipt.ack())

    await transport.consume(Binding("endpoint", subject, group="g", durable=True, name="g"), on)
    await transport.send(Message(subject, b"q"))
    await eventually(lambda: attempts == [1, 2, 3])


async def test_a_queue_declared_with_other_arguments_is_used_as_it_is(
        url: str, transports: list[RabbitTransport], caplog: pytest.LogCaptureFixture) -> None:
    classic, quorum = await started(transports, url), await started(transports, url + "&queue_type=quorum")
    subject = unique()
    got: list[bytes] = []
    on = acking(got)

    binding = Binding("endpoint", subject, group="g", durable=True, name="g")
    await (await classic.consume(binding, on)).stop()
    await quorum.consume(binding, on)
    await quorum.send(Message(subject, b"still served"))
    await eventually(lambda: got == [b"still served"])
    assert "exists with other arguments" in caplog.text


async def test_dead_letters_browse_without_loss_in_order(url: str, transports: list[RabbitTransport]) -> None:
    transport = await started(transports, url)
    tag = unique()
    ids = [f"{tag}-{n}" for n in range(5)]
    for message_id in ids:
        await transport.dead_letter(Message(f"{tag}.s", message_id.encode(), {"il-id": message_id, "tag": tag}))

    async def ours() -> list[str]:
        return [m.headers["il-id"] for m in await transport.dead_letters(100_000) if m.headers.get("tag") == tag]

    assert await ours() == ids
    assert await ours() == ids  # browsing twice loses nothing and keeps the order
    letters = [m for m in await transport.dead_letters(100_000) if m.headers.get("tag") == tag]
    assert letters[0].subject == f"{tag}.s" and letters[0].body == ids[0].encode()
    assert await transport.remove_dead_letters({ids[1], ids[3]}) == 2
    assert await ours() == [ids[0], ids[2], ids[4]]
    assert await transport.remove_dead_letters(set(ids)) == 3
    assert await ours() == []


async def test_consumers_come_back_after_a_lost_connection(url: str, transports: list[RabbitTransport]) -> None:
    server, client = await started(transports, url), await started(transports, url)
    subject = unique()
    got: list[bytes] = []

    async def on(message: Message) -> None:
        got.append(message.body)
        if message.reply_to is not None:
            await server.reply(message.reply_to, Message(subject, b"pong"))
        elif message.receipt is not None:
            await message.receipt.ack()

    slow = unique()

    async def never(message: Message) -> None:
        await asyncio.sleep(30)

    await server.consume(Binding("endpoint", subject, group="g", durable=True, name="g"), on)
    await server.consume(Binding("endpoint", slow, group="g"), never)
    _drop_socket(server)
    await client.send(Message(subject, b"while away"))
    await eventually(lambda: got == [b"while away"], timeout=20.0)
    while True:  # the other channel of the server may come back a moment later
        try:
            await client.request(Message(slow, b""), 0.05)
        except interlink.RequestTimeout:
            break
        except interlink.NoResponders:
            await asyncio.sleep(0.05)
    pending = asyncio.ensure_future(client.request(Message(slow, b""), 10.0))
    await asyncio.sleep(0.2)
    _drop_socket(client)  # its direct reply-to address dies with the connection
    start = time.monotonic()
    with pytest.raises(interlink.ConnectionLost):
        await pending
    assert time.monotonic() - start < 1.0
    reply = await _retry_request(client, Message(subject, b"ping"))
    assert reply.body == b"pong"


def _drop_socket(transport: RabbitTransport) -> None:
    """Cut the TCP connection under the robust connection, as a network failure would."""
    connection: Any = transport._connection
    writer_task = connection.transport.connection._writer_task.task
    writer_task.get_coro().cr_frame.f_locals["writer"].transport.abort()


async def _retry_request(client: RabbitTransport, message: Message) -> Message:
    end = time.monotonic() + 20.0
    while True:
        try:
            return await client.request(message, 1.0)
        except (interlink.NoResponders, interlink.RequestTimeout, interlink.ConnectionLost):
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.2)


async def test_durable_publish_returns_once_confirmed_and_senders_share_the_window(
        url: str, transports: list[RabbitTransport]) -> None:
    transport = await started(transports, url + "&window=16")
    publisher = transport._publisher
    assert publisher is not None
    subject = unique()
    got: list[bytes] = []
    on = acking(got)

    await transport.consume(Binding("subscription", subject, group="g", durable=True, name="g",
                                    max_inflight=256), on)
    for n in range(50):  # one sender awaiting each publish: nothing is left unconfirmed
        await transport.publish(Message(subject, str(n).encode()))
        assert publisher.unconfirmed == 0
    in_flight: list[int] = []

    async def sender(n: int) -> None:
        in_flight.append(publisher.unconfirmed)
        await transport.publish(Message(subject, str(n).encode()))

    await asyncio.gather(*(sender(n) for n in range(50, 500)))
    assert publisher.unconfirmed == 0  # every gathered publish returned confirmed
    assert max(in_flight) == 16  # concurrent senders share the channel, never more than the window
    await eventually(lambda: len(got) == 500)
    assert got[:50] == [str(n).encode() for n in range(50)]  # one awaiting sender, one consumer: order kept
    assert sorted(got) == sorted(str(n).encode() for n in range(500))


async def test_context_reaches_the_handler(url: str) -> None:
    require_broker(RABBIT_URL, "RabbitMQ")
    svc = Service(unique("svc"))
    subject = unique()

    @svc.endpoint(subject)
    async def who(_: Any, ctx: Context) -> dict[str, Any]:
        return {"attempt": ctx.attempt, "subject": ctx.subject}

    async with interlink.connect(url) as bus:
        assert isinstance(bus.transport, RabbitTransport)
        await bus.serve(svc)
        assert await bus.request(subject, None) == {"attempt": 1, "subject": subject}


async def test_a_deleted_queue_is_declared_again(url: str, transports: list[RabbitTransport],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    transport = await started(transports, url)
    subject, group = unique(), unique("g")
    got: list[bytes] = []
    on = acking(got)

    await transport.consume(Binding("subscription", subject, group=group, durable=True, name=group), on)
    async with transport._scratch() as channel:
        await channel.queue_delete(f"iltest.sub.{group}.{subject}")
    await eventually(lambda: "declared it again" in caplog.text)
    await transport.publish(Message(subject, b"after"))
    await eventually(lambda: got == [b"after"])


async def test_a_non_durable_endpoint_gets_sends_parked_while_it_was_down(url: str,
                                                                          transports: list[RabbitTransport]) -> None:
    sender, server = await started(transports, url), await started(transports, url)
    subject = unique()
    got: list[tuple[bytes, bool]] = []

    async def on(message: Message) -> None:
        got.append((message.body, message.receipt is None))

    binding = Binding("endpoint", subject, group="g", durable=False)
    await sender.send(Message(subject, b"parked"))  # nobody serves it: kept in a durable queue
    assert await sender._publisher.flush(5.0) == 0  # type: ignore[union-attr]
    await server.consume(binding, on)
    await eventually(lambda: got == [(b"parked", True)])
    await sender.send(Message(subject, b"next"))  # the parked queue exists now: still reaches the member
    await eventually(lambda: len(got) == 2)
    assert got[1] == (b"next", True)
