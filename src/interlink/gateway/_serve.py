"""Serving the gateway over HTTP: uvicorn on httptools, on uvloop when installed.

    await serve("gateway.yaml", "nats://127.0.0.1:4222", port=8000)   # until SIGINT/SIGTERM
    python -m interlink.gateway CONFIG --broker URL                  # the same, from a shell

    python -m interlink.gateway CONFIG --broker URL --workers 2      # two processes on one port (_workers)

    server = await HttpServer.start(gateway, "127.0.0.1", 8000)      # beside other work in one process
    ...
    await server.stop()

``serve`` and ``python -m interlink.gateway`` let uvicorn handle the signals;
:class:`HttpServer` leaves them to its caller (``interlink run`` stops services and
gateway together).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp

from interlink import _loop
from interlink._service import Service
from interlink.gateway._app import Gateway
from interlink.gateway._config import ConfigError, GatewayConfig, load_config
from interlink.gateway._workers import WORKER_ENV, listening_socket, supervise, without_workers

log = logging.getLogger("interlink.gateway")


def server_config(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> Any:
    """The uvicorn settings the gateway runs with (httptools, websockets; no access log of uvicorn's)."""
    import uvicorn

    from interlink.gateway._protocol import HttpProtocol

    settings: dict[str, Any] = dict(host=host, port=port, http=HttpProtocol, ws="websockets-sansio", lifespan="off",
                                    log_config=None, access_log=False, server_header=False,
                                    timeout_keep_alive=5, timeout_graceful_shutdown=5, ws_max_size=64 * 1024)
    settings.update(options)
    return uvicorn.Config(app, **settings)


async def serve(config: GatewayConfig | str | Path, broker_url: str | None = None, host: str = "127.0.0.1",
                port: int = 8000, *, services: Iterable[Service] = (), reuse_port: bool = False) -> None:
    """Run the gateway until SIGINT/SIGTERM: connect to the broker, serve HTTP on ``host:port``.

    ``reuse_port``: listen with ``SO_REUSEPORT``, beside other gateway processes on the same port.
    """
    import interlink

    config = config if isinstance(config, GatewayConfig) else load_config(config)
    sock = listening_socket(host, port, reuse_port=reuse_port)
    async with interlink.connect(broker_url, name=f"gateway-{config.name}") as bus:
        gateway = await Gateway(config, bus, services=services).start()
        import uvicorn

        server = uvicorn.Server(server_config(gateway, host, port))
        worker = os.environ.get(WORKER_ENV)
        log.info("gateway %s on http://%s:%d (%d routes)%s", config.name, host, sock.getsockname()[1],
                 len(config.routes), f", worker {worker}, pid {os.getpid()}" if reuse_port and worker else "")
        try:
            await server.serve(sockets=[sock])
        finally:
            sock.close()
            await gateway.close()


class HttpServer:
    """A started gateway's HTTP server, running as a task of the current loop."""

    def __init__(self, server: Any, task: asyncio.Task[None]) -> None:
        self._server = server
        self._task = task

    @classmethod
    async def start(cls, gateway: Gateway, host: str, port: int, **options: Any) -> HttpServer:
        """Serve ``gateway`` on ``host:port``; returns once it listens. OSError when it cannot."""
        import uvicorn

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:  # the caller owns the signals
                yield

        sock = listening_socket(host, port)  # bound here, not by uvicorn, which exits the process when it cannot bind
        server = _Server(server_config(gateway, host, port, **options))
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                sock.close()
                task.result()  # raises what stopped it
                raise OSError(f"the HTTP server on {host}:{port} stopped as it started")
            await asyncio.sleep(0.01)
        log.info("gateway %s on http://%s:%d", gateway.config.name, host, port)
        return cls(server, task)

    async def stop(self) -> None:
        """Stop taking connections; requests in progress get uvicorn's graceful shutdown time."""
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=1, help="gateway processes on the port (SO_REUSEPORT)")
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set in each worker


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m interlink.gateway CONFIG [--broker URL] [--host H] [--port P] [--workers N]``, on uvloop."""
    parser = argparse.ArgumentParser(prog="interlink-gateway", description="Serve the interlink API gateway.")
    parser.add_argument("config", help="routes file (YAML)")
    parser.add_argument("--broker", default=None, help="broker URL (default: $INTERLINK_BROKER)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    add_worker_options(parser)
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    if args.workers > 1:
        command = ["-m", "interlink.gateway", *without_workers(sys.argv[1:] if argv is None else argv)]
        return _loop.run(supervise(command, args.workers, args.host, args.port))
    _loop.run(serve(config, args.broker, args.host, args.port, reuse_port=args.reuse_port))
    return 0
