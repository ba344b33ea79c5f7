"""Test helpers for people who write interlink services, and the transport conformance kit.

* :func:`harness` records every message a bus publishes, sends, handles and dead-letters,
  and ``await h.settled()`` waits for the whole cascade (see docs/testing.md).
* The pytest plugin (``interlink.testing.plugin``, registered automatically) provides the
  fixtures ``interlink_bus``, ``interlink_harness``, ``interlink_broker`` and ``memory_bus``;
  they work under pytest-asyncio's strict and auto modes. ``--interlink-broker URL`` (or
  ``INTERLINK_TEST_BROKER``) runs the same tests on a real broker with names isolated per test.
* :func:`unique` gives subject/service names that do not collide on a shared broker.
* :class:`TransportConformance`: subclass it in a test module with a ``broker_url``
  fixture and every transport contract test runs against that broker.
"""

from interlink.testing._harness import Handled, Harness, NotSettled, Recorded, harness
from interlink.testing._names import unique
from interlink.testing.conformance import TransportConformance

__all__ = ["Handled", "Harness", "NotSettled", "Recorded", "TransportConformance", "harness", "unique"]
