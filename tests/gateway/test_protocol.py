"""The gateway's HTTP protocol: one write per small answer, keep-alive held to its timeout."""

from __future__ import annotations

import asyncio

from tests.gateway.conftest import running

CONFIG = {"name": "gateway", "routes": [{"name": "echo", "path": "/echo/{x}", "request": "nowhere.echo"}]}
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    return head + await reader.readexactly(length)


async def test_an_idle_connection_closes_after_the_keep_alive_timeout_a_busy_one_stays(memory_url: str) -> None:
    async with running(CONFIG, memory_url, timeout_keep_alive=1) as gw:
        host, port = gw.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        for _ in range(4):  # busy for 1.6 s in all, never idle for 1 s: stays open
            writer.write(REQUEST)
            answer = await _answer(reader)
            assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"status":"ok"}')
            assert b"x-request-id: " in answer
            await asyncio.sleep(0.4)
        assert await asyncio.wait_for(reader.read(), 3) == b""  # then idle: closed by the server
        writer.close()
