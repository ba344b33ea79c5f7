"""``interlink dashboard``: the live view of a running system in the browser."""

from __future__ import annotations

import argparse
import logging

from interlink.cli._common import OK, USAGE, Commands, broker_url, errors


def add(sub: Commands) -> None:
    p = sub.add_parser("dashboard", help="serve the live dashboard of a running system in the browser")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; any other needs a token, printed at start)")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--token", default=None,
                   help="the token browsers must give (default: $INTERLINK_DASHBOARD_TOKEN; "
                        "a random one when bound beyond loopback)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples (default 1)")
    p.add_argument("--tap-budget", type=float, default=300.0, metavar="MSGS_PER_S",
                   help="above this many messages a second the tap listens one second in N (default 300; 0: always)")
    p.set_defaults(func=dashboard, serving=True)


async def dashboard(args: argparse.Namespace) -> int:
    try:
        from interlink.dashboard import serve
    except ImportError as exc:
        errors.print(f"[bold red]error:[/] the dashboard needs pip install 'interlink[dashboard]' ({exc})")
        return USAGE
    if not 0 <= args.port < 65536 or not 0.2 <= args.interval <= 60 or args.tap_budget < 0:
        errors.print("[bold red]error:[/] --port 0-65535, --interval 0.2-60 seconds, --tap-budget 0 or more")
        return USAGE
    if not args.verbose:
        logging.getLogger("interlink.dashboard").setLevel(logging.INFO)
    url = broker_url(args.broker, embedded_ok=False)
    try:
        await serve(url, args.host, args.port, token=args.token, interval=args.interval, tap_budget=args.tap_budget)
    except OSError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        return USAGE
    return OK
