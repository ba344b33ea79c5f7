"""The ``interlink`` command: run apps, run the embedded broker, talk to a running system.

    interlink broker                         # embedded nats-server; prints its URL
    interlink run interlink.examples.taxi.app:app --instances driver=3
    interlink --broker URL --json dlq list        # global options go before or after the command
    interlink request passenger.verify '{"passenger_id": "p1"}'
    interlink publish trip.created '{...}'   /  interlink listen 'trip.>'
    interlink dlq list | show ID | replay ID|--all | purge
    interlink demo --rides 20
    interlink dashboard --broker URL          # the live view in the browser
    interlink outbox init --dsn postgresql://127.0.0.1/test
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from interlink.cli import _asyncapi, _dashboard, _demo, _dlq, _new, _observe, _outbox, _run, _services, _tools
from interlink.cli._common import Parser, common_options, number, run


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="interlink", description="Services talking in every interaction style.",
                 parents=[common_options(defaults=True)])
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub_with_common = _WithParents(sub, common_options(defaults=False))
    for module in (_run, _tools, _services, _asyncapi, _dlq, _demo, _new, _dashboard, _outbox):
        module.add(sub_with_common)
    _add_gateway(sub_with_common)
    return top


class _WithParents:
    """Gives every sub-command the common options (--broker, --json, -v)."""

    def __init__(self, sub: argparse._SubParsersAction[Parser],
                 common: Parser) -> None:
        self._sub = sub
        self._common = common

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._sub.add_parser(name, parents=[self._common], **kwargs)
        return parser


def _version() -> str:
    try:
        return metadata.version("interlink")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _add_gateway(sub: _WithParents) -> None:
    p = sub.add_parser("gateway", help="serve the HTTP API gateway for a routes file")
    p.add_argument("config", help="routes file (YAML)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=number(int, 0, 65535), default=8000)
    p.add_argument("--workers", type=number(int, 1, 64), default=1,
                   help="gateway processes sharing the port (SO_REUSEPORT; Linux)")
    p.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set in each worker
    _observe.add_options(p, metrics=False)  # its /metrics serves the bus metrics too
    p.set_defaults(func=_gateway, serving=True)


async def _gateway(args: argparse.Namespace) -> int:
    from interlink.gateway import serve

    if not args.verbose:  # the startup line and one access line per request, as python -m interlink.gateway
        logging.getLogger("interlink.gateway").setLevel(logging.INFO)
    if args.workers > 1:  # each worker is this same command on the same port
        from interlink.gateway._workers import supervise, without_workers

        return await supervise(["-m", "interlink.cli", *without_workers(args.argv)], args.workers, args.host, args.port)
    await serve(args.config, broker_url=args.broker, host=args.host, port=args.port, reuse_port=args.reuse_port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    telemetry = _observe.Telemetry(args)  # log format, OTEL_* tracing, --metrics
    try:
        return run(args.func(args), serving=getattr(args, "serving", False))
    finally:
        telemetry.close()


if __name__ == "__main__":
    sys.exit(main())
