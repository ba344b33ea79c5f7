"""The memory transport against a direct function call doing the same msgspec encode/decode.

The direct call encodes the request, decodes it into the handler's body type,
calls the same echo handler, encodes the reply and decodes it: the codec work
of one interlink request without the bus, the envelope and the transport.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec

from bench._stats import DIRECT
from bench._workload import Payload, Side, Sink

_names = itertools.count(1)


async def echo(body: dict[str, Any]) -> dict[str, Any]:
    return body


class DirectCall(Side):
    name = DIRECT
    tests = frozenset({"req1", "req50"})

    def __init__(self) -> None:
        self._encode = msgspec.json.Encoder().encode
        self._decode_body = msgspec.json.Decoder(dict[str, Any]).decode
        self._decode_reply = msgspec.json.Decoder().decode

    async def start(self, sink: Sink) -> None:
        return None

    async def close(self) -> None:
        return None

    async def request(self, body: Payload) -> Payload:
        reply = await echo(self._decode_body(self._encode(body)))
        result: Payload = self._decode_reply(self._encode(reply))
        return result


def memory_url() -> str:
    return f"memory://bench-{next(_names)}"
