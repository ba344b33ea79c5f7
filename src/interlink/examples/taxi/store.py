"""Where trip, billing and the dispatcher keep what they know: the storage seam of the example.

Every handler that changes state does it in one *unit of work*::

    async with store.unit(ctx) as unit:      # ctx: the incoming message (its id goes in the inbox)
        if unit.duplicate:
            return                           # handled before: the effect happened once already
        await unit.save_ride(ride)
        await unit.publish("trip.created", event, key=ride.passenger_id)

Two stores implement it:

- ``MemoryStore`` (the default, nothing to install): dicts in this process; messages are
  sent when the block ends. Every instance must run in this one process.
- ``PostgresStore`` (``interlink demo --dsn DSN``, ``store_pg.py``): tables in PostgreSQL; the
  unit is a database transaction, the messages go through the transactional outbox and
  the incoming message id through the inbox, so instances in any number of processes
  share the state and an effect happens once per message id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from interlink import Context
from interlink.examples.taxi.messages import Assignment, Payment, RideRequest, RideStatus


class Ride(msgspec.Struct, frozen=True):
    """Trip's record of a ride: the request as the phone sent it, and how far it got."""

    request: RideRequest
    status: str
    driver_id: str | None = None

    def public(self) -> RideStatus:
        return RideStatus(self.request.ride_id, self.request.passenger_id, self.status, self.driver_id)


class Unit(Protocol):
    """One unit of work: reads, writes and outgoing messages that take effect together."""

    @property
    def duplicate(self) -> bool: ...  # this message was handled before: do nothing

    async def ride(self, ride_id: str) -> Ride | None: ...
    async def save_ride(self, ride: Ride) -> None: ...
    async def payment(self, ride_id: str) -> Payment | None: ...
    async def save_payment(self, payment: Payment) -> None: ...
    async def capture(self, payment: Payment) -> None: ...
    async def assignment(self, ride_id: str) -> Assignment | None: ...
    async def save_assignment(self, assignment: Assignment) -> None: ...
    async def notify(self, subject: str, body: Any, *, key: str | None = None,
                     delay: float | None = None) -> None: ...
    async def send(self, subject: str, body: Any, *, reply_to: str, key: str | None = None) -> None: ...
    async def publish(self, subject: str, body: Any, *, key: str | None = None) -> None: ...


class Store(Protocol):
    def unit(self, ctx: Context | None = None) -> AbstractAsyncContextManager[Unit]: ...
    async def captures(self) -> dict[str, int]: ...  # ride id -> payment captures (once each, if all is well)
    async def pending(self) -> int: ...  # messages written but not sent yet
    async def close(self) -> None: ...


@dataclass
class MemoryStore:
    """Dicts in this process. Writes apply at once (no rollback); messages go out when the unit ends."""

    rides: dict[str, Ride] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)
    captured: list[str] = field(default_factory=list)
    handled: set[tuple[str, str]] = field(default_factory=set)

    @asynccontextmanager
    async def unit(self, ctx: Context | None = None) -> AsyncIterator[Unit]:
        unit = _MemoryUnit(self, ctx)
        seen = (f"{ctx.service}:{ctx.subject}", ctx.message_id) if ctx is not None and ctx.message_id else None
        unit.duplicate = seen in self.handled
        yield unit
        if seen is not None:
            self.handled.add(seen)  # only once the block succeeded: a retry after an error is no duplicate
        for send in unit.outgoing:
            await send()

    async def captures(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ride_id in self.captured:
            counts[ride_id] = counts.get(ride_id, 0) + 1
        return counts

    async def pending(self) -> int:
        return 0  # sent when each unit ends

    async def close(self) -> None:
        pass


class _MemoryUnit:
    def __init__(self, store: MemoryStore, ctx: Context | None) -> None:
        self.store = store
        self.ctx = ctx
        self.duplicate = False
        self.outgoing: list[Any] = []

    async def ride(self, ride_id: str) -> Ride | None:
        return self.store.rides.get(ride_id)

    async def save_ride(self, ride: Ride) -> None:
        self.store.rides[ride.request.ride_id] = ride

    async def payment(self, ride_id: str) -> Payment | None:
        return self.store.payments.get(ride_id)

    async def save_payment(self, payment: Payment) -> None:
        self.store.payments[payment.ride_id] = payment

    async def capture(self, payment: Payment) -> None:
        self.store.payments[payment.ride_id] = msgspec.structs.replace(payment, captured=True)
        self.store.captured.append(payment.ride_id)

    async def assignment(self, ride_id: str) -> Assignment | None:
        return self.store.assignments.get(ride_id)

    async def save_assignment(self, assignment: Assignment) -> None:
        self.store.assignments[assignment.ride_id] = assignment

    def _ctx(self) -> Context:
        if self.ctx is None:
            raise RuntimeError("the memory store sends messages through the handler's context: pass ctx")
        return self.ctx

    async def notify(self, subject: str, body: Any, *, key: str | None = None, delay: float | None = None) -> None:
        ctx = self._ctx()
        self.outgoing.append(lambda: ctx.notify(subject, body, delay=delay))

    async def send(self, subject: str, body: Any, *, reply_to: str, key: str | None = None) -> None:
        ctx = self._ctx()
        self.outgoing.append(lambda: ctx.send(subject, body, reply_to=reply_to))

    async def publish(self, subject: str, body: Any, *, key: str | None = None) -> None:
        ctx = self._ctx()
        self.outgoing.append(lambda: ctx.publish(subject, body))


current: Store = MemoryStore()


def use(store: Store) -> None:
    """Make ``store`` the one every taxi handler of this process uses."""
    global current
    current = store


def unit(ctx: Context | None = None) -> AbstractAsyncContextManager[Unit]:
    """A unit of work of the current store (see the module docstring)."""
    return current.unit(ctx)
