"""A robust aio-pika connection over the several hosts of a RabbitMQ cluster.

aio-pika's robust connection redials one URL forever. This one moves on to the
next host after every failed dial and every lost connection (round the list),
so that when a node dies the connection comes back on a live one, and with it
every channel, queue declaration and consumer aio-pika restores.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.connection import make_url


class FailoverConnection(aio_pika.RobustConnection):
    """``aio_pika.RobustConnection`` on ``urls[first]``, then the next host on each failure."""

    def __init__(self, urls: Sequence[str], first: int = 0, *, tls: ssl.SSLContext | None = None,
                 **kwargs: Any) -> None:
        self._urls = [make_url(url) for url in urls]
        self._at = first % len(self._urls)
        super().__init__(self._urls[self._at], ssl_context=tls, **kwargs)

    @property
    def host(self) -> str:
        """The host:port in use (or being dialled)."""
        return f"{self.url.host}:{self.url.port}"

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        # Called for a failed dial as well as for a lost connection: the next attempt goes to the next host.
        if len(self._urls) > 1 and not self._close_called:
            self._at = (self._at + 1) % len(self._urls)
            self.url = self._urls[self._at]
        await super()._on_connection_close(closing)
