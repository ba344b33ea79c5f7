"""The gateway and a body nested deeper than its JSON decoder goes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from interlink import Service
from interlink.testing import unique
from tests.gateway.conftest import running


async def test_deeply_nested_json_is_400_malformed_json_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    """Before: 500 internal and a RecursionError traceback in the log for a 6 KB body."""
    caplog.set_level(logging.INFO)
    p = unique("g")
    svc = Service(f"{p}echo")

    @svc.endpoint(f"{p}.echo")
    async def echo(body: Any) -> Any:
        return body

    config = f"routes:\n  - {{method: POST, path: /echo, request: {p}.echo}}\n"
    async with running(config, f"memory://{unique('gw')}", [svc]) as gw:
        deep = b"[" * 3000 + b"]" * 3000
        r = await gw.client.post("/echo", content=deep, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "malformed_json"
        ok = await gw.client.post("/echo", json=[[[1]]])
        assert ok.status_code == 200 and ok.json() == [[[1]]]
    assert not any(r.exc_info for r in caplog.records)
    assert not any("RecursionError" in r.getMessage() for r in caplog.records)
