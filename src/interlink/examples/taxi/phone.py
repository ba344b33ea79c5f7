"""The passengers' phones, as the demo simulates them: each phone receives its push notifications."""

from __future__ import annotations

import asyncio

from interlink import Context, Service
from interlink.examples.taxi.messages import PhoneNotification
from interlink.examples.taxi.telemetry import recorder

phone = Service("phone", version="1.0.0")

# ride id -> resolved with the notification that completes the ride
waiting: dict[str, asyncio.Future[PhoneNotification]] = {}


@phone.subscribe("phone.*", broadcast=True)
async def on_push(note: PhoneNotification, ctx: Context) -> None:
    recorder.step(note.ride_id, "publish/subscribe", ctx.sender, "phone", ctx.subject)
    future = waiting.get(note.ride_id)
    if future is not None and not future.done():
        future.set_result(note)
