"""An App for ``interlink run`` in the drain and rolling-restart tests.

    ROLLING_SERVICE=name ROLLING_SUBJECT=work.x ROLLING_OUTDIR=/tmp/d [ROLLING_SLOW=0.2] \\
        interlink run tests.faults.rolling_app:app --broker URL --health HOST:PORT

Its one endpoint (notifications) appends ``start N`` before and ``done N`` after each
handler to OUTDIR/<pid>.log, flushed: a ``start`` without its ``done`` in the same
process's log is a handler that was cut off.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import IO

import interlink

SERVICE = os.environ.get("ROLLING_SERVICE", "rolling")
SUBJECT = os.environ.get("ROLLING_SUBJECT", "rolling.work")
OUTDIR = Path(os.environ.get("ROLLING_OUTDIR", "."))
SLOW = float(os.environ.get("ROLLING_SLOW", "0.2"))

service = interlink.Service(SERVICE)
_log: list[IO[str]] = []


def _write(line: str) -> None:
    if not _log:
        _log.append(open(OUTDIR / f"{os.getpid()}.log", "a", buffering=1))  # noqa: SIM115 - for the process's life
    _log[0].write(line + "\n")


@service.endpoint(SUBJECT, max_concurrency=16, ack_wait=5.0, max_attempts=20, backoff=0.05)
async def work(body: int) -> None:
    _write(f"start {body}")
    await asyncio.sleep(SLOW)
    _write(f"done {body}")


app = interlink.App("rolling", services=[service])
