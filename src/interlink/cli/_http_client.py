"""A minimal HTTP/1.1 client on asyncio streams, for the demo's rides through the gateway.

The demo runs from an installed wheel, where no HTTP client library is a dependency:
this speaks just enough HTTP to a loopback gateway (one request per connection,
``Content-Length`` or chunked bodies, a server-sent-events stream read line by line).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """Requests to ``http://host:port``, each on a connection of its own."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    async def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                      json_body: Any = None, params: dict[str, str] | None = None) -> Response:
        async with self._open(method, path, headers, json_body, params) as (status, head, reader):
            body = await asyncio.wait_for(_read_body(head, reader), self.timeout)
        return Response(status, head, body)

    @contextlib.asynccontextmanager
    async def lines(self, path: str, *, headers: dict[str, str] | None = None,
                    ) -> AsyncIterator[tuple[int, AsyncIterator[str]]]:
        """A streamed GET: its status and an iterator over the lines of its body."""
        async with self._open("GET", path, headers, None, None) as (status, head, reader):
            yield status, _lines(head, reader)

    @contextlib.asynccontextmanager
    async def _open(self, method: str, path: str, headers: dict[str, str] | None, json_body: Any,
                    params: dict[str, str] | None) -> AsyncIterator[tuple[int, dict[str, str], asyncio.StreamReader]]:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
        try:
            body = b"" if json_body is None else json.dumps(json_body).encode()
            target = f"{path}?{urlencode(params)}" if params else path
            head = {"host": f"{self.host}:{self.port}", "connection": "close", "content-length": str(len(body)),
                    **({"content-type": "application/json"} if json_body is not None else {}), **(headers or {})}
            writer.write(f"{method} {target} HTTP/1.1\r\n".encode()
                         + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode() + b"\r\n" + body)
            await writer.drain()
            status, response_head = await asyncio.wait_for(_read_head(reader), self.timeout)
            yield status, response_head, reader
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = (await reader.readline()).decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectionError(f"not an HTTP response: {status_line!r}")
    head: dict[str, str] = {}
    while (line := (await reader.readline()).decode("latin-1").strip()):
        name, _, value = line.partition(":")
        head[name.strip().lower()] = value.strip()
    return int(parts[1]), head


async def _chunks(head: dict[str, str], reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    if head.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readline()).split(b";")[0].strip() or b"0", 16):
            yield await reader.readexactly(size)
            await reader.readexactly(2)  # the CRLF after each chunk
    elif "content-length" in head:
        yield await reader.readexactly(int(head["content-length"]))
    else:
        yield await reader.read()


async def _read_body(head: dict[str, str], reader: asyncio.StreamReader) -> bytes:
    return b"".join([chunk async for chunk in _chunks(head, reader)])


async def _lines(head: dict[str, str], reader: asyncio.StreamReader) -> AsyncIterator[str]:
    pending = b""
    async for chunk in _chunks(head, reader):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode().rstrip("\r")
    if pending:
        yield pending.decode()
