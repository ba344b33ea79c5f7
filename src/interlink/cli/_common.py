"""What every command shares: the console, exit codes, the broker URL, error reporting."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from typing import Any, Protocol

from rich.console import Console

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
    """
    try:
        return _loop.run(coro) if serving else asyncio.run(coro)
    except KeyboardInterrupt:
        return 130
    except InterlinkError as exc:
        code = next(c for kind, c in _CODES if isinstance(exc, kind))
        return _fail(code, f"{type(exc).__name__}: {exc}")


def _fail(code: int, message: str) -> int:
    errors.print(f"[bold red]error:[/] {message}")
    return code


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str) + "\n")
    sys.stdout.flush()
