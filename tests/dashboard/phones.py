"""Simulated phones for the dashboard tests: ride requests to the taxi app at a steady rate until stopped.

    python -m tests.dashboard.phones BROKER_URL RIDES_PER_SECOND
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import interlink
from interlink.examples.taxi.messages import Place, RideRequest


async def main(url: str, rate: float) -> None:
    async with interlink.connect(url, name="phones") as bus:
        n = 0
        while True:
            n += 1
            ride = RideRequest(f"r{n:05d}-{uuid.uuid4().hex[:4]}", f"p{n % 7}", Place(52.52 + n % 50 / 1000, 13.40),
                               Place(52.50, 13.45), time.time())
            await bus.notify("trip.request", ride)
            await asyncio.sleep(1 / rate)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
