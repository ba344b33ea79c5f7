"""The conformance suite against RabbitMQ (127.0.0.1:5672, guest/guest).

Test state lives under the ``iltest`` prefix with short expiries, so the
shared, long-lived broker forgets it on its own: durable queues 15 minutes
after their last use, the dead-letter queue after an hour.
"""

import pytest

from interlink.testing import TransportConformance
from tests.conftest import require_broker

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
TEST_OPTIONS = "?prefix=iltest&expires=900&dead_expires=3600"


class TestRabbitMQ(TransportConformance):
    @pytest.fixture
    def broker_url(self) -> str:
        return require_broker(RABBIT_URL, "RabbitMQ") + TEST_OPTIONS
