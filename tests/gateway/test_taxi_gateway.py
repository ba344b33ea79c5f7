"""The taxi example's gateway configuration, as the phone uses it."""

from __future__ import annotations

import time

import jwt

from interlink.examples.taxi.app import GATEWAY, app
from interlink.gateway import load_config
from tests.gateway.conftest import running

SECRET = "taxi-demo-secret-change-me-in-production"  # the configuration's default


def phone(passenger: str) -> dict[str, str]:
    token = jwt.encode({"sub": passenger, "aud": "taxi-phone", "exp": int(time.time()) + 60}, SECRET,
                       algorithm="HS256")
    return {"authorization": f"Bearer {token}"}


async def test_a_passenger_reads_only_their_own_live_updates(memory_url: str) -> None:
    async with running(load_config(GATEWAY), memory_url, known=app.services) as gw:
        r = await gw.client.get("/passengers/ada/events", headers=phone("bob"))
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        async with gw.client.stream("GET", "/passengers/ada/events", headers=phone("ada")) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
