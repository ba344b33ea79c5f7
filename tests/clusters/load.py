"""What the cluster scenarios share: a sender that retries nothing of its own,
and the figures each scenario prints (sent, handled, lost, refused, duplicates, longest stall).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import interlink
from tests.faults.harness import Figures, Workers, wait_until


@dataclass
class ClusterFigures(Figures):
    refused: int = 0
    stall: float = 0.0

    def print(self) -> None:
        print(f"\n[cluster] {self.scenario}: sent={self.sent} handled={self.handled} lost={self.lost} "
              f"refused={self.refused} duplicates={self.duplicates} longest stall={self.stall:.2f}s")


@dataclass
class Sent:
    stored: list[int]
    refused: int
    longest: float
    errors: Counter[str] = field(default_factory=Counter)  # what the refused calls raised


def until(done: asyncio.Event) -> Iterator[int]:
    """0, 1, 2, ... until ``done`` is set: the numbers of a load that lasts as long as a scenario."""
    n = 0
    while not done.is_set():
        yield n
        n += 1


async def send(bus: interlink.Bus, subject: str, numbers: Iterator[int], concurrency: int = 8,
               before: Callable[[int], None] | None = None) -> Sent:
    """Notify each number once (no retry of the sender's own); what was stored, refused, the longest call."""
    result = Sent([], 0, 0.0)

    async def caller() -> None:
        for n in numbers:
            if before is not None:
                before(n)
            start = time.monotonic()
            try:
                await bus.notify(subject, n)
                result.stored.append(n)
            except interlink.InterlinkError as exc:
                result.refused += 1
                result.errors[f"{type(exc).__name__}: {exc}"[:200]] += 1
            result.longest = max(result.longest, time.monotonic() - start)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return result


def figures(scenario: str, workers: Workers, sent: Sent) -> ClusterFigures:
    stored = {str(n) for n in sent.stored}
    assert wait_until(lambda: stored <= set(workers.handled()), 60), "not every stored notification was handled"
    handled = workers.handled()
    result = ClusterFigures(scenario, len(stored), len(stored & set(handled)),
                            sum(count - 1 for count in handled.values() if count > 1),
                            refused=sent.refused, stall=sent.longest)
    result.print()
    for error, count in sent.errors.most_common(3):
        print(f"[cluster] refused {count}x: {error}")
    return result


