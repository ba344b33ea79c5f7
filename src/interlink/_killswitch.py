"""The kill switch: pause a consumer whose handler keeps failing, resume it later with a trial.

When a downstream dependency is down, a handler that fails every message burns
the attempts of each and floods the dead-letter channel. A kill switch watches
the last ``window`` outcomes of one endpoint on one instance; once at least
``failure_rate`` of them failed it stops consuming (the broker keeps the
messages) for ``cool_down`` seconds, then consumes again: the first outcome
after that is the trial, a success resumes for good, a failure pauses again::

    @billing.endpoint("billing.charge", kill_switch=KillSwitch(failure_rate=0.15, window=20, cool_down=30))
    async def charge(req: Charge) -> None: ...

Only exceptions count as failures (a ``ServiceError`` is an answer, and a body
that does not decode is the sender's fault). Pauses and resumes are logged at
WARNING, counted, and visible through ``bus.kill_switches()``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from interlink.transports.base import Binding, Handler, Subscription, Transport

if TYPE_CHECKING:
    from interlink._bus import Instance
    from interlink._dispatch import Dispatcher

log = logging.getLogger("interlink")
State = Literal["running", "paused", "trial"]


@dataclass(frozen=True, slots=True)
class KillSwitch:
    """Pause consumption when ``failure_rate`` of the last ``window`` messages failed, for ``cool_down`` s."""

    failure_rate: float = 0.15
    window: int = 20
    cool_down: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 < self.failure_rate <= 1.0:
            raise ValueError("KillSwitch.failure_rate must be in (0, 1]")
        if self.window < 1:
            raise ValueError("KillSwitch.window must be at least 1")
        if self.cool_down <= 0:
            raise ValueError("KillSwitch.cool_down must be positive")


class SwitchedSubscription:
    """A subscription that can be paused (stopped) and resumed (consumed again) by its switch."""

    def __init__(self, transport: Transport, binding: Binding, handler: Handler) -> None:
        self._transport = transport
        self._binding = binding
        self._handler = handler
        self._current: Subscription | None = None
        self._stopped = False
        self._lock = asyncio.Lock()
        self._cooling: asyncio.Task[None] | None = None

    async def resume(self) -> None:
        async with self._lock:
            if self._current is None and not self._stopped:
                self._current = await self._transport.consume(self._binding, self._handler)

    async def pause(self) -> None:
        async with self._lock:
            current, self._current = self._current, None
            if current is not None:
                await current.stop()

    def pause_for(self, seconds: float, then: Callable[[], None]) -> None:
        """Stop consuming now; after ``seconds`` call ``then()`` and consume again."""
        if self._cooling is None or self._cooling.done():
            self._cooling = asyncio.ensure_future(self._pause_for(seconds, then))

    async def _pause_for(self, seconds: float, then: Callable[[], None]) -> None:
        await self.pause()
        await asyncio.sleep(seconds)
        then()
        await self.resume()

    async def stop(self) -> None:
        self._stopped = True
        if self._cooling is not None:
            self._cooling.cancel()
        await self.pause()


class Switch:
    """The state of one endpoint's kill switch on one instance."""

    def __init__(self, settings: KillSwitch, service: str, subject: str,
                 subscription: SwitchedSubscription) -> None:
        self.settings = settings
        self.service = service
        self.subject = subject
        self._subscription = subscription
        self._outcomes: deque[bool] = deque(maxlen=settings.window)
        self.state: State = "running"
        self.pauses = 0
        self.resumes = 0
        self.resumes_at: float | None = None  # epoch seconds while paused

    def record(self, failed: bool) -> None:
        """Count one handled message (failed: its handler raised)."""
        if self.state == "paused":
            return  # a message that was in flight when the switch tripped
        if self.state == "trial":
            if failed:
                self._trip("the trial message failed")
            else:
                self.state = "running"
                self.resumes += 1
                log.warning("%s: %s resumed after a successful trial", self.service, self.subject)
            return
        outcomes = self._outcomes
        outcomes.append(failed)
        if len(outcomes) == self.settings.window:
            failures = sum(outcomes)
            if failures >= self.settings.failure_rate * len(outcomes):
                self._trip(f"{failures} of the last {len(outcomes)} messages failed")

    def _trip(self, why: str) -> None:
        self.state = "paused"
        self.pauses += 1
        self._outcomes.clear()
        self.resumes_at = time.time() + self.settings.cool_down
        log.warning("%s: %s paused for %.1fs: %s", self.service, self.subject, self.settings.cool_down, why)
        self._subscription.pause_for(self.settings.cool_down, self._trial)

    def _trial(self) -> None:
        self.state = "trial"
        self.resumes_at = None
        log.warning("%s: %s consuming again (trial)", self.service, self.subject)

    def status(self) -> dict[str, object]:
        """What operators see: service, subject, state, pauses, resumes, resumes_at."""
        return {"service": self.service, "subject": self.subject, "state": self.state, "pauses": self.pauses,
                "resumes": self.resumes, "resumes_at": self.resumes_at}


async def switched(transport: Transport, binding: Binding, dispatcher: Dispatcher, settings: KillSwitch,
                   instance: Instance) -> SwitchedSubscription:
    """Consume ``binding`` under a kill switch; the switch goes to ``dispatcher`` and ``instance``."""
    subscription = SwitchedSubscription(transport, binding, dispatcher)
    switch = Switch(settings, dispatcher.service, binding.pattern, subscription)
    dispatcher.switch = switch
    await subscription.resume()
    instance.switches.append(switch)
    return subscription
