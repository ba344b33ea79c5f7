"""``interlink run interlink.examples.taxi.app:app`` runs every service of the taxi application,
and its gateway (the passenger phone's API) on http://127.0.0.1:8000 (``--http HOST:PORT``)."""

from __future__ import annotations

from pathlib import Path

import interlink
from interlink.examples.taxi.services import billing, dispatcher, driver, notification, passenger, trip

GATEWAY = Path(__file__).with_name("gateway.yaml")
app = interlink.App("taxi", services=[passenger, trip, billing, dispatcher, driver, notification], gateway=GATEWAY)
DEFAULT_INSTANCES = {"driver": 3}
