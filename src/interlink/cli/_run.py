"""``interlink run MODULE:APP`` and ``interlink broker``.

``interlink run`` also serves the App's gateway over HTTP when the App has one:
on ``--http HOST:PORT`` (default 127.0.0.1:8000), or not at all with ``--http off``.
With ``--only`` (a process running some of the services) it serves the gateway
only when ``--http`` is given, so that several such processes do not all claim one port.
``--health HOST:PORT`` serves readiness and liveness probes (see cli/_health.py); SIGTERM drains.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import interlink
from interlink._app import App
from interlink._embedded import NatsServer
from interlink.cli import _observe
from interlink.cli._common import OK, USAGE, Commands, broker_url, console, errors, number
from interlink.cli._health import Health

if TYPE_CHECKING:  # the gateway extra may not be installed
    from interlink.gateway import HttpServer


def add(sub: Commands) -> None:
    p = sub.add_parser("run", help="run the services of an App (MODULE:APP)")
    p.add_argument("target", help="e.g. interlink.examples.taxi.app:app")
    p.add_argument("--only", default="", help="comma-separated service names to run (default: all)")
    p.add_argument("--instances", action="append", default=[], metavar="SERVICE=N",
                   help="instances of a service (repeatable); default 1 each")
    p.add_argument("--grace", type=number(float, 0), default=10.0,
                   help="seconds in-flight handlers get to finish after SIGTERM (drain)")
    p.add_argument("--health", default=None, metavar="HOST:PORT",
                   help="serve /readyz (200 once serving, 503 while starting, draining or the broker is "
                        "unreachable) and /healthz (liveness) on HOST:PORT")
    p.add_argument("--http", default=None, metavar="HOST:PORT",
                   help=f"where to serve the App's gateway (default {DEFAULT_HTTP}; 'off': not at all)")
    _observe.add_options(p)
    p.set_defaults(func=run, serving=True)
    p = sub.add_parser("broker", help="run the embedded NATS broker (JetStream) in the foreground")
    p.add_argument("--port", type=number(int, 0, 65535), default=0, help="port (default: a free one)")
    p.add_argument("--store-dir", default=None, help="JetStream data directory (default: a temporary one)")
    p.set_defaults(func=broker)


DEFAULT_HTTP = "127.0.0.1:8000"


def parse_address(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        more = " (or 'off')" if option == "--http" else ""
        raise SystemExit(_usage(f"{option} takes HOST:PORT{more}, got {value!r}"))
    return host.strip("[]"), int(port)


def http_address(app: App, given: str | None, only: list[str] | None) -> tuple[str, int] | None:
    """Where to serve the App's gateway, or None: not asked for, or no gateway."""
    if given == "off" or (given is None and only):
        return None
    if app.gateway is None:
        if given is not None:
            raise SystemExit(_usage(f"--http: the app {app.name!r} has no gateway"))
        return None
    return parse_address(given or DEFAULT_HTTP, "--http")


def load_app(target: str) -> App:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SystemExit(_usage(f"expected MODULE:APP, got {target!r}"))
    if str(Path.cwd()) not in sys.path:  # like uvicorn: apps are found from the working directory
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(_usage(f"cannot import {module_name!r}: {exc}")) from None
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise SystemExit(_usage(f"{target!r} is not an interlink.App"))
    return app


def _usage(message: str) -> int:
    errors.print(f"[bold red]error:[/] {message}")
    return USAGE


def parse_instances(items: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        name, _, number = item.partition("=")
        if not number.isdigit() or int(number) < 1:
            raise SystemExit(_usage(f"--instances takes SERVICE=N with N >= 1, got {item!r}"))
        counts[name] = int(number)
    return counts


async def run(args: argparse.Namespace) -> int:
    """Serve the App until SIGTERM/SIGINT, then drain: readiness goes 503, no new messages are taken,
    handlers in flight get ``--grace`` seconds to finish, messages nobody started go back to the broker."""
    app = load_app(args.target)
    only = [n for n in args.only.split(",") if n] or None
    counts = parse_instances(args.instances)
    http = http_address(app, args.http, only)
    health = Health()
    if args.health:
        await _listen(health, parse_address(args.health, "--health"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with interlink.connect(broker_url(args.broker, embedded_ok=True), name=app.name) as bus:
            async with app.running(bus, only=only, instances=counts, grace=args.grace) as running:
                server = await _serve_gateway(app, bus, http) if http else None
                await health.serving(bus, len(running))
                _announce(args, app, running, f"http://{http[0]}:{http[1]}" if http else None)
                await stop.wait()
                health.draining()
                if not args.json:
                    console.print(f"[dim]draining: in-flight handlers get {args.grace:.0f}s[/]")
                if server is not None:
                    await server.stop()
            await bus.close(grace=args.grace)
    finally:
        await health.close()
    return OK


async def _listen(health: Health, address: tuple[str, int]) -> None:
    try:
        await health.listen(*address)
    except OSError as exc:
        raise SystemExit(_usage(f"--health {address[0]}:{address[1]}: {exc.strerror or exc}")) from None


def _announce(args: argparse.Namespace, app: App, running: list[interlink.Instance], url: str | None) -> None:
    if args.json:
        from interlink.cli._common import print_json

        print_json({"app": app.name, "instances": [i.id for i in running], "http": url, "health": args.health})
        return
    console.print(f"[bold green]{app.name}[/] running {len(running)} instance(s): " + ", ".join(i.id for i in running))
    if url:
        console.print(f"gateway on [bold]{url}[/]")
    if args.health:
        console.print(f"health on [bold]http://{args.health}/readyz[/]")


async def _serve_gateway(app: App, bus: interlink.Bus, address: tuple[str, int]) -> HttpServer:
    """The App's gateway on the services' bus, serving HTTP on ``address``."""
    try:
        from interlink.gateway import Gateway, HttpServer
    except ImportError as exc:  # the gateway extra is not installed
        raise SystemExit(_usage(f"serving the gateway needs interlink[gateway] ({exc}); or pass --http off")) from None
    gateway = await Gateway(app.gateway, bus, services=app.services).start()
    try:
        return await HttpServer.start(gateway, *address)
    except OSError as exc:
        raise SystemExit(_usage(str(exc))) from None


async def broker(args: argparse.Namespace) -> int:
    server = NatsServer(port=args.port or None, store_dir=args.store_dir)
    await asyncio.to_thread(server.start)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.json:
        from interlink.cli._common import print_json

        print_json({"url": server.url, "store_dir": server.store_dir, "pid": os.getpid()})
    else:
        console.print(f"embedded broker (nats-server, JetStream) at [bold]{server.url}[/]")
        console.print(f"[dim]export INTERLINK_BROKER={server.url}   # data in {server.store_dir}[/]")
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(server.cleanup)
    return OK
