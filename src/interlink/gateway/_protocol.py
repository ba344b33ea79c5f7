"""uvicorn's httptools protocol, with a response's head and body leaving in one write.

uvicorn writes a response's head as soon as the app starts the response, and the
body when it comes: two system calls (and two wake-ups of the client) for every
small JSON answer, a visible share of the gateway's time per request. Here a head
that declares a body of known length waits for that body and leaves with it; a
streamed (chunked) or empty answer's head leaves at once, as before, so a stream's
client sees its headers without waiting for the first event.

The head is checked and framed as uvicorn does (invalid header names or values are
refused, ``Content-Length`` is held to, HEAD and 204/304 carry no body), with one
search of the names and one of the values per response rather than two per header.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http import httptools_impl as uv
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

_SMALL = 16 * 1024  # below this, head and body are joined into one buffer; above, written as a vector


class _Cycle(RequestResponseCycle):
    """One request and its response; see the module docstring for what differs from uvicorn's."""

    head: bytes | None = None  # a head waiting for its body

    async def send(self, message: Any) -> None:
        kind = message["type"]
        if self.response_started or self.disconnected or self.flow.write_paused or kind != "http.response.start":
            if kind == "http.response.body" and self.head is not None and not self.disconnected:
                self._body(message)
                return
            await super().send(message)
            return
        self.response_started = True
        self.waiting_for_100_continue = False
        status = message["status"]
        headers = message.get("headers", ())
        if self.default_headers:
            headers = [*self.default_headers, *headers]
        content = [uv.STATUS_LINE[status]]
        close = False
        for name, value in headers:
            name = name.lower()
            if name == b"content-length" and self.chunked_encoding is None:
                self.expected_content_length = int(value.decode())
                self.chunked_encoding = False
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self.expected_content_length = 0
                self.chunked_encoding = True
            elif name == b"connection" and b"close" in [t.lower().strip() for t in value.split(b",")]:
                self.keep_alive = False
                close = True
            content += (name, b": ", value, b"\r\n")
        if uv.HEADER_RE.search(b"".join(name for name, _ in headers)):
            raise RuntimeError("Invalid HTTP header name.")
        if uv.HEADER_VALUE_RE.search(b"".join(value for _, value in headers)):
            raise RuntimeError("Invalid HTTP header value.")
        if not self.keep_alive and not close:
            content.append(b"connection: close\r\n")
        head_only = self.scope["method"] == "HEAD" or status in (204, 304)
        if self.chunked_encoding is None and not head_only:
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        if self.chunked_encoding or head_only or self.expected_content_length == 0:
            self.transport.write(b"".join(content))
        else:  # a body of known length follows: it takes the head along
            self.head = b"".join(content)

    def _body(self, message: Any) -> None:
        """The body after a held head: both in one write; the rest as uvicorn does."""
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > self.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        self.expected_content_length -= len(body)
        head, self.head = self.head, None
        assert head is not None
        if len(body) < _SMALL:
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))
        if not more:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()


class HttpProtocol(HttpToolsProtocol):
    """What ``server_config`` gives uvicorn as its ``http`` protocol.

    The keep-alive timeout is kept with one timer per idle spell of a connection
    rather than one armed after every response and cancelled by the next request:
    when it fires on a connection that was busy in between, it waits again for
    the rest of the timeout from the end of the last response.
    """

    _idle_since: float | None = None  # when the last response ended, while no request is in progress

    def _unset_keepalive_if_required(self) -> None:  # data came in (or the connection ends): not idle
        self._idle_since = None

    def on_response_complete(self) -> None:  # uvicorn's, but for the timer
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self._arm(self.timeout_keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def _arm(self, delay: float) -> None:
        self.timeout_keep_alive_task = self.loop.call_later(delay, self.timeout_keep_alive_handler)

    def timeout_keep_alive_handler(self) -> None:
        self.timeout_keep_alive_task = None
        idle = self._idle_since
        if idle is None:  # busy now: the next response arms it again
            return
        left = idle + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self._arm(left)
        elif not self.transport.is_closing():
            self.transport.close()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        cycle.__class__ = _Cycle  # uvicorn builds the cycle; its task has not run yet, so it runs as ours
        super()._start_asgi_task(cycle, app)
