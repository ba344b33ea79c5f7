"""The six services of the taxi application, each a plain declaration."""

from __future__ import annotations

import asyncio
import hashlib
import time

from interlink import Context, Service, ServiceError
from interlink.examples.taxi.messages import (
    Assignment,
    CancelRide,
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
from interlink.examples.taxi.telemetry import recorder, since

passenger = Service("passenger", version="1.0.0")
trip = Service("trip", version="1.0.0")
billing = Service("billing", version="1.0.0")
dispatcher = Service("dispatcher", version="1.0.0")
driver = Service("driver", version="1.0.0")
notification = Service("notification", version="1.0.0")

BLOCKED = {"p-blocked"}
OFFER_WINDOW = 0.25  # seconds the dispatcher waits for driver offers

# What each service knows, kept in its process. Production services keep it in their
# databases so that every instance sees it; the example runs one instance of each.
_rides: dict[str, RideStatus] = {}
_awaiting_payment: dict[str, RideRequest] = {}
_assignments: dict[str, Assignment] = {}
_payments: dict[str, Payment] = {}


def _set_status(ride_id: str, status: str, driver_id: str | None = None) -> None:
    ride = _rides.get(ride_id)
    if ride is not None and ride.status != "cancelled":
        _rides[ride_id] = RideStatus(ride_id, ride.passenger_id, status, driver_id or ride.driver_id)


# -- passenger: request/response ------------------------------------------

@passenger.endpoint("passenger.verify")
async def verify(req: VerifyPassenger, ctx: Context) -> PassengerStatus:
    if not req.passenger_id:
        raise ServiceError("invalid", "passenger_id is empty")
    return PassengerStatus(req.passenger_id, ok=req.passenger_id not in BLOCKED)


# -- trip: receives the phone's notification, orchestrates -------------------

@trip.endpoint("trip.request")
async def request_ride(ride: RideRequest, ctx: Context) -> None:
    recorder.latency("notification", since(ride.requested_at))
    recorder.step(ride.ride_id, "notification", ctx.sender, "trip", ctx.subject)
    if ride.ride_id in _rides:  # a redelivered request: already under way
        return
    _rides[ride.ride_id] = RideStatus(ride.ride_id, ride.passenger_id, "requested")
    started = time.time()
    status: PassengerStatus = await ctx.request(
        "passenger.verify", VerifyPassenger(ride.passenger_id), timeout=2.0, reply_type=PassengerStatus)
    recorder.latency("request/response", since(started))
    recorder.step(ride.ride_id, "request/response", "trip", "passenger", "passenger.verify")
    if not status.ok:
        _set_status(ride.ride_id, "rejected")
        await ctx.publish("trip.rejected", TripRejected(ride.ride_id, ride.passenger_id, "passenger blocked",
                                                        time.time()))
        return
    _set_status(ride.ride_id, "awaiting_payment")
    await ctx.send("billing.preauthorise",
                   PreAuthorise(ride.ride_id, ride.passenger_id, fare_cents(ride), time.time()),
                   reply_to="trip.payment-authorised")
    recorder.step(ride.ride_id, "request/async response", "trip", "billing", "billing.preauthorise")
    _awaiting_payment[ride.ride_id] = ride


@trip.endpoint("trip.payment-authorised")
async def payment_authorised(reply: PaymentAuthorised, ctx: Context) -> None:
    recorder.latency("request/async response", since(reply.requested_at))
    recorder.step(reply.ride_id, "request/async response", ctx.sender, "trip", ctx.subject)
    ride = _awaiting_payment.pop(reply.ride_id, None)
    if ride is None:
        raise ServiceError("not_found", f"no ride {reply.ride_id} awaits payment on this instance")
    if not reply.ok:
        _set_status(ride.ride_id, "rejected")
        await ctx.publish("trip.rejected", TripRejected(ride.ride_id, ride.passenger_id, reply.reason,
                                                        time.time()))
        return
    _set_status(ride.ride_id, "created")
    await ctx.publish("trip.created", TripCreated(ride.ride_id, ride.passenger_id, ride.pickup, time.time()))


@trip.endpoint("trip.get")
async def get_ride(query: RideQuery) -> RideStatus:
    ride = _rides.get(query.ride_id)
    if ride is None:
        raise ServiceError("not_found", f"no ride {query.ride_id}")
    return ride


@trip.endpoint("trip.cancel")
async def cancel_ride(cancel: CancelRide, ctx: Context) -> None:
    ride = _rides.get(cancel.ride_id)
    if ride is None or (cancel.passenger_id and cancel.passenger_id != ride.passenger_id):
        return  # nothing of this passenger's to cancel
    _rides[cancel.ride_id] = RideStatus(ride.ride_id, ride.passenger_id, "cancelled", ride.driver_id)
    await ctx.publish(f"ride.{ride.ride_id}.cancelled", cancel)


@trip.subscribe("driver.proposed")
async def track_driver(event: DriverProposed) -> None:
    _set_status(event.ride_id, "driver_proposed", event.driver_id)


def fare_cents(ride: RideRequest) -> int:
    distance = abs(ride.pickup.lat - ride.dropoff.lat) + abs(ride.pickup.lon - ride.dropoff.lon)
    return 500 + int(distance * 100_000)


# -- billing: request/async response ------------------------------------------

@billing.endpoint("billing.preauthorise")
async def preauthorise(req: PreAuthorise, ctx: Context) -> PaymentAuthorised:
    await asyncio.sleep(0.005)  # the card processor
    ok = req.amount_cents < 50_000
    _payments[req.ride_id] = Payment(req.ride_id, req.amount_cents, ok)
    return PaymentAuthorised(req.ride_id, ok, req.requested_at, "" if ok else "amount over limit")


@billing.endpoint("billing.payment")
async def payment(query: RideQuery) -> Payment:
    found = _payments.get(query.ride_id)
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
    if best is None:
        await ctx.publish("trip.rejected", TripRejected(event.ride_id, event.passenger_id, "no driver",
                                                        time.time()))
        return
    _assignments[event.ride_id] = Assignment(event.ride_id, best.driver_id, best.eta_seconds, offers)
    await ctx.publish("driver.proposed", DriverProposed(
        event.ride_id, event.passenger_id, best.driver_id, best.eta_seconds, offers, time.time()))


@dispatcher.endpoint("dispatcher.assignment")
async def assignment(query: RideQuery) -> Assignment:
    found = _assignments.get(query.ride_id)
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
