"""In-process transport: one broker per name, shared by every bus in the process.

It keeps the full contract of the transport interface, durability included for
the life of the process: a durable group keeps its queue while no member runs,
``nack`` redelivers after the delay, and sends to an endpoint nobody has bound
yet wait for the first member. It is the test double of the whole framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import replace

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
_ids = itertools.count(1)
MAX_ROUTES = 4096  # subjects whose matching subscription groups are remembered per broker


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
    """One consume() call: workers pulling from a queue of its own, fed round-robin by the group."""

    def __init__(self, group: _Group, handler: Handler, inflight: int) -> None:
        self.group = group
        self.handler = handler
        self.stopped = False
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.idle: set[asyncio.Task[None]] = set()
        self.workers = [asyncio.create_task(self._work()) for _ in range(max(1, inflight))]

    async def _work(self) -> None:
        task = asyncio.current_task()
        if task is None:  # unreachable: workers are created with create_task
            return
        queue = self.queue
        while not self.stopped:
            self.idle.add(task)
            try:
                message = await queue.get()
            finally:
                self.idle.discard(task)
            if self.group.durable and message.reply_to is None:  # requests are never stored: no receipt
                message.receipt = _Receipt(self.group, message)
            with contextlib.suppress(Exception):  # a handler must not kill the worker; the bus logs
                await self.handler(message)

    async def stop(self) -> None:
        self.stopped = True
        for task in list(self.idle):
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        self.group.members.remove(self)
        while not self.queue.empty():  # not yet handled: back to the group
            self.group.put(self.queue.get_nowait())
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
        members = self.members
        if not members:
            if self.durable:
                self.backlog.append(message)
            return
        self.turn = (self.turn + 1) % len(members)
        members[self.turn].queue.put_nowait(message)

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
            groups[0].put(_copy(message))
        else:
            self.parked.setdefault(message.subject, []).append(_copy(message))

    def publish(self, message: Message, durable: bool) -> None:
        if self.taps:
            self.tell("publish", message)
        for group in self.subscription_groups(message.subject):
            if group.members or (durable and group.durable):
                group.put(_copy(message))

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
        group = next((g for g in broker.endpoint_groups(message.subject) if g.members), None)
        if group is None:
            raise NoResponders(f"no instance serves {message.subject!r}")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()
        address = f"_INBOX.{next(_ids)}"

        def deliver(reply: Message) -> None:
            if not future.done():
                future.set_result(reply)

        broker.addresses[address] = deliver
        if broker.taps:
            broker.tell("request", message)
        # awaited directly, with a timer, rather than through asyncio.wait_for: one loop iteration less per reply
        timer = loop.call_later(timeout, _expire, future, message.subject, timeout)
        try:
            group.put(_copy(message, reply_to=address))
            return await future
        finally:
            timer.cancel()
            broker.addresses.pop(address, None)

    async def send(self, message: Message) -> None:
        self.broker.send(message)

    async def publish(self, message: Message, *, durable: bool = True) -> None:
        self.broker.publish(message, durable)

    async def schedule(self, message: Message, due: float, *, publish: bool) -> None:
        """Held by the process's broker on a loop timer (as durable as the memory broker: the process)."""
        asyncio.get_running_loop().call_later(max(0.0, due - time.time()), self.broker.due, _copy(message), publish)

    async def reply(self, address: str, message: Message) -> None:
        if self.broker.taps:
            self.broker.tell("reply", message)
        deliver = self.broker.addresses.get(address)
        if deliver is not None:  # the requester gave up: drop quietly
            deliver(_copy(message))

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
                pending = len(group.backlog) + sum(m.queue.qsize() for m in members)
                busy = sum(len(m.workers) - len(m.idle) for m in members)
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


def _expire(future: asyncio.Future[Message], subject: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(RequestTimeout(f"no reply from {subject!r} within {timeout:.3f}s"))


def _copy(message: Message, reply_to: str | None = None) -> Message:
    return Message(message.subject, message.body, dict(message.headers), reply_to, message.attempt)
