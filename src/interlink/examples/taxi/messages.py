"""The messages of the taxi application (msgspec Structs: validated on receipt)."""

from __future__ import annotations

import msgspec


class Place(msgspec.Struct, frozen=True):
    lat: float
    lon: float


class RideRequest(msgspec.Struct, frozen=True):
    ride_id: str
    passenger_id: str
    pickup: Place
    dropoff: Place
    requested_at: float


class VerifyPassenger(msgspec.Struct, frozen=True):
    passenger_id: str


class PassengerStatus(msgspec.Struct, frozen=True):
    passenger_id: str
    ok: bool
    rating: float = 5.0


class PreAuthorise(msgspec.Struct, frozen=True):
    ride_id: str
    passenger_id: str
    amount_cents: int
    requested_at: float


class PaymentAuthorised(msgspec.Struct, frozen=True):
    ride_id: str
    ok: bool
    requested_at: float
    reason: str = ""


class TripCreated(msgspec.Struct, frozen=True):
    ride_id: str
    passenger_id: str
    pickup: Place
    created_at: float


class OfferRequest(msgspec.Struct, frozen=True):
    ride_id: str
    pickup: Place


class DriverOffer(msgspec.Struct, frozen=True):
    ride_id: str
    driver_id: str
    eta_seconds: float


class DriverProposed(msgspec.Struct, frozen=True):
    ride_id: str
    passenger_id: str
    driver_id: str
    eta_seconds: float
    offers: int
    proposed_at: float


class TripRejected(msgspec.Struct, frozen=True):
    ride_id: str
    passenger_id: str
    reason: str
    rejected_at: float


class PhoneNotification(msgspec.Struct, frozen=True):
    ride_id: str
    passenger_id: str
    text: str
    kind: str
    sent_at: float


class RideQuery(msgspec.Struct, frozen=True):
    ride_id: str


class CancelRide(msgspec.Struct, frozen=True):
    ride_id: str
    passenger_id: str = ""
    reason: str = ""


class RideStatus(msgspec.Struct, frozen=True):
    ride_id: str
    passenger_id: str
    status: str  # requested | verified | awaiting_payment | created | driver_proposed | rejected | cancelled
    driver_id: str | None = None


class Assignment(msgspec.Struct, frozen=True):
    ride_id: str
    driver_id: str
    eta_seconds: float
    offers: int


class Payment(msgspec.Struct, frozen=True):
    ride_id: str
    amount_cents: int
    authorised: bool
    captured: bool = False


class CapturePayment(msgspec.Struct, frozen=True):
    ride_id: str
