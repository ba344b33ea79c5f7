"""Consumer backlog, sampled from the broker every few seconds while metrics are on (never per message).

``Transport.backlog()`` lists what waits for each durable consumer (NATS: the
JetStream consumers' pending counts; a transport that cannot tell lists
nothing); the rows of the durable, grouped bindings this bus serves go to
``interlink_consumer_backlog{service, subject, transport}`` (messages not yet delivered).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interlink.observe._metrics import BusMetrics
    from interlink.transports.base import Binding, Transport

log = logging.getLogger("interlink")
EVERY = 5.0  # seconds between samples


class BacklogSampler:
    def __init__(self, transport: Transport, system: str, metrics: BusMetrics, every: float = EVERY) -> None:
        self._transport = transport
        self._system = system
        self._metrics = metrics
        self._every = every
        self._watched: dict[tuple[str, str], str] = {}  # (kind, subject) -> service
        self._task: asyncio.Task[None] | None = None

    def watch(self, service: str, subject: str, binding: Binding) -> None:
        if not binding.durable or binding.group is None:
            return
        self._watched[binding.kind, subject] = service
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def sample(self) -> None:
        try:
            rows = await self._transport.backlog()
        except Exception as exc:  # a broker hiccup: try again next time
            log.debug("backlog: %s", exc)
            return
        for row in rows:
            service = self._watched.get((row.kind, row.subject))
            if service is not None and (row.kind == "endpoint" or row.service == service):
                self._metrics.backlog[service, row.subject, self._system] = row.pending

    async def _run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self._every)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


class _NoSampler:
    __slots__ = ()

    def watch(self, service: str, subject: str, binding: Binding) -> None:
        pass

    async def sample(self) -> None:
        pass

    def stop(self) -> None:
        pass


NO_SAMPLER = _NoSampler()


def backlog_sampler(transport: Transport, system: str) -> BacklogSampler | _NoSampler:
    """A sampler when metrics are on, else a no-op."""
    from interlink.observe._hooks import metrics_registry

    if metrics_registry() is None:
        return NO_SAMPLER
    from interlink.observe import _metrics

    return BacklogSampler(transport, system, _metrics.bus_metrics())
