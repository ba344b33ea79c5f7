"""What every FastStream side shares: a server broker with the subscribers and a client broker that calls.

FastStream's brokers differ per broker kind only in their constructor and
subscriber options, so a side declares its subscribers in ``subscribe`` and
its broker-specific set-up and clean-up in ``prepare`` and ``cleanup``.
"""

from __future__ import annotations

import abc
from typing import Any, Protocol

from bench._stats import FASTSTREAM
from bench._workload import Payload, Side, Sink


class _Broker(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def request(self, message: Any, subject: str, *, timeout: float) -> Any: ...


class FastStreamSide(Side):
    """Subclasses narrow ``server`` and ``client`` to their broker class, so subscriber decorators stay typed."""

    name = FASTSTREAM
    server: _Broker
    client: _Broker

    @abc.abstractmethod
    def subscribe(self, sink: Sink) -> None:
        """Declare the subscribers on ``self.server``."""

    async def prepare(self) -> None:
        """Broker-side set-up before the brokers start (for example deleting what a last run left)."""

    async def cleanup(self) -> None:
        """Broker-side clean-up after the brokers stop."""

    async def start(self, sink: Sink) -> None:
        await self.prepare()
        self.subscribe(sink)
        await self.server.start()
        await self.client.start()

    async def close(self) -> None:
        await self.client.stop()
        await self.server.stop()
        await self.cleanup()

    async def call(self, subject: str, body: Payload) -> Payload:
        """``broker.request`` and the decoded reply, as FastStream's documentation shows."""
        msg = await self.client.request(body, subject, timeout=5.0)
        reply: Payload = await msg.decode()
        return reply
