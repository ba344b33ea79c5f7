"""A sender in a process of its own, for the "sender killed mid-stream" fault test.

    python -m tests.faults.sender URL SUBJECT OUTFILE [--concurrency C] [--rate R]

Notifies SUBJECT with 0, 1, 2, ... from C concurrent callers (at most R a second
in all, when given), forever, and
appends each number to OUTFILE (flushed) once its ``notify`` has returned:
the file lists exactly the messages the sender was told are stored.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

import interlink


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("subject")
    parser.add_argument("outfile")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.0, help="messages a second in all (0: as fast as it can)")
    args = parser.parse_args()
    pause = args.concurrency / args.rate if args.rate else 0.0
    numbers = itertools.count()
    with open(args.outfile, "a", buffering=1) as out:
        async with interlink.connect(args.url, name="fault-sender") as bus:
            async def caller() -> None:
                for n in numbers:
                    await bus.notify(args.subject, n)
                    out.write(f"{n}\n")
                    if pause:
                        await asyncio.sleep(pause)

            await asyncio.gather(*(caller() for _ in range(args.concurrency)))


if __name__ == "__main__":
    asyncio.run(main())
