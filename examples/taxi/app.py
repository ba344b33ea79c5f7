"""``interlink run examples.taxi.app:app`` runs every service of the taxi application."""

from __future__ import annotations

import interlink
from examples.taxi.services import billing, dispatcher, driver, notification, passenger, trip

app = interlink.App("taxi", services=[passenger, trip, billing, dispatcher, driver, notification])
DEFAULT_INSTANCES = {"driver": 3}
