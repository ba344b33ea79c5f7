"""The health endpoint of ``interlink run --health HOST:PORT``, for probes of an orchestrator.

    GET /readyz (or any path but /healthz)   200 {"status": "ready"} once every instance serves and
                                             a round trip through the broker succeeds;
                                             503 while starting, draining, or the broker is unreachable
    GET /healthz                             200 while the process runs (liveness), draining included

The round trip is a request to an endpoint this process serves itself (not durable), so a 200
means the broker answers and this process's consumers receive. A plain asyncio HTTP server: a
services-only process needs no web framework installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import interlink

if TYPE_CHECKING:
    from interlink._bus import Bus

CHECK_TIMEOUT = 1.0  # seconds the broker round trip may take before the probe answers 503
CHECK_EVERY = 1.0  # a result is reused this long: probes do not load the broker, however many
READ_TIMEOUT = 5.0
MAX_HEAD = 8192


class Health:
    """What the probes see: starting -> ready/unavailable -> draining."""

    def __init__(self) -> None:
        self.state = "starting"
        self.instances = 0
        self._bus: Bus | None = None
        self._subject = f"interlink-run.{uuid.uuid4().hex[:12]}.ping"
        self._checked: tuple[float, bool] = (0.0, False)
        self._check: asyncio.Task[bool] | None = None
        self._server: asyncio.Server | None = None

    async def listen(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._answer, host, port)

    async def serving(self, bus: Bus, instances: int) -> None:
        """Every instance's subscriptions are live: serve the round-trip endpoint and report ready."""
        service = interlink.Service(f"interlink-run-{self._subject.split('.')[1]}")

        @service.endpoint(self._subject, durable=False)
        async def ping(body: Any) -> str:
            return "pong"

        await bus.serve(service)
        self._bus, self.instances, self.state = bus, instances, "serving"

    def draining(self) -> None:
        self.state = "draining"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        if self._check is not None:
            self._check.cancel()

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        if self.state != "serving":
            return 503, {"status": self.state}
        broker = await self._broker_answers()
        if self.state != "serving":  # began to drain during the check
            return 503, {"status": self.state}
        if not broker:
            return 503, {"status": "unavailable", "broker": False, "instances": self.instances}
        return 200, {"status": "ready", "broker": True, "instances": self.instances}

    async def _broker_answers(self) -> bool:
        at, last = self._checked
        if time.monotonic() - at < CHECK_EVERY:
            return last
        if self._check is None or self._check.done():  # concurrent probes share one round trip
            self._check = asyncio.ensure_future(self._round_trip())
        fresh: bool = await asyncio.shield(self._check)
        return fresh

    async def _round_trip(self) -> bool:
        assert self._bus is not None
        try:
            answered = bool(await self._bus.request(self._subject, None, timeout=CHECK_TIMEOUT) == "pong")
        except interlink.InterlinkError:
            answered = False
        self._checked = (time.monotonic(), answered)
        return answered

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            parts = head[:MAX_HEAD].split(b" ", 2)
            path = parts[1].split(b"?")[0] if len(parts) > 1 else b"/"
            if path == b"/healthz":
                status, body = 200, {"status": "alive", "state": self.state}
            else:
                status, body = await self.readiness()
            payload = json.dumps(body).encode()
            reason = "OK" if status == 200 else "Service Unavailable"
            writer.write(f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                         f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n".encode() + payload)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # a client that sends no request, or leaves: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
