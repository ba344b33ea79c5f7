"""What waits for the stored queues a RabbitMQ connection consumes, for ``Transport.backlog()``.

AMQP tells a queue's ready count to whoever names it in a passive declare; listing every
queue of the broker needs the management plugin, so a connection reports the queues it
consumes itself. In flight is this process's own deliveries not yet settled.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiormq
import aiormq.abc

from interlink.transports.base import Backlog
from interlink.transports.rabbitmq._consumer import Consumer

Scratch = Callable[[], AbstractAsyncContextManager[aiormq.abc.AbstractChannel]]


async def queue_backlog(consumers: list[Consumer], scratch: Scratch) -> list[Backlog]:
    """One row per stored queue of ``consumers``; ``scratch`` opens a channel a missing queue may close."""
    rows: list[Backlog] = []
    seen: set[str] = set()
    for consumer in consumers:
        binding = consumer.binding
        for plan in consumer.plans:
            if not plan.stored or plan.name in seen:
                continue
            seen.add(plan.name)
            try:
                async with scratch() as channel:
                    declared = await channel.queue_declare(plan.name, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:  # deleted meanwhile
                continue
            rows.append(Backlog(binding.name or binding.group or "", binding.kind, binding.pattern,
                                declared.message_count or 0, consumer.busy))
    return rows
