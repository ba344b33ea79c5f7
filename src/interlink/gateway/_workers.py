"""Several gateway processes on one port: ``interlink gateway CONFIG --workers N``.

Each worker is a whole gateway (its own bus connection, reply cache and stream
subscriptions, as several gateway instances of one name are) listening on its own
socket with ``SO_REUSEPORT``: the kernel spreads new connections evenly over the
workers' sockets. A single listening socket shared by the processes (uvicorn's and
gunicorn's workers) lets whichever process wakes first accept, which under load
gives some workers most of the connections. Linux (and the BSDs) only.

The supervisor starts the workers, forwards SIGINT/SIGTERM to them (each drains as
one gateway does), and stops the others when one ends by itself: its exit status
is the supervisor's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence

log = logging.getLogger("interlink.gateway")
#: Set in each worker's environment: "I/N".
WORKER_ENV = "INTERLINK_GATEWAY_WORKER"


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port``; OSError with a readable message when it cannot be had."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, reuse_port=reuse_port)
    except (OSError, ValueError) as exc:  # ValueError: no SO_REUSEPORT on this platform
        raise OSError(f"cannot serve HTTP on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None


def _reserve(host: str, port: int) -> socket.socket:
    """A bound, not listening, SO_REUSEPORT socket: the port (chosen when 0) checked free and kept for the workers."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except (OSError, AttributeError) as exc:
        sock.close()
        raise OSError(f"cannot serve HTTP on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
    return sock


def without_workers(argv: Sequence[str]) -> list[str]:
    """``argv`` without its ``--workers N`` (or ``--workers=N``) and ``--port P``: the supervisor sets those."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--workers", "--port"):
            skip = True
        elif not arg.startswith(("--workers=", "--port=")):
            out.append(arg)
    return out


async def supervise(command: Sequence[str], workers: int, host: str, port: int) -> int:
    """Run ``workers`` copies of ``python COMMAND --port P --reuse-port`` until a signal or until one ends."""
    holder = _reserve(host, port)
    port = holder.getsockname()[1]
    processes = []
    try:
        for number in range(1, workers + 1):
            env = {**os.environ, WORKER_ENV: f"{number}/{workers}"}
            processes.append(await asyncio.create_subprocess_exec(
                sys.executable, *command, "--port", str(port), "--reuse-port", env=env))
        log.info("gateway: %d workers on http://%s:%d (pids %s)", workers, host, port,
                 ", ".join(str(p.pid) for p in processes))
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        ended = [asyncio.ensure_future(p.wait()) for p in processes]
        stop = asyncio.ensure_future(stopping.wait())
        done, _ = await asyncio.wait([stop, *ended], return_when=asyncio.FIRST_COMPLETED)
        first = next((processes[i] for i, task in enumerate(ended) if task in done), None)
        stop.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if first is not None:
            log.warning("gateway: worker %d (pid %d) ended with %s; stopping the others",
                        processes.index(first) + 1, first.pid, first.returncode)
        _terminate(processes)
        await asyncio.gather(*ended)
        if first is None:
            return 0
        return first.returncode if first.returncode and first.returncode > 0 else 1
    finally:
        _terminate(processes)
        holder.close()


def _terminate(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
