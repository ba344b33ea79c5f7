"""Browsing and removing dead letters of the ``amqp://`` transport.

They live in one durable classic queue. Browsing takes each message with
``basic.get`` without acking and then puts them all back with one
``basic.nack(multiple, requeue)``: classic queues requeue in place, so the
order survives, and if the browsing process dies the broker requeues them
itself, so nothing is lost. While one browse holds them, another browse of the
same queue sees fewer.
"""

from __future__ import annotations

from typing import Any

import aiormq
from pamqp.commands import Basic

from interlink.transports.base import Message
from interlink.transports.rabbitmq._consumer import to_message


async def browse(channel: aiormq.abc.AbstractChannel, queue: str, arguments: dict[str, Any],
                 limit: int) -> list[Message]:
    """Up to ``limit`` dead letters, oldest first; the queue keeps them all."""
    await channel.queue_declare(queue, durable=True, arguments=arguments)
    found: list[Message] = []
    last = 0
    while len(found) < limit:
        got = await channel.basic_get(queue, no_ack=False)
        if not isinstance(got.delivery, Basic.GetOk):
            break
        last = got.delivery.delivery_tag or last
        found.append(to_message(got, None, None))
    if last:
        await channel.basic_nack(last, multiple=True, requeue=True)
    return found


async def remove(channel: aiormq.abc.AbstractChannel, queue: str, arguments: dict[str, Any],
                 message_ids: set[str] | None) -> int:
    """Remove the dead letters whose ``il-id`` is in ``message_ids`` (all when None); returns how many."""
    ok = await channel.queue_declare(queue, durable=True, arguments=arguments)
    if message_ids is None:
        purged = await channel.queue_purge(queue)
        return int(purged.message_count or 0)
    removed = 0
    keep = 0
    for _ in range((ok.message_count or 0) + 1):  # the ones there now; later arrivals wait for the next call
        got = await channel.basic_get(queue, no_ack=False)
        if not isinstance(got.delivery, Basic.GetOk):
            break
        tag = got.delivery.delivery_tag or 0
        headers = got.header.properties.headers or {}
        if headers.get("il-id") in message_ids:
            await channel.basic_ack(tag)
            removed += 1
        else:
            keep = tag
    if keep:  # the highest unacked tag: every other one kept goes back with it
        await channel.basic_nack(keep, multiple=True, requeue=True)
    return removed
