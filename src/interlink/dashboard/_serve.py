"""Serving the dashboard on its own: ``interlink dashboard [--broker URL] [--host H --port P]``.

On a loopback address (the default, 127.0.0.1:8700) no token is asked for. Bound to
any other address it needs one: ``--token`` or ``INTERLINK_DASHBOARD_TOKEN``, else
a random one, printed in the address to open. The broker may be down at start:
the page says so and the dashboard keeps trying.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket

from interlink.dashboard._app import dashboard_app
from interlink.dashboard._board import TAP_BUDGET, Board
from interlink.dashboard._guard import Guard, is_loopback

log = logging.getLogger("interlink.dashboard")

DEFAULT_PORT = 8700


def resolve_token(host: str, token: str | None) -> str | None:
    """The token the dashboard asks for: none on loopback unless given, else the given or a new one."""
    token = token or os.environ.get("INTERLINK_DASHBOARD_TOKEN") or None
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    return token


async def serve(broker_url: str | None, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                token: str | None = None, interval: float = 1.0, tap_budget: float = TAP_BUDGET) -> None:
    """Run the dashboard until SIGINT/SIGTERM."""
    import uvicorn

    token = resolve_token(host, token)
    board = await Board(broker_url, interval=interval, tap_budget=tap_budget).start()
    app = Guard(dashboard_app(board), token=token, loopback=is_loopback(host))
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        await board.close()
        raise OSError(f"cannot serve the dashboard on {host}:{port}: {exc.strerror or exc}") from None
    where = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}/"
    print(f"interlink dashboard on {where}" + (f"?token={token}" if token else ""), flush=True)
    config = uvicorn.Config(app, log_config=None, access_log=False, server_header=False, lifespan="off",
                            timeout_graceful_shutdown=1)
    try:
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        await board.close()
