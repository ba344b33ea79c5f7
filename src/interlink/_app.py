"""``App``: the services of one application (and its gateway), run together.

    app = interlink.App("taxi", services=[passenger, trip, dispatcher], lifespan=database)
    # interlink run interlink.examples.taxi.app:app --instances driver=3

``lifespan`` (as in Starlette and FastStream) opens what the handlers share — a database
pool, a store, a client — once per process: ``interlink run`` enters it with the bus before
the first service is served and leaves it after the last in-flight handler has finished.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from interlink._bus import Bus, Instance
from interlink._service import Service
from interlink._subjects import check_name

log = logging.getLogger("interlink")

#: Called with the bus; the context it returns is entered before serving and left after the drain.
Lifespan = Callable[[Bus], AbstractAsyncContextManager[object]]


class App:
    """A named bundle of services, with an optional gateway configuration and lifespan."""

    def __init__(self, name: str, services: Iterable[Service] = (), gateway: Any = None, *,
                 lifespan: Lifespan | None = None) -> None:
        self.name = check_name(name)
        self.services = list(services)
        self.gateway = gateway
        self.lifespan = lifespan
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"app {name!r}: a service is listed twice in {names}")

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(f"app {self.name!r} has no service {name!r}; it has {[s.name for s in self.services]}")

    async def serve(self, bus: Bus, *, only: Iterable[str] | None = None,
                    instances: Mapping[str, int] | None = None) -> list[Instance]:
        """Serve the services (all, or ``only`` these) with N instances each on ``bus``."""
        chosen = [self.service(n) for n in only] if only else self.services
        counts = instances or {}
        running: list[Instance] = []
        for svc in chosen:
            for _ in range(max(1, counts.get(svc.name, 1))):
                running.append(await bus.serve(svc))
        return running

    @asynccontextmanager
    async def running(self, bus: Bus, *, only: Iterable[str] | None = None,
                      instances: Mapping[str, int] | None = None,
                      grace: float = 10.0) -> AsyncIterator[list[Instance]]:
        """The app's lifespan entered, then its services served (see :meth:`serve`); on leaving, every
        instance stops (in-flight handlers get ``grace`` seconds) before the lifespan is left."""
        async with self.lifespan(bus) if self.lifespan is not None else _nothing():
            running = await self.serve(bus, only=only, instances=instances)
            try:
                yield running
            finally:
                try:
                    await asyncio.wait_for(asyncio.gather(*(i.stop() for i in running)), grace)
                except TimeoutError:
                    log.warning("app %s: handlers still running after %.1fs grace", self.name, grace)


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield
