"""uvicorn's httptools protocol, with the head and the body of a response leaving in one send.

uvicorn writes a response's head as soon as the app starts the response, and the
body when it comes: two system calls (and two wake-ups of the client) for every
small JSON answer, which made up a visible share of the gateway's time per request.
Here a head waits for the next write, and goes out with it; a head that no
write follows in the same step of the event loop (a stream's, an empty answer's)
goes out at the end of that step. Bytes always leave in the order they were written.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _Corked:
    """A transport whose writes ending a head (``\\r\\n\\r\\n``) wait for the next write or the end of the step."""

    __slots__ = ("_handle", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._handle: asyncio.Handle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if self._handle is not None:
                self._handle.cancel()
            self._transport.writelines((held, data))  # one send (writev), no copy of a large body
        elif bytes(data[-4:]) == b"\r\n\r\n":
            self._held = bytes(data)
            self._handle = self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held, self._held, self._handle = self._held, None, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """What ``server_config`` gives uvicorn as its ``http`` protocol."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, _Corked(transport, self.loop)))
