"""The observe hooks alone, per message, in CPU microseconds: what each variant adds to a handling
and to a request or publish, measured without a broker (so the machine's load matters far less than end to end).

    .venv/bin/python -m bench.observe_hooks            # (b)-(d) in this environment
    INTERLINK_TRACING=off .venv/bin/python -m bench.observe_hooks   # (a)'s code path
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from interlink._service import Service
from interlink.observe import Watch, enable_metrics, outgoing
from interlink.transports.base import Message

N = 200_000


class _Sink:
    async def request(self, message: Message, timeout: float) -> Message:
        return message

    async def send(self, message: Message) -> None:
        pass

    async def publish(self, message: Message, *, durable: bool = True) -> None:
        pass


async def main(variant: str) -> dict[str, float]:
    if variant == "c":
        from bench.observe_overhead import _setup

        _setup("c")
    if variant == "d":
        from prometheus_client import CollectorRegistry

        enable_metrics(CollectorRegistry())
    svc = Service("bench")

    @svc.endpoint("bench.echo")
    async def echo(body: object) -> object:
        return body

    watch = Watch.for_handler("bench", "bench-1", svc.handlers[0], "nats")
    out = outgoing(_Sink(), "bench", "nats")  # type: ignore[arg-type]
    message = Message("bench.echo", b"{}", {"il-id": "0" * 32, "il-cid": "0" * 32,
                                            "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
                      reply_to="_INBOX.x")
    start = time.process_time()
    for _ in range(N):
        with watch(message):
            pass
    handling = (time.process_time() - start) / N * 1e6
    start = time.process_time()
    for _ in range(N // 4):
        await out.request(message, 1.0)
    sending = (time.process_time() - start) / (N // 4) * 1e6
    start = time.process_time()
    for _ in range(N // 4):
        await out.publish(message, durable=False)
    publishing = (time.process_time() - start) / (N // 4) * 1e6
    return {"handling_us": handling, "request_us": sending, "publish_us": publishing}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "b"))))
