"""The transport conformance suite on the machine's NATS server (with JetStream)."""

import pytest

from interlink.testing import TransportConformance
from tests.conftest import require_broker

NATS_URL = "nats://127.0.0.1:4222"


class TestNats(TransportConformance):
    @pytest.fixture
    def broker_url(self) -> str:
        return require_broker(NATS_URL, "NATS")
