"""Before/after figures of the regressions in test_regressions.py: ``python -m tests.wire.figures``.

Runs each broken case of issue 9 for a fixed time with raw clients and prints
what happened (handled, dead letters kept, refusals logged, requests that
failed). Point PYTHONPATH at another checkout's ``src`` to measure that one.
Needs the machine's RabbitMQ and Redis; starts its own nats-server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec

import interlink
from interlink import Context, Service
from interlink._embedded import NatsServer
from interlink._logthrottle import THROTTLE
from interlink.testing import unique
from tests.wire._raw import RawText, mp_frame
from tests.wire.conftest import Served, make_service, open_raw, url_for


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.refusals = 0
        self.lost_connections = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "rejected message" in text:
            self.refusals += 1
        if "frame_too_large" in text or "Connection lost" in text or "connection lost" in text:
            self.lost_connections += 1


async def served_on(broker: str, nats_url: str) -> Served:
    url = url_for(broker, nats_url)
    bus = await interlink.connect(url).start()
    item = Served(broker, url, bus, await open_raw(broker, url), unique("fig"), unique("f"), unique("t"))
    await bus.serve(make_service(item))
    return item


async def dead(item: Served) -> int:
    try:
        return len(await item.dead())
    except Exception as exc:
        return -1 if exc else 0


async def redis_attempt(nats_url: str, counter: Counter) -> str:
    item = await served_on("redis", nats_url)
    await item.raw.send(item.subject, item.good_frame(item.subject, 7), a=b"abc")
    later = [await item.send_good() for _ in range(3)]
    await asyncio.sleep(15)
    return f"attempt 'abc': later notifications handled {sum(n in item.got for n in later)}/3 in 15 s"


async def redis_undecodable(nats_url: str, counter: Counter) -> str:
    item = await served_on("redis", nats_url)
    s = item.subject
    for frame in (b"", b"\xc1 x", msgspec.msgpack.encode((s, b"1")), msgspec.msgpack.encode((s, {"k": "v"}, 5))):
        await item.raw.send(s, frame)
    await item.raw.send(s, mp_frame(s.encode(), [(b"k", b"\xff\xfe")], b"8"))
    await asyncio.sleep(5)
    return f"4 undecodable entries + 1 with a non-UTF-8 header: dead letters {await dead(item)}/4, " \
           f"good-body one handled {8 in item.got}"


async def rabbit_bytes(nats_url: str, counter: Counter) -> str:
    item = await served_on("rabbitmq", nats_url)
    counter.refusals = 0
    await item.raw.send(item.subject, b"not json", {"k": RawText(b"\xff\xfe")})
    await asyncio.sleep(20)
    return f"non-UTF-8 header + bad body: refusals in 20 s {counter.refusals}, dead letters {await dead(item)}"


async def rabbit_frame(nats_url: str, counter: Counter) -> str:
    item = await served_on("rabbitmq", nats_url)
    client = await interlink.connect(item.url).start()
    counter.lost_connections = 0
    await item.raw.send(item.subject, b"not json", {"big": "x" * (131_072 - 150)})
    ok = failed = 0
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            await client.request(item.subject, 1, timeout=2.0)
            ok += 1
        except interlink.InterlinkError:
            failed += 1
        await asyncio.sleep(0.1)
    await client.close()
    return f"headers at frame_max: requests ok {ok}, failed {failed} in 20 s; connection-lost log lines " \
           f"{counter.lost_connections}; dead letters {await dead(item)}"


async def nats_limits(nats_url: str, counter: Counter) -> str:
    item = await served_on("nats", nats_url)
    counter.refusals = 0
    await item.raw.send(item.subject, b"not json", [(b"big", b"x" * 65_000)])
    size = item.bus.transport.max_payload - 300
    await item.raw.send(item.subject, (b"[" + b"1," * size)[:size], None)
    await asyncio.sleep(20)  # ack_wait is 3 s
    return f"64 KiB headers + 1 MiB body (ack_wait 3 s): refusals in 20 s {counter.refusals} (2 = once each), " \
           f"dead letters {await dead(item)}/2"


async def nats_no_id(nats_url: str, counter: Counter) -> str:
    item = await served_on("nats", nats_url)
    for n in range(5):
        await item.raw.send(item.subject, b"bad %d" % n, None)
    await asyncio.sleep(5)
    return f"5 bad messages without il-id: dead letters kept {await dead(item)}/5"


async def nested_under(broker: str, nats_url: str) -> list[Any]:
    item = await served_on(broker, nats_url)
    svc, subject, echo = Service(unique("nest")), unique("n"), unique("e")
    seen: list[Any] = []

    @svc.endpoint(echo)
    async def echoed(n: int) -> int:
        return n

    @svc.endpoint(subject, max_attempts=1)
    async def nested(n: int, ctx: Context) -> None:
        try:
            seen.append(await ctx.request(echo, n, timeout=2.0))
        except Exception as exc:
            seen.append(type(exc).__name__)

    await item.bus.serve(svc)
    for value in ("abc", "-5", "nan", "inf"):
        await item.bus.notify(subject, 1, headers={"il-deadline": value})
    await asyncio.sleep(4)
    return seen


async def deadlines(nats_url: str, counter: Counter) -> str:
    results = [f"{broker}: {await nested_under(broker, nats_url)}" for broker in ("nats", "rabbitmq", "redis")]
    return "nested ctx.request under il-deadline abc/-5/nan/inf: " + "; ".join(results)


async def main() -> None:
    counter = Counter()
    logging.basicConfig(level=logging.WARNING, filename="/dev/null")  # counted, not printed
    logging.getLogger().addHandler(counter)
    THROTTLE.burst = 0  # redeliveries are counted through the log: every line must come through
    server = NatsServer().start()
    try:
        for scenario in (redis_attempt, redis_undecodable, rabbit_bytes, rabbit_frame, nats_limits, nats_no_id,
                         deadlines):
            try:
                print(await asyncio.wait_for(scenario(server.url, counter), 60), flush=True)
            except Exception as exc:
                print(f"{scenario.__name__}: {type(exc).__name__}: {exc}", flush=True)
    finally:
        server.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
