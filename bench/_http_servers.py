"""The processes of the gateway benchmark, one per side: ``python -m bench._http_servers KIND ...``.

    hello              a bare ASGI app answering every request (the ceiling of the server)
    gateway            the interlink gateway: GET /echo/{x} -> request PREFIX.echo over NATS
                       (``--reuse-port``: one of several gateway workers on the port, SO_REUSEPORT)
    fastapi            FastAPI: GET /echo/{x} -> FastStream NatsBroker.request(PREFIX.fs.echo)
    interlink-service  the interlink service answering PREFIX.echo
    faststream-service the FastStream subscriber answering PREFIX.fs.echo

Each HTTP server is one uvicorn worker on httptools with uvicorn's own access log
and ``server`` header off; the bare app runs with the gateway's own server settings
(``interlink.gateway.server_config``), so that it is the ceiling of the same server,
and FastAPI with uvicorn's stock httptools protocol, as a team would run it. The
loop is uvloop unless ``--loop asyncio`` is given. Every echo answers ``{"echo": x}``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_HELLO_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"16")]


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HELLO_HEADERS})
    await send({"type": "http.response.body", "body": b'{"echo":"hello"}'})


def gateway_config(prefix: str) -> Any:
    from interlink.gateway import load_config

    return load_config(data={"name": "bench", "routes": [
        {"name": "echo", "path": "/echo/{x}", "request": f"{prefix}.echo"},
    ]})


def fastapi_app(url: str, prefix: str) -> Any:
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from faststream.nats import NatsBroker

    broker = NatsBroker(url, logger=None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await broker.start()
        yield
        await broker.stop()

    app = FastAPI(lifespan=lifespan)

    @app.get("/echo/{x}")
    async def echo(x: str) -> Any:
        reply = await broker.request({"x": x}, f"{prefix}.fs.echo", timeout=5.0)
        return await reply.decode()

    return app


def _uvicorn(app: Any, port: int, loop: str) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, loop=loop, http="httptools", lifespan="on",
                access_log=False, server_header=False, log_level="warning")


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def interlink_service(url: str, prefix: str) -> None:
    import interlink

    service = interlink.Service("bench-echo")

    @service.endpoint(f"{prefix}.echo", durable=False)
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return {"echo": body["x"]}

    async with interlink.connect(url, name="bench-echo") as bus:
        await bus.serve(service)
        print("ready", flush=True)
        await _until_stopped()


async def faststream_service(url: str, prefix: str) -> None:
    from faststream.nats import NatsBroker

    broker = NatsBroker(url, logger=None)

    @broker.subscriber(f"{prefix}.fs.echo", queue="bench-echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return {"echo": body["x"]}

    await broker.start()
    try:
        print("ready", flush=True)
        await _until_stopped()
    finally:
        await broker.stop()


def _run(coro: Coroutine[Any, Any, None], loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._http_servers")
    parser.add_argument("kind", choices=["hello", "gateway", "fastapi", "interlink-service", "faststream-service"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--prefix", default="bench.http")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--reuse-port", action="store_true", help="hello, gateway: one of several on the port")
    args = parser.parse_args(argv)
    if args.kind == "hello":
        import uvicorn

        from interlink.gateway import server_config

        sockets = None
        if args.reuse_port:  # one of several on the port, as gateway workers are
            from interlink.gateway._workers import listening_socket

            sockets = [listening_socket("127.0.0.1", args.port, reuse_port=True)]
        _run(uvicorn.Server(server_config(hello, "127.0.0.1", args.port)).serve(sockets=sockets), args.loop)
    elif args.kind == "fastapi":
        _uvicorn(fastapi_app(args.nats_url, args.prefix), args.port, args.loop)
    elif args.kind == "gateway":
        from interlink.gateway import serve

        reuse = {"reuse_port": True} if args.reuse_port else {}  # an older interlink (a baseline) has no such option
        _run(serve(gateway_config(args.prefix), args.nats_url, "127.0.0.1", args.port, **reuse), args.loop)
    elif args.kind == "interlink-service":
        _run(interlink_service(args.nats_url, args.prefix), args.loop)
    else:
        _run(faststream_service(args.nats_url, args.prefix), args.loop)


if __name__ == "__main__":
    main()
