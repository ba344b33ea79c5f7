"""The board's sampling: above its budget the tap listens one second in N, and each message counts for N."""

from __future__ import annotations

import asyncio
import time

import interlink
from interlink import Service
from interlink.dashboard import Board
from interlink.testing import unique


async def test_heavy_traffic_is_sampled_and_light_traffic_heard_in_full() -> None:
    url = f"memory://{unique('sampled')}"
    svc = Service("sampled")

    @svc.endpoint("sampled.note", durable=False)
    async def note(body: int) -> None:
        return None

    async with interlink.connect(url, name="flood") as bus:
        await bus.serve(svc)
        board = await Board(url, interval=0.2, tap_budget=1000).start()
        try:
            end = time.monotonic() + 3.0
            while time.monotonic() < end and board.sampling == 1:
                await asyncio.gather(*(bus.notify("sampled.note", n) for n in range(100)))
                await asyncio.sleep(0.02)  # a few thousand a second, above 1000
            assert board.sampling > 1 and board.traffic.weight == board.sampling
            heard = board.traffic.total
            await asyncio.sleep(0.3)
            await asyncio.gather(*(bus.notify("sampled.note", n) for n in range(100)))
            assert board.traffic.total == heard  # not listening now
            for _ in range(10 * (board.sampling + 5)):  # quiet: every message again once the tap listens
                await bus.notify("sampled.note", 1)
                await asyncio.sleep(0.1)
                if board.sampling == 1 and board.traffic.weight == 1:
                    break
            assert board.sampling == 1 and board.traffic.weight == 1
        finally:
            await board.close()
