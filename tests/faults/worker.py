"""A service instance in a process of its own, for fault-injection tests.

    python -m tests.faults.worker URL SERVICE SUBJECT OUTDIR [--slow S] [--max-attempts N] ...

Serves SERVICE with an endpoint on SUBJECT (notifications and requests) and a
subscription on SUBJECT.events. Each handled body (an int, or "poison") is
appended to OUTDIR/<pid>.log and flushed before the handler returns, so the
test counts what was handled even when this process is killed. Prints "ready"
once its subscriptions are live; closes gracefully on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import interlink
from interlink import Context, Service


def build(args: argparse.Namespace, log: Any, stamps: Any = None) -> Service:
    svc = Service(args.service)
    options = {"max_attempts": args.max_attempts, "backoff": 0.05, "ack_wait": args.ack_wait,
               "max_concurrency": args.max_concurrency}

    async def handle(body: int | str, ctx: Context) -> int | str:
        if args.slow:
            await asyncio.sleep(args.slow)
        if body == "poison":
            raise RuntimeError("poison message")
        log.write(f"{str(body).split(':')[0]}\n")
        log.flush()
        if stamps is not None:  # --stamps: when each arrived, and when it was due (delayed messages)
            stamps.write(f"{body} {time.time():.3f} {ctx.headers.get('il-due', '')}\n")
            stamps.flush()
        return body

    svc.endpoint(args.subject, **options)(handle)
    svc.subscribe(f"{args.subject}.events", **options)(handle)
    return svc


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("service")
    parser.add_argument("subject")
    parser.add_argument("outdir")
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--ack-wait", type=float, default=2.0)
    parser.add_argument("--max-concurrency", type=int, default=32)
    parser.add_argument("--stamps", action="store_true", help="also write OUTDIR/<pid>.stamps: body arrival due")
    args = parser.parse_args()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    outdir = Path(args.outdir)
    with open(outdir / f"{os.getpid()}.log", "a", buffering=1) as log, \
            open(outdir / f"{os.getpid()}.stamps", "a", buffering=1) as stamps:
        async with interlink.connect(args.url, name=args.service) as bus:
            await bus.serve(build(args, log, stamps if args.stamps else None))
            sys.stdout.write("ready\n")
            sys.stdout.flush()
            await stop.wait()
            await bus.close(grace=5.0)


if __name__ == "__main__":
    asyncio.run(main())
