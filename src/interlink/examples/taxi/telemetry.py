"""What the demo prints: per-style latencies and the message sequence of rides.

The services record into this in-process recorder; in a multi-process run each
process keeps its own (the demo runs everything in one process).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

STYLES = ("request/response", "notification", "request/async response", "publish/subscribe",
          "publish/async responses")


@dataclass(slots=True)
class Step:
    at: float
    style: str
    sender: str
    receiver: str
    subject: str


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    steps: dict[str, list[Step]] = field(default_factory=lambda: defaultdict(list))

    def latency(self, style: str, seconds: float) -> None:
        self.latencies[style].append(seconds)

    def step(self, ride_id: str, style: str, sender: str, receiver: str, subject: str) -> None:
        self.steps[ride_id].append(Step(time.time(), style, sender, receiver, subject))

    def reset(self) -> None:
        self.latencies.clear()
        self.steps.clear()


recorder = Recorder()


def since(timestamp: float) -> float:
    return max(0.0, time.time() - timestamp)
