"""The transport conformance kit: every transport must pass these tests.

    # tests/conformance/test_nats.py
    class TestNats(TransportConformance):
        @pytest.fixture
        def broker_url(self) -> str:
            return "nats://127.0.0.1:4222"

Each test builds its services with :func:`unique` names, so suites can share a
long-lived broker. Tests that need durability are skipped, with the reason, on
transports whose ``durable`` flag is False. The contract is the public API of docs/api.md
(styles, channels, delivery, errors);
the tests live by concern in ``_requests``, ``_messaging``, ``_durability`` and ``_delayed``.
"""

from interlink.testing.conformance._delayed import DelayedSuite
from interlink.testing.conformance._durability import DurabilitySuite
from interlink.testing.conformance._messaging import MessagingSuite
from interlink.testing.conformance._requests import RequestSuite
from interlink.testing.conformance._support import (
    Connect,
    Point,
    counting_service,
    dead_letters_of,
    eventually,
    eventually_async,
)

__all__ = ["Connect", "Point", "TransportConformance", "counting_service", "dead_letters_of", "eventually",
           "eventually_async"]


class TransportConformance(RequestSuite, MessagingSuite, DurabilitySuite, DelayedSuite):
    """The public contract (styles, channels, delivery, errors), run against the ``broker_url`` fixture."""
