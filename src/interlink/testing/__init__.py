"""Test helpers for people who write interlink services, and the transport conformance kit.

* :class:`TransportConformance`: subclass it in a test module with a ``broker_url``
  fixture and every transport contract test runs against that broker.
* :func:`unique` gives subject/service names that do not collide on a shared broker.
* The pytest plugin (``interlink.testing.plugin``, registered automatically) provides
  the ``memory_bus`` fixture: a bus on a fresh in-memory broker.
"""

from interlink.testing._names import unique
from interlink.testing.conformance import TransportConformance

__all__ = ["TransportConformance", "unique"]
