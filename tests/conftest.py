"""Shared fixtures: broker URLs, and the rule that under CI=true a missing broker fails the run."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The machine's NATS, shared with other runs: the durable consumers tests create are removed by the
# server 15 minutes after their last member, so they do not pile up (nor keep events) run after run.
NATS_URL = "nats://127.0.0.1:4222?retention=900"


def require_broker(url: str, name: str) -> str:
    """Return ``url`` if its host:port answers; otherwise skip (fail under CI=true)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2.0):
            return url
    except OSError as exc:
        message = f"{name} is not reachable at {parts.hostname}:{parts.port} ({exc})"
        if IN_CI:
            pytest.fail(message + " - under CI=true a missing broker is a failure")
        pytest.skip(message)
