"""``App``: the services of one application (and its gateway), run together.

    app = interlink.App("taxi", services=[passenger, trip, dispatcher])
    # interlink run interlink.examples.taxi.app:app --instances driver=3
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from interlink._bus import Bus, Instance
from interlink._service import Service
from interlink._subjects import check_name


class App:
    """A named bundle of services, with an optional gateway configuration."""

    def __init__(self, name: str, services: Iterable[Service] = (), gateway: Any = None) -> None:
        self.name = check_name(name)
        self.services = list(services)
        self.gateway = gateway
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
