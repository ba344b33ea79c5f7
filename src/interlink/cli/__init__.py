"""The ``interlink`` command: run apps, run the embedded broker, talk to a running system.

    interlink broker                         # embedded nats-server; prints its URL
    interlink run examples.taxi.app:app --instances driver=3
    interlink request passenger.verify '{"passenger_id": "p1"}'
    interlink publish trip.created '{...}'   /  interlink listen 'trip.>'
    interlink dlq list | show ID | replay ID|--all | purge
    interlink demo --rides 20
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from interlink.cli import _demo, _dlq, _run, _tools
from interlink.cli._common import run


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--broker", default=None, help="broker URL (default: $INTERLINK_BROKER)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("-v", "--verbose", action="store_true", help="log interlink's debug output")
    top = argparse.ArgumentParser(prog="interlink", description="Services talking in every interaction style.",
                                  parents=[common])
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub_with_common = _WithParents(sub, common)
    for module in (_run, _tools, _dlq, _demo):
        module.add(sub_with_common)
    _add_gateway(sub_with_common)
    return top


class _WithParents:
    """Gives every sub-command the common options (--broker, --json, -v)."""

    def __init__(self, sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser) -> None:
        self._sub = sub
        self._common = common

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return self._sub.add_parser(name, parents=[self._common], **kwargs)


def _add_gateway(sub: _WithParents) -> None:
    p = sub.add_parser("gateway", help="serve the HTTP API gateway for a routes file")
    p.add_argument("config", help="routes file (YAML)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=_gateway, serving=True)


async def _gateway(args: argparse.Namespace) -> int:
    from interlink.gateway import serve

    if not args.verbose:  # the startup line and one access line per request, as python -m interlink.gateway
        logging.getLogger("interlink.gateway").setLevel(logging.INFO)
    await serve(args.config, broker_url=args.broker, host=args.host, port=args.port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args.func(args), serving=getattr(args, "serving", False))


if __name__ == "__main__":
    sys.exit(main())
