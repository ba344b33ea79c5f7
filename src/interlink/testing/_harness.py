"""A test harness that records what a bus does and waits for the whole cascade to settle.

    async with interlink.testing.harness(bus) as h:
        await bus.serve(orders)
        await bus.publish("orders.created", {"id": 1})
        await h.settled()                       # every message it caused was handled or dead-lettered
        event = await h.published("orders.validated")
        assert event.body == {"id": 1, "ok": True}
        assert [x.outcome for x in h.handled("orders.created")] == ["ok"]
        assert h.dead_letters() == []

Open the harness before serving: it watches the handlers bound while it is open.
It sees every bus given to it in this process (services in other processes are
outside it). ``prefix`` isolates names on a shared broker (see :mod:`._tap`);
dead letters recorded while open are removed from the broker on exit (``clean``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from interlink import _headers as h
from interlink._codec import Codec
from interlink._dead import DeadLetter
from interlink._errors import RemoteError
from interlink._subjects import matches
from interlink.testing._tap import Outcome, Tap
from interlink.transports.base import Binding, Message

if TYPE_CHECKING:
    from types import TracebackType

    from interlink._bus import Bus

Kind = Literal["request", "send", "publish", "reply"]
_decoder = Codec("json")
#: The header that marks a message delivered later (delay=/at=): settled() does not wait for those.
DELAYED_HEADERS = ("il-due",)


def _decode(message: Message) -> Any:
    try:
        return _decoder.decode(message.body, Any, message.headers.get(h.CONTENT_TYPE))
    except Exception:
        return message.body


class NotSettled(AssertionError):
    """``settled()`` timed out: some messages caused by the test were neither handled nor dead-lettered."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """A message a watched bus handed to the broker: ``kind`` is request, send, publish or reply."""

    kind: Kind
    subject: str
    body: Any
    headers: dict[str, str] = field(repr=False)
    at: float = field(repr=False)

    @property
    def id(self) -> str:
        return self.headers.get(h.MESSAGE_ID, "")


@dataclass(slots=True)
class Handled:
    """One delivery to a watched handler and how it ended.

    ``outcome``: ``ok`` (returned), ``error`` (answered its caller with ``error``),
    ``retried`` (will be delivered again), ``dead_lettered``. ``result`` is the
    reply it sent (a request's or a send's), else None.
    """

    subject: str
    service: str
    body: Any
    headers: dict[str, str] = field(repr=False)
    attempt: int = 1
    outcome: Outcome = "ok"
    result: Any = None
    error: RemoteError | None = None

    @property
    def id(self) -> str:
        return self.headers.get(h.MESSAGE_ID, "")


@dataclass(slots=True)
class _Binding:
    binding: Binding
    group: str  # who must handle a message for it to count: the service, or this one member (broadcast)
    live: bool = True


class Harness:
    """Records every message published, sent, handled and dead-lettered on the watched buses."""

    def __init__(self, *buses: Bus, prefix: str | None = None, clean: bool = True) -> None:
        if not buses:
            raise ValueError("harness() needs at least one bus")
        self.buses = buses
        self.prefix = prefix
        self.clean = clean
        self.messages: list[Recorded] = []
        self.handlings: list[Handled] = []
        self._dead: list[Message] = []
        self._bindings: dict[int, _Binding] = {}
        self._keys = itertools.count()
        self._outstanding: dict[tuple[str, str], Recorded] = {}
        self._in_flight = 0
        self._changed = asyncio.Event()
        self._taps: list[Tap] = []
        self._open: dict[str, list[Handled]] = {}  # by message id: one per service handling it now
        self._group_of: dict[int, str] = {}

    async def __aenter__(self) -> Harness:
        for bus in self.buses:
            if bus.instances:
                raise ValueError(f"bus {bus.name!r} already serves {bus.instances[0].service.name!r}: "
                                 "open the harness before bus.serve() so that it watches every handler")
            self._taps.append(Tap(bus.transport, self, self.prefix))
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        for tap in self._taps:
            tap.close()
        if self.clean and self._dead:
            ids = {m.headers.get(h.MESSAGE_ID, "") for m in self._dead}
            for tap in self._taps[:1]:
                with contextlib.suppress(Exception):  # cleaning must not hide the test's own result
                    await tap.transport.remove_dead_letters(ids)

    # -- what the tap reports ------------------------------------------------

    def record_out(self, kind: Kind, message: Message, tap: Tap, *, durable: bool = True) -> None:
        recorded = Recorded(kind, message.subject, _decode(message), dict(message.headers), time.time())
        self.messages.append(recorded)
        if kind != "reply":
            for group in self._expected(kind, message, durable):
                self._outstanding[(recorded.id, group)] = recorded
        of = message.headers.get(h.REPLY_OF)
        handling = self._running(of, message.headers.get(h.SENDER, "")) if of else None
        if handling is not None and kind in ("reply", "send"):
            if h.ERROR in message.headers:
                handling.outcome, handling.error = "error", RemoteError.from_wire(recorded.body)
            else:
                handling.result = recorded.body
        self._signal()

    def _expected(self, kind: Kind, message: Message, durable: bool) -> set[str]:
        if any(name in message.headers for name in DELAYED_HEADERS):
            return set()  # delivered later: settled() does not wait for it
        subject = message.subject
        groups: set[str] = set()
        for b in self._bindings.values():
            binding = b.binding
            if kind == "publish":
                if binding.kind != "subscription" or not matches(binding.pattern, subject):
                    continue
            elif binding.kind != "endpoint" or binding.pattern != subject:
                continue
            stored = durable and binding.durable and kind != "request"
            if b.live or stored:
                groups.add(b.group)
        return groups

    def record_dead(self, message: Message) -> None:
        self._dead.append(message)
        handling = self._running(message.headers.get(h.MESSAGE_ID, ""), message.headers.get(h.DEAD_SERVICE, ""))
        if handling is not None:
            handling.outcome = "dead_lettered"
        self._signal()

    def _running(self, message_id: str, service: str) -> Handled | None:
        """The handling of ``message_id`` by ``service`` in progress (a publish reaches several at once)."""
        running = self._open.get(message_id, [])
        return next((x for x in running if x.service == service), running[0] if running else None)

    def record_binding(self, binding: Binding, tap: Tap) -> int:
        key = next(self._keys)
        group = binding.group if binding.group is not None else f"member-{key}"
        self._bindings[key] = _Binding(binding, group)
        return key

    def binding_stopped(self, key: int) -> None:
        b = self._bindings.get(key)
        if b is not None:
            b.live = False
        self._signal()

    def started(self, key: int, message: Message) -> Handled:
        b = self._bindings[key]
        service = b.binding.name or b.binding.group or ""
        handling = Handled(message.subject, service, _decode(message), dict(message.headers), message.attempt)
        self._open.setdefault(handling.id, []).append(handling)
        self._group_of[id(handling)] = b.group
        self._in_flight += 1
        return handling

    def finished(self, handling: Handled, retried: bool) -> None:
        self._in_flight -= 1
        running = [x for x in self._open.get(handling.id, []) if x is not handling]
        self._open[handling.id] = running
        if not running:
            self._open.pop(handling.id, None)
        if retried and handling.outcome != "dead_lettered":
            handling.outcome = "retried"
        self.handlings.append(handling)
        group = self._group_of.pop(id(handling), "")
        if handling.outcome != "retried":
            self._outstanding.pop((handling.id, group), None)
        self._signal()

    def _signal(self) -> None:
        self._changed.set()

    async def _change(self, left: float) -> None:
        """Wait for the next recorded event (or a short while: broker-side progress is not reported)."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), min(left, 0.05))

    # -- what tests ask --------------------------------------------------------

    async def settled(self, timeout: float = 10.0) -> None:
        """Return once every message the watched buses sent (and those it caused, in cascade) has been
        handled or dead-lettered by a watched handler, and no handler is running.

        Messages nobody watched subscribes to are not waited for. Raises :class:`NotSettled`
        naming what is still outstanding after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            if not self._outstanding and self._in_flight == 0:
                await asyncio.sleep(0)  # a handler that just returned may still be sending its reply
                if not self._outstanding and self._in_flight == 0:
                    return
            left = end - loop.time()
            if left <= 0:
                pending = sorted({f"{r.kind} {r.subject} -> {group}" for (_, group), r in self._outstanding.items()})
                raise NotSettled(f"not settled after {timeout}s: {self._in_flight} handler(s) running; "
                                 f"waiting for {pending}")
            await self._change(left)

    async def published(self, subject: str, timeout: float = 5.0,
                        where: Callable[[Recorded], bool] | None = None) -> Recorded:
        """The first message published on ``subject`` (a pattern) while the harness was open, waiting for
        it up to ``timeout`` seconds; ``where`` narrows it. Raises :class:`AssertionError` if none came."""
        return await self._first(lambda r: r.kind == "publish" and matches(subject, r.subject)
                                 and (where is None or where(r)), timeout, f"nothing published on {subject!r}")

    async def sent(self, subject: str, timeout: float = 5.0,
                   where: Callable[[Recorded], bool] | None = None) -> Recorded:
        """Like :meth:`published`, for notifications, sends and requests to the endpoint ``subject``."""
        return await self._first(lambda r: r.kind in ("send", "request") and r.subject == subject
                                 and (where is None or where(r)), timeout, f"nothing sent to {subject!r}")

    async def _first(self, check: Callable[[Recorded], bool], timeout: float, what: str) -> Recorded:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        seen = 0
        while True:
            for r in self.messages[seen:]:
                if check(r):
                    return r
            seen = len(self.messages)
            left = end - loop.time()
            if left <= 0:
                raise AssertionError(f"{what} within {timeout}s")
            await self._change(left)

    def handled(self, subject: str | None = None, *, service: str | None = None,
                outcome: Outcome | None = None) -> list[Handled]:
        """Finished handlings, in the order they ended; ``subject`` is a pattern."""
        return [x for x in self.handlings if (subject is None or matches(subject, x.subject))
                and (service is None or x.service == service) and (outcome is None or x.outcome == outcome)]

    def dead_letters(self, *, service: str | None = None, subject: str | None = None) -> list[DeadLetter]:
        """The messages the watched handlers dead-lettered while the harness was open."""
        letters = [DeadLetter.from_message(m) for m in self._dead]
        return [d for d in letters if (service is None or d.service == service)
                and (subject is None or matches(subject, d.subject))]

    def published_bodies(self, subject: str) -> list[Any]:
        """The bodies published on ``subject`` (a pattern) so far, in order."""
        return [r.body for r in self.messages if r.kind == "publish" and matches(subject, r.subject)]


def harness(*buses: Bus, prefix: str | None = None, clean: bool = True) -> Harness:
    """A :class:`Harness` on ``buses``: ``async with harness(bus) as h: ...``.

    ``prefix`` (a subject token) isolates this test's subjects and service groups on a shared
    broker; ``clean`` removes the dead letters it recorded from the broker when it closes.
    """
    return Harness(*buses, prefix=prefix, clean=clean)
