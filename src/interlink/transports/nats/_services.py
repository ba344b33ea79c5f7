"""The NATS services API (ADR-32) for interlink instances: ``$SRV.PING|INFO|STATS``.

Each served instance answers, with one reply per instance, on

    $SRV.<VERB>                 every service
    $SRV.<VERB>.<name>          every instance of service <name>
    $SRV.<VERB>.<name>.<id>     one instance

with the ``io.nats.micro.v1.{ping,info,stats}_response`` documents: name,
id, version, metadata, and for INFO and STATS the service's endpoints (name =
the handler's function name, subject, queue group = the service; metadata says
the interlink handler). Subscriptions (publish/subscribe) are not ADR-32
endpoints and are not listed here; ``bus.services()`` shows them. One
wildcard subscription (``$SRV.>``) per connection serves every instance of
the bus, so ``nats micro ls``, nats.js's ``nc.services.client()`` and nats-py's
``nats.micro`` see interlink services as NATS services.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from interlink._registry import HandlerInfo, InstanceInfo

TYPES = {
    "PING": "io.nats.micro.v1.ping_response",
    "INFO": "io.nats.micro.v1.info_response",
    "STATS": "io.nats.micro.v1.stats_response",
}
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")

Snapshot = Callable[[], Sequence["InstanceInfo"]]


async def serve_services_api(client: Client, snapshot: Snapshot) -> Subscription:
    """Answer ADR-32 requests for the instances ``snapshot()`` returns (read at each request)."""

    async def answer(msg: Msg) -> None:
        tokens = msg.subject.split(".")
        if len(tokens) > 4 or tokens[1] not in TYPES or not msg.reply:
            return
        name = tokens[2] if len(tokens) > 2 else None
        instance = tokens[3] if len(tokens) > 3 else None
        for info in snapshot():
            if (name is None or info.service == name) and (instance is None or info.id == instance):
                await client.publish(msg.reply, json.dumps(document(tokens[1], info)).encode())

    return await client.subscribe("$SRV.>", cb=answer)


def document(verb: str, info: InstanceInfo) -> dict[str, Any]:
    """The ADR-32 response of one instance to PING, INFO or STATS."""
    doc: dict[str, Any] = {
        "type": TYPES[verb], "name": info.service, "id": info.id, "version": info.version,
        "metadata": {"interlink.transport": info.transport, "interlink.host": info.host,
                     "interlink.pid": str(info.pid)},
    }
    if verb == "INFO":
        doc["description"] = f"interlink service {info.service}"
        doc["endpoints"] = [_endpoint(e) for e in info.endpoints]
    elif verb == "STATS":
        started = datetime.datetime.fromtimestamp(info.started, datetime.UTC)
        doc["started"] = started.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        doc["endpoints"] = [{**_identity(e), "num_requests": e.num_requests, "num_errors": e.num_errors,
                             "last_error": e.last_error, "processing_time": e.processing_time,
                             "average_processing_time": e.average_processing_time,
                             "data": {"in_flight": e.in_flight, "outcomes": e.outcomes}}
                            for e in info.endpoints]
    return doc


def _identity(e: HandlerInfo) -> dict[str, Any]:
    name = _NOT_NAME.sub("_", e.handler.rpartition(".")[2]) or _NOT_NAME.sub("_", e.subject)
    return {"name": name, "subject": e.subject, "queue_group": e.queue_group or ""}


def _endpoint(e: HandlerInfo) -> dict[str, Any]:
    return {**_identity(e), "metadata": {"interlink.handler": e.handler, "interlink.kind": e.kind}}
