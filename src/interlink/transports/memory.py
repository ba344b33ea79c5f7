"""In-process transport: one broker per name, shared by every bus in the process.

It keeps the full contract of the transport interface, durability included for
the life of the process: a durable group keeps its queue while no member runs,
``nack`` redelivers after the delay, and sends to an endpoint nobody has bound
yet wait for the first member. It is the test double of the whole framework.

It runs at event-loop speed: a request to a member with a free slot is handled in
the requester's own task (no queue, worker or future in between; when the requester
stops waiting, the handler is cancelled with it), and other deliveries wait in a
deque per member drained by worker tasks.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import time
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import replace
from typing import Any

from interlink._errors import NoResponders, RequestTimeout
from interlink._subjects import matches
from interlink.transports.base import (
    Backlog,
    Binding,
    Handler,
    Message,
    Subscription,
    TapHandler,
    TapKind,
    Transport,
)

_brokers: dict[str, _Broker] = {}
_Waiting = tuple[str, bytes, dict[str, str], str | None, int]  # a Message's subject, body, headers, reply_to, attempt
_ids = itertools.count(1)
MAX_ROUTES = 4096  # subjects whose matching subscription groups are remembered per broker
# requests handled in their requester's task, one inside the other's handler: past this depth a
# request is queued to a worker instead, so that a chain of nested calls does not grow the stack unbounded
MAX_NESTING = 16
# deliveries handled in a row without the event loop's turn (handlers that never suspend); then it gets one
YIELD_EVERY = 128
_nesting: contextvars.ContextVar[int] = contextvars.ContextVar("interlink_memory_nesting", default=0)


class _Receipt:
    __slots__ = ("_group", "_message", "_settled")

    def __init__(self, group: _Group, message: Message) -> None:
        self._group = group
        self._message = message
        self._settled = False

    async def ack(self) -> None:
        self._settled = True

    async def reject(self) -> None:
        self._settled = True

    async def working(self) -> None:
        return None

    async def nack(self, delay: float) -> None:
        if self._settled:
            return
        self._settled = True
        again = replace(self._message, attempt=self._message.attempt + 1, receipt=None)
        asyncio.get_running_loop().call_later(max(delay, 0.0), self._group.put, again)


class _Member:
    """One consume() call: up to ``limit`` handlings at once, fed round-robin by its group.

    Deliveries wait in a deque drained by worker tasks, started as load needs them
    (no queue object and no task per message). A request may instead be handled in
    the requester's own task (see :func:`_handle_here`); it counts against the same limit.
    """

    def __init__(self, group: _Group, handler: Handler, inflight: int) -> None:
        self.group = group
        self.handler = handler
        self.limit = max(1, inflight)
        self.stopped = False
        # deliveries as plain tuples, not Message objects: a burst of them waiting costs the
        # garbage collector nothing to walk (a tuple of strings and bytes is not tracked)
        self.pending: deque[_Waiting] = deque()
        self.idle: deque[asyncio.Future[None]] = deque()
        self.workers: list[asyncio.Task[None]] = []
        self.running = 0  # handlings under way, in workers and in requesters' tasks
        self._drained: asyncio.Future[None] | None = None

    def put(self, message: Message) -> None:
        """Keep a delivery of ``message``, with headers of its own."""
        self.pending.append((message.subject, message.body, dict(message.headers), message.reply_to,
                             message.attempt))
        if self.idle or len(self.workers) < self.limit:  # else every worker is busy and will come for it
            self.wake()

    def wake(self) -> None:
        """A delivery waits: an idle worker takes it, or a new one while under the limit."""
        idle = self.idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        if len(self.workers) < self.limit and not self.stopped:
            self.workers.append(asyncio.ensure_future(self._work()))

    def can_take(self) -> bool:
        """Whether a request may be handled at once, ahead of nothing and within the limit."""
        return not self.pending and self.running < self.limit and not self.stopped

    def done(self) -> None:
        """One handling ended: a waiting delivery may go, and a stop may be waiting for the last one."""
        self.running -= 1
        if self.pending and self.idle:
            self.wake()
        drained = self._drained
        if drained is not None and self.running == 0 and not drained.done():
            drained.set_result(None)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        pending, idle, handler, group = self.pending, self.idle, self.handler, self.group
        handled = 0
        while not self.stopped:
            if not pending or self.running >= self.limit:
                waiter = loop.create_future()
                idle.append(waiter)
                await waiter
                continue
            message = Message(*pending.popleft())
            if group.durable and message.reply_to is None:  # requests are never stored: no receipt
                message.receipt = _Receipt(group, message)
            self.running += 1
            try:
                await handler(message)
            except Exception:  # a handler must not kill the worker; the bus logs
                pass
            finally:
                self.done()
            handled += 1
            if handled >= YIELD_EVERY:  # a long backlog of handlers that never suspend lets others run too
                handled = 0
                await asyncio.sleep(0)

    async def stop(self) -> None:
        self.stopped = True
        for waiter in self.idle:
            waiter.cancel()
        self.idle.clear()
        await asyncio.gather(*self.workers, return_exceptions=True)
        if self.running:  # requests still handled in their requesters' tasks
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
        self.group.members.remove(self)
        pending, self.pending = self.pending, deque()
        for waiting in pending:  # not yet handled: back to the group
            self.group.put(Message(*waiting))
        self.group.broker.forget(self.group)


class _Group:
    def __init__(self, broker: _Broker, binding: Binding) -> None:
        self.broker = broker
        self.binding = binding
        self.durable = binding.durable
        self.backlog: list[Message] = []  # kept while no member runs
        self.members: list[_Member] = []
        self.turn = 0

    def put(self, message: Message) -> None:
        """Deliver ``message`` to one member (which copies what it keeps), or keep a copy while none runs."""
        members = self.members
        if not members:
            if self.durable:
                self.backlog.append(_copy(message))
            return
        self.turn = (self.turn + 1) % len(members)
        members[self.turn].put(message)

    def next_member(self) -> _Member:
        members = self.members
        self.turn = (self.turn + 1) % len(members)
        return members[self.turn]

    def join(self, member: _Member) -> None:
        self.members.append(member)
        backlog, self.backlog = self.backlog, []
        for message in backlog:
            self.put(message)


class _Broker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.users = 0
        # (kind, pattern, group-or-member-id) -> group
        self.groups: dict[tuple[str, str, str], _Group] = {}
        # endpoint subject -> sends waiting for a first durable member
        self.parked: dict[str, list[Message]] = {}
        self.addresses: dict[str, Callable[[Message], None]] = {}
        self.dead: list[Message] = []
        self.unyielded = 0  # requests answered in their requesters' tasks since the loop last had a turn
        self.taps: list[TapHandler] = []
        # subject -> endpoint groups, and subject -> subscription groups matching it; rebuilt on change
        self.endpoints: dict[str, list[_Group]] = {}
        self.routes: dict[str, list[_Group]] = {}

    def tell(self, kind: TapKind, message: Message) -> None:
        for tap in self.taps:
            tap(kind, _copy(message))

    def send(self, message: Message) -> None:
        if self.taps:
            self.tell("send", message)
        groups = self.endpoint_groups(message.subject)
        if groups:
            groups[0].put(message)
        else:
            self.parked.setdefault(message.subject, []).append(_copy(message))

    def publish(self, message: Message, durable: bool) -> None:
        if self.taps:
            self.tell("publish", message)
        groups = self.routes.get(message.subject)
        for group in self.subscription_groups(message.subject) if groups is None else groups:
            if group.members or (durable and group.durable):
                group.put(message)

    def due(self, message: Message, publish: bool) -> None:
        """A delayed message is due: carried out as if sent now."""
        if publish:
            self.publish(message, True)
        else:
            self.send(message)

    def group_for(self, binding: Binding) -> _Group:
        key = (binding.kind, binding.pattern, binding.group or f"#{next(_ids)}")
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(self, binding)
            self.changed()
            if binding.kind == "endpoint" and binding.durable:
                for message in self.parked.pop(binding.pattern, []):
                    group.put(message)
        elif binding.durable:
            group.durable = True
        return group

    def forget(self, group: _Group) -> None:
        if group.members or group.durable:
            return
        for key, value in list(self.groups.items()):
            if value is group:
                del self.groups[key]
        self.changed()

    def changed(self) -> None:
        """Groups came or went: the indexes by subject are rebuilt when next asked."""
        self.endpoints = {}
        self.routes = {}

    def endpoint_groups(self, subject: str) -> list[_Group]:
        groups = self.endpoints.get(subject)
        if groups is None:
            groups = self.endpoints[subject] = [
                g for (kind, pattern, _), g in self.groups.items() if kind == "endpoint" and pattern == subject]
        return groups

    def subscription_groups(self, subject: str) -> list[_Group]:
        groups = self.routes.get(subject)
        if groups is None:
            if len(self.routes) > MAX_ROUTES:  # many distinct subjects: keep the cache bounded
                self.routes = {}
            groups = self.routes[subject] = [
                g for (kind, pattern, _), g in self.groups.items()
                if kind == "subscription" and matches(pattern, subject)]
        return groups


class MemoryTransport(Transport):
    """``memory://NAME``: every MemoryTransport with the same name shares one broker."""

    durable = True
    max_payload = 8 * 1024 * 1024

    def __init__(self, name: str = "default") -> None:
        self.name = name or "default"
        self._broker: _Broker | None = None
        self._members: list[_Member] = []
        self._addresses: list[str] = []

    @property
    def broker(self) -> _Broker:
        if self._broker is None:
            from interlink._errors import BrokerError

            raise BrokerError(f"memory://{self.name}: transport is not started")
        return self._broker

    async def start(self) -> None:
        if self._broker is None:
            broker = _brokers.get(self.name) or _brokers.setdefault(self.name, _Broker(self.name))
            broker.users += 1
            self._broker = broker

    async def close(self) -> None:
        broker = self._broker
        if broker is None:
            return
        for member in list(self._members):
            await member.stop()
        self._members.clear()
        for address in self._addresses:
            broker.addresses.pop(address, None)
        self._broker = None
        broker.users -= 1
        if broker.users == 0 and _brokers.get(self.name) is broker:
            del _brokers[self.name]

    async def request(self, message: Message, timeout: float) -> Message:
        broker = self.broker
        for group in broker.endpoint_groups(message.subject):
            if group.members:
                break
        else:
            raise NoResponders(f"no instance serves {message.subject!r}")
        if broker.taps:
            broker.tell("request", message)
        address = f"_INBOX.{next(_ids)}"
        slot = _Slot()
        broker.addresses[address] = slot
        # made for its one receiver: the headers are handed over, not copied
        delivery = Message(message.subject, message.body, message.headers, address, message.attempt)
        member = group.next_member()
        started = time.monotonic()
        try:
            depth = _nesting.get()
            if depth < MAX_NESTING and member.can_take():
                member.running += 1
                try:
                    suspended = _first_step(member.handler, delivery, depth)
                    if suspended is not None:
                        await _go_on_here(*suspended, timeout - (time.monotonic() - started), message)
                finally:
                    member.done()
                broker.unyielded += 1
                if broker.unyielded >= YIELD_EVERY:  # a caller's loop of answered requests lets others run too
                    broker.unyielded = 0
                    await asyncio.sleep(0)
                if slot.reply is not None:
                    return slot.reply
            else:
                member.put(delivery)
            # queued, or a handler that answers later from elsewhere
            return await slot.wait(timeout - (time.monotonic() - started), message.subject, timeout)
        finally:
            broker.addresses.pop(address, None)

    async def send(self, message: Message) -> None:
        self.broker.send(message)

    async def publish(self, message: Message, *, durable: bool = True) -> None:
        (self._broker or self.broker).publish(message, durable)  # the property only to raise when not started

    async def schedule(self, message: Message, due: float, *, publish: bool) -> None:
        """Held by the process's broker on a loop timer (as durable as the memory broker: the process)."""
        asyncio.get_running_loop().call_later(max(0.0, due - time.time()), self.broker.due, _copy(message), publish)

    async def reply(self, address: str, message: Message) -> None:
        if self.broker.taps:
            self.broker.tell("reply", message)
        deliver = self.broker.addresses.get(address)
        if deliver is not None:  # the requester gave up: drop quietly
            deliver(message)  # a reply is made for its one receiver: handed over, not copied

    async def dead_letter(self, message: Message) -> None:
        if self.broker.taps:
            self.broker.tell("dead", message)
        self.broker.dead.append(_copy(message))

    async def dead_letters(self, limit: int = 1000) -> list[Message]:
        return [_copy(m) for m in self.broker.dead[:limit]]

    async def remove_dead_letters(self, message_ids: set[str] | None = None) -> int:
        broker = self.broker
        keep = [] if message_ids is None else [m for m in broker.dead if m.headers.get("il-id") not in message_ids]
        removed = len(broker.dead) - len(keep)
        broker.dead = keep
        return removed

    async def inbox(self, handler: Handler) -> str:
        address = f"_INBOX.{self.name}.{next(_ids)}"
        tasks: set[asyncio.Task[None]] = set()

        def deliver(message: Message) -> None:
            task = asyncio.ensure_future(handler(message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        self.broker.addresses[address] = deliver
        self._addresses.append(address)
        return address

    async def tap(self, handler: TapHandler) -> Subscription:
        self.broker.taps.append(handler)
        return _TapSubscription(self.broker, handler)

    async def backlog(self) -> list[Backlog]:
        out = []
        for group in self.broker.groups.values():
            if group.durable:
                members = group.members
                pending = len(group.backlog) + sum(len(m.pending) for m in members)
                busy = sum(m.running for m in members)
                b = group.binding
                out.append(Backlog(b.name or "", b.kind, b.pattern, pending, busy))
        return out

    async def consume(self, binding: Binding, handler: Handler) -> Subscription:
        group = self.broker.group_for(binding)
        member = _Member(group, handler, binding.max_inflight)
        group.join(member)
        self._members.append(member)
        return _MemberSubscription(self, member)


class _MemberSubscription:
    def __init__(self, transport: MemoryTransport, member: _Member) -> None:
        self._transport = transport
        self._member = member

    async def stop(self) -> None:
        if self._member in self._transport._members:
            self._transport._members.remove(self._member)
            await self._member.stop()


class _TapSubscription:
    def __init__(self, broker: _Broker, handler: TapHandler) -> None:
        self._broker = broker
        self._handler = handler

    async def stop(self) -> None:
        if self._handler in self._broker.taps:
            self._broker.taps.remove(self._handler)


class _Slot:
    """Where the reply to one request lands: kept when it comes first, else handed to the waiting future."""

    __slots__ = ("future", "reply")

    def __init__(self) -> None:
        self.reply: Message | None = None
        self.future: asyncio.Future[Message] | None = None

    def __call__(self, reply: Message) -> None:
        if self.reply is None:
            self.reply = reply
            future = self.future
            if future is not None and not future.done():
                future.set_result(reply)

    async def wait(self, left: float, subject: str, timeout: float) -> Message:
        if self.reply is not None:
            return self.reply
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()
        self.future = future
        # awaited directly, with a timer, rather than through asyncio.wait_for: one loop iteration less per reply
        timer = loop.call_later(max(left, 0.0), _expire, future, subject, timeout)
        try:
            return await future
        finally:
            timer.cancel()


_Suspended = tuple[Coroutine[Any, Any, None], contextvars.Context, Any]


def _first_step(handler: Handler, message: Message, depth: int) -> _Suspended | None:
    """Start ``handler(message)`` in this (the requester's) task, in a context of its own; None when it
    finished without suspending (most answers on this transport: no task, timer or future), else
    what :func:`_go_on_here` needs to go on. Handler errors are dropped as a worker's are (the bus
    logs them and answers)."""
    context = contextvars.copy_context()
    context.run(_nesting.set, depth + 1)
    coro = context.run(handler, message)
    if type(coro) is not types.CoroutineType:
        coro = _as_coroutine(coro)
    try:
        return coro, context, context.run(coro.send, None)
    except StopIteration:
        return None
    except Exception:
        return None


async def _go_on_here(coro: Coroutine[Any, Any, None], context: contextvars.Context, yielded: Any, left: float,
                      message: Message) -> None:
    """Go on with a handler that suspended, in this same (the requester's) task, for at most ``left`` seconds.

    What the handler entered (``asyncio.timeout``, a ``TaskGroup``) belongs to the task it runs
    in, so it stays in this one; when the requester stops waiting (its timeout, its cancellation)
    the handler is cancelled with it.
    """
    deadline = asyncio.timeout(left)
    try:
        async with deadline:
            await _resume(coro, context, yielded)
    except TimeoutError:
        if deadline.expired():
            raise RequestTimeout(f"no reply from {message.subject!r} within the request's timeout") from None
    except Exception:  # dropped: see _first_step
        pass


async def _as_coroutine(awaitable: Awaitable[None]) -> None:
    await awaitable


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], context: contextvars.Context, yielded: Any) -> Generator[Any, Any, None]:
    """Drive ``coro`` on from its first suspension (``yielded``), each step inside ``context``."""
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            context.run(coro.close)
            raise
        except BaseException as exc:  # cancellation included: delivered to the handler
            try:
                yielded = context.run(coro.throw, exc)
            except StopIteration:
                return
        else:
            try:
                yielded = context.run(coro.send, sent)
            except StopIteration:
                return


def _expire(future: asyncio.Future[Message], subject: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(RequestTimeout(f"no reply from {subject!r} within {timeout:.3f}s"))


def _copy(message: Message, reply_to: str | None = None) -> Message:
    return Message(message.subject, message.body, dict(message.headers), reply_to, message.attempt)
