"""The cluster scenarios' service instances, on each module's own ``cluster`` fixture (anything with a ``url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.testing import unique
from tests.faults.harness import Workers


@pytest.fixture
def workers(cluster: Any, tmp_path: Path) -> Iterator[Workers]:
    """Two instances of one service, each in a process of its own, on the cluster."""
    instances = Workers(cluster.url, unique("svc"), unique("rides"), tmp_path)
    instances.start(2, timeout=60)
    yield instances
    instances.stop()
