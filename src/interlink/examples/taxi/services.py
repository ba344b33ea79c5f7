"""The six services of the taxi application, each a plain declaration."""

from __future__ import annotations

import asyncio
import hashlib
import time

from interlink import Context, Service, ServiceError
from interlink.examples.taxi import store
from interlink.examples.taxi.messages import (
    Assignment,
    CancelRide,
    CapturePayment,
    DriverOffer,
    DriverProposed,
    OfferRequest,
    PassengerStatus,
    Payment,
    PaymentAuthorised,
    PhoneNotification,
    PreAuthorise,
    RideQuery,
    RideRequest,
    RideStatus,
    TripCreated,
    TripRejected,
    VerifyPassenger,
)
from interlink.examples.taxi.store import Ride
from interlink.examples.taxi.telemetry import recorder, since

passenger = Service("passenger", version="1.0.0")
trip = Service("trip", version="1.0.0")
billing = Service("billing", version="1.0.0")
dispatcher = Service("dispatcher", version="1.0.0")
driver = Service("driver", version="1.0.0")
notification = Service("notification", version="1.0.0")

BLOCKED = {"p-blocked"}
OFFER_WINDOW = 0.25  # seconds the dispatcher waits for driver offers


class Settings:
    capture_delay = 1.0  # seconds from a driver's proposal to the payment capture (production: the ride's end)


settings = Settings()

# Trip, billing and the dispatcher keep what they know in `store`: dicts in this process by
# default, PostgreSQL tables with `interlink demo --dsn DSN` (then any number of instances in
# any number of processes share it). Each change is one unit of work with its outgoing messages
# (the outbox) and the incoming message's id (the inbox: the effect happens once per message id).


# -- passenger: request/response ------------------------------------------

@passenger.endpoint("passenger.verify")
async def verify(req: VerifyPassenger, ctx: Context) -> PassengerStatus:
    if not req.passenger_id:
        raise ServiceError("invalid", "passenger_id is empty")
    return PassengerStatus(req.passenger_id, ok=req.passenger_id not in BLOCKED)


# -- trip: receives the phone's notification, orchestrates -------------------

@trip.endpoint("trip.request", order_by="passenger_id")  # one passenger's requests in order
async def request_ride(ride: RideRequest, ctx: Context) -> None:
    recorder.latency("notification", since(ride.requested_at))
    recorder.step(ride.ride_id, "notification", ctx.sender, "trip", ctx.subject)
    started = time.time()  # the remote call first (a read), then one unit of work with its effects
    status: PassengerStatus = await ctx.request(
        "passenger.verify", VerifyPassenger(ride.passenger_id), timeout=2.0, reply_type=PassengerStatus)
    recorder.latency("request/response", since(started))
    recorder.step(ride.ride_id, "request/response", "trip", "passenger", "passenger.verify")
    async with store.unit(ctx) as unit:
        if unit.duplicate or await unit.ride(ride.ride_id) is not None:
            return  # a redelivered request: already under way
        key = ride.passenger_id
        if not status.ok:
            await unit.save_ride(Ride(ride, "rejected"))
            await unit.publish("trip.rejected", TripRejected(ride.ride_id, key, "passenger blocked", time.time()),
                               key=key)
            return
        await unit.save_ride(Ride(ride, "awaiting_payment"))
        await unit.send("billing.preauthorise", PreAuthorise(ride.ride_id, key, fare_cents(ride), time.time()),
                        reply_to="trip.payment-authorised", key=key)
    recorder.step(ride.ride_id, "request/async response", "trip", "billing", "billing.preauthorise")


@trip.endpoint("trip.payment-authorised")
async def payment_authorised(reply: PaymentAuthorised, ctx: Context) -> None:
    recorder.latency("request/async response", since(reply.requested_at))
    recorder.step(reply.ride_id, "request/async response", ctx.sender, "trip", ctx.subject)
    async with store.unit(ctx) as unit:
        ride = await unit.ride(reply.ride_id)
        if unit.duplicate or ride is None or ride.status != "awaiting_payment":
            return  # handled before, or cancelled meanwhile
        req = ride.request
        if not reply.ok:
            await unit.save_ride(Ride(req, "rejected"))
            await unit.publish("trip.rejected", TripRejected(req.ride_id, req.passenger_id, reply.reason,
                                                             time.time()), key=req.passenger_id)
            return
        await unit.save_ride(Ride(req, "created"))
        await unit.publish("trip.created", TripCreated(req.ride_id, req.passenger_id, req.pickup, time.time()),
                           key=req.passenger_id)


@trip.endpoint("trip.get")
async def get_ride(query: RideQuery) -> RideStatus:
    async with store.unit() as unit:
        ride = await unit.ride(query.ride_id)
    if ride is None:
        raise ServiceError("not_found", f"no ride {query.ride_id}")
    return ride.public()


@trip.endpoint("trip.cancel")
async def cancel_ride(cancel: CancelRide, ctx: Context) -> None:
    async with store.unit(ctx) as unit:
        ride = await unit.ride(cancel.ride_id)
        if unit.duplicate or ride is None or cancel.passenger_id not in ("", ride.request.passenger_id):
            return  # handled before, or nothing of this passenger's to cancel
        await unit.save_ride(Ride(ride.request, "cancelled", ride.driver_id))
        await unit.publish(f"ride.{cancel.ride_id}.cancelled", cancel, key=ride.request.passenger_id)


@trip.subscribe("driver.proposed")
async def track_driver(event: DriverProposed, ctx: Context) -> None:
    async with store.unit(ctx) as unit:
        ride = await unit.ride(event.ride_id)
        if unit.duplicate or ride is None or ride.status == "cancelled":
            return
        await unit.save_ride(Ride(ride.request, "driver_proposed", event.driver_id))
        # a delayed message: billing captures the payment later (stored by the broker until then)
        await unit.notify("billing.capture", CapturePayment(event.ride_id), key=event.passenger_id,
                          delay=settings.capture_delay)


def fare_cents(ride: RideRequest) -> int:
    distance = abs(ride.pickup.lat - ride.dropoff.lat) + abs(ride.pickup.lon - ride.dropoff.lon)
    return 500 + int(distance * 100_000)


# -- billing: request/async response, and a delayed capture --------------------

@billing.endpoint("billing.preauthorise")
async def preauthorise(req: PreAuthorise, ctx: Context) -> PaymentAuthorised:
    await asyncio.sleep(0.005)  # the card processor
    ok = req.amount_cents < 50_000
    async with store.unit(ctx) as unit:
        if not unit.duplicate:
            await unit.save_payment(Payment(req.ride_id, req.amount_cents, ok))
    return PaymentAuthorised(req.ride_id, ok, req.requested_at, "" if ok else "amount over limit")


@billing.endpoint("billing.capture")
async def capture(req: CapturePayment, ctx: Context) -> None:
    async with store.unit(ctx) as unit:
        found = await unit.payment(req.ride_id)
        if unit.duplicate or found is None or not found.authorised or found.captured:
            return
        await unit.capture(found)  # the card processor would be charged here


@billing.endpoint("billing.payment")
async def payment(query: RideQuery) -> Payment:
    async with store.unit() as unit:
        found = await unit.payment(query.ride_id)
    if found is None:
        raise ServiceError("not_found", f"no payment for ride {query.ride_id}")
    return found


# -- dispatcher: publish/subscribe in, publish/async responses out ------------

@dispatcher.subscribe("trip.created")
async def find_driver(event: TripCreated, ctx: Context) -> None:
    recorder.latency("publish/subscribe", since(event.created_at))
    recorder.step(event.ride_id, "publish/subscribe", ctx.sender, "dispatcher", ctx.subject)
    asked = time.time()
    best: DriverOffer | None = None
    offers = 0
    async for reply in ctx.scatter("driver.offer-requested", OfferRequest(event.ride_id, event.pickup),
                                   within=OFFER_WINDOW, reply_type=DriverOffer):
        offers += 1
        recorder.latency("publish/async responses", since(asked))
        recorder.step(event.ride_id, "publish/async responses", reply.instance, "dispatcher",
                      "driver.offer-requested")
        if best is None or reply.body.eta_seconds < best.eta_seconds:
            best = reply.body
    key = event.passenger_id
    async with store.unit(ctx) as unit:
        if unit.duplicate:
            return
        if best is None:
            await unit.publish("trip.rejected", TripRejected(event.ride_id, key, "no driver", time.time()), key=key)
            return
        await unit.save_assignment(Assignment(event.ride_id, best.driver_id, best.eta_seconds, offers))
        await unit.publish("driver.proposed", DriverProposed(
            event.ride_id, key, best.driver_id, best.eta_seconds, offers, time.time()), key=key)


@dispatcher.endpoint("dispatcher.assignment")
async def assignment(query: RideQuery) -> Assignment:
    async with store.unit() as unit:
        found = await unit.assignment(query.ride_id)
    if found is None:
        raise ServiceError("not_found", f"no driver assigned to ride {query.ride_id} yet")
    return found


# -- driver: every instance answers an offer request ------------------------

@driver.subscribe("driver.offer-requested", broadcast=True)
async def offer(req: OfferRequest, ctx: Context) -> DriverOffer:
    # a stable pseudo-distance per (driver, ride): each instance makes its own offer
    digest = hashlib.blake2s(f"{ctx.instance}/{req.ride_id}".encode(), digest_size=2).digest()
    return DriverOffer(req.ride_id, ctx.instance, 60 + int.from_bytes(digest, "big") % 600)


# -- notification: pushes news to the passenger's phone -------------------------

@notification.subscribe("driver.proposed")
async def driver_proposed(event: DriverProposed, ctx: Context) -> None:
    recorder.latency("publish/subscribe", since(event.proposed_at))
    recorder.step(event.ride_id, "publish/subscribe", ctx.sender, "notification", ctx.subject)
    await ctx.publish(f"phone.{event.passenger_id}", PhoneNotification(
        event.ride_id, event.passenger_id, f"driver {event.driver_id} arrives in {event.eta_seconds:.0f}s",
        "driver_proposed", time.time()))


@notification.subscribe("trip.rejected")
async def trip_rejected(event: TripRejected, ctx: Context) -> None:
    recorder.step(event.ride_id, "publish/subscribe", ctx.sender, "notification", ctx.subject)
    await ctx.publish(f"phone.{event.passenger_id}", PhoneNotification(
        event.ride_id, event.passenger_id, f"no ride: {event.reason}", "rejected", time.time()))
