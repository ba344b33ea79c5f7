"""What every command shares: the console, exit codes, the broker URL, error reporting."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, Protocol

from rich.console import Console
from rich.markup import escape

from interlink import _loop
from interlink._errors import (
    BrokerError,
    InterlinkError,
    NoResponders,
    RemoteError,
    RequestTimeout,
    SubjectError,
    ValidationError,
)

_log = logging.getLogger("interlink.cli")
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

# Exit codes: scripts can tell these apart.
OK, FAILED, USAGE, NO_RESPONDERS, TIMEOUT, BROKER, INVALID = 0, 1, 2, 3, 4, 5, 6
_CODES: list[tuple[type[BaseException], int]] = [
    (NoResponders, NO_RESPONDERS),
    (RequestTimeout, TIMEOUT),
    (BrokerError, BROKER),
    (SubjectError, USAGE),
    (ValidationError, INVALID),  # before RemoteError: a refused body is both
    (RemoteError, FAILED),
    (InterlinkError, FAILED),
]


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def number(kind: type[int] | type[float], minimum: float, maximum: float = math.inf) -> Callable[[str], Any]:
    """An argparse ``type=``: a number within [minimum, maximum], else a one-line usage error."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not minimum <= value <= maximum:  # also refuses nan
            bound = f"between {minimum:g} and {maximum:g}" if maximum < math.inf else f">= {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def common_options(*, defaults: bool) -> Parser:
    """The options every command takes, before or after the sub-command name.

    The top-level parser sets the defaults; sub-commands (``defaults=False``) only
    set what is given on their part of the line, so ``interlink --broker URL request``
    and ``interlink request --broker URL`` mean the same.
    """
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    common = Parser(add_help=False)
    common.add_argument("--broker", default=default(None), help="broker URL (default: $INTERLINK_BROKER)")
    common.add_argument("--json", action="store_true", default=default(False), help="machine-readable output")
    common.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="log interlink's debug output")
    return common


class Commands(Protocol):
    """Where a command module adds its sub-commands."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def broker_url(given: str | None, *, embedded_ok: bool) -> str | None:
    """The broker to use: --broker, else INTERLINK_BROKER, else the embedded one where that makes sense."""
    url = given or os.environ.get("INTERLINK_BROKER")
    if url or embedded_ok:
        return url
    raise SystemExit(_fail(USAGE, "no broker: pass --broker URL or set INTERLINK_BROKER "
                                  "(`interlink broker` starts one and prints its URL)"))


def parse_json(text: str, what: str = "body") -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(_fail(INVALID, f"{what} is not valid JSON: {exc}")) from None


def run(coro: Coroutine[Any, Any, int], *, serving: bool = False) -> int:
    """Run a command; turn interlink errors into a one-line message and an exit code.

    ``serving``: a long-running command (``run``, ``gateway``), run on uvloop when installed.
    A ``ValueError`` is bad input (an unknown URL scheme, say): exit 2; a URL option a transport
    cannot use is a ``BrokerError`` (exit 5), as every transport raises it.
    """
    try:
        return _loop.run(coro) if serving else asyncio.run(coro)
    except KeyboardInterrupt:
        return 130
    except InterlinkError as exc:
        code = next(c for kind, c in _CODES if isinstance(exc, kind))
        return _fail(code, f"{type(exc).__name__}: {exc}")
    except ValueError as exc:
        _log.debug("usage error", exc_info=True)
        return _fail(USAGE, str(exc))
    except ModuleNotFoundError as exc:
        _log.debug("missing module", exc_info=True)
        return _fail(FAILED, f"{exc}: install the extra that provides it (pip install 'interlink[all]')")


def _fail(code: int, message: str) -> int:
    errors.print(f"[bold red]error:[/] {escape(message)}")
    return code


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str) + "\n")
    sys.stdout.flush()
