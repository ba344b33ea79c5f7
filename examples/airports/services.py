"""Nameko's airports/trips example, ported to interlink.

Nameko has two RPC services on RabbitMQ (``airports_service``, ``trips_service``)
keeping their data in Redis. Here each ``@rpc`` method is an endpoint, the Redis
dependency is a dictionary (the point is the messaging), and creating a trip
checks both airports with a nested request: an unknown airport answers the
trip's caller with the airports service's own ``not_found`` (``.service ==
"airports"``), and reaches an HTTP client through the gateway as a 404.
Creating a trip also publishes ``trips.created`` (Nameko's ``EventDispatcher``).

    interlink run examples.airports.services:app
"""

from __future__ import annotations

import uuid

import msgspec

from interlink import App, Context, Service, ServiceError


class Airport(msgspec.Struct):
    code: str
    name: str = ""


class NewTrip(msgspec.Struct):
    airport_from: str
    airport_to: str


class Trip(msgspec.Struct):
    id: str
    airport_from: str
    airport_to: str


airports = Service("airports")
_airports: dict[str, Airport] = {}


@airports.endpoint("airports.create")
async def create_airport(airport: Airport) -> str:
    airport_id = uuid.uuid4().hex
    _airports[airport_id] = airport
    return airport_id


@airports.endpoint("airports.get")
async def get_airport(airport_id: str) -> Airport:
    if airport_id not in _airports:
        raise ServiceError("not_found", f"no airport {airport_id}", {"airport_id": airport_id})
    return _airports[airport_id]


trips = Service("trips")
_trips: dict[str, Trip] = {}


@trips.endpoint("trips.create")
async def create_trip(new: NewTrip, ctx: Context) -> str:
    for airport_id in (new.airport_from, new.airport_to):
        await ctx.request("airports.get", airport_id)  # an unknown airport: its not_found answers our caller
    trip = Trip(uuid.uuid4().hex, new.airport_from, new.airport_to)
    _trips[trip.id] = trip
    await ctx.publish("trips.created", trip)
    return trip.id


@trips.endpoint("trips.get")
async def get_trip(trip_id: str) -> Trip:
    if trip_id not in _trips:
        raise ServiceError("not_found", f"no trip {trip_id}")
    return _trips[trip_id]


app = App("airports", services=[airports, trips])
