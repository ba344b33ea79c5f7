"""``interlink services`` and ``interlink top`` against served instances (memory broker, in process)."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from rich.console import Console

import interlink
from interlink.cli import parser
from interlink.cli._common import console
from interlink.cli._services import services, top
from interlink.examples.taxi.app import app as taxi
from interlink.examples.taxi.messages import VerifyPassenger
from interlink.testing import unique


async def test_services_lists_the_taxi_services_with_their_endpoints(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"memory://{unique()}"
    async with interlink.connect(url) as bus:
        await taxi.serve(bus)
        await bus.request("passenger.verify", VerifyPassenger("p1"))
        args = parser().parse_args(["services", "--broker", url, "--json"])
        assert await services(args) == 0
        found = json.loads(capsys.readouterr().out)
        assert {i["service"] for i in found} == {s.name for s in taxi.services}
        [passenger] = [i for i in found if i["service"] == "passenger"]
        assert [(e["subject"], e["num_requests"]) for e in passenger["endpoints"]] == [("passenger.verify", 1)]
        args = parser().parse_args(["services", "--broker", url, "--service", "trip"])
        width = console.width
        console.width = 160  # as wide as a terminal would be; captured output is 80 columns
        try:
            assert await services(args) == 0
        finally:
            console.width = width
        text = capsys.readouterr().out
        assert "1 instance(s)" in text and "trip.request" in text and "passenger" not in text


async def test_top_shows_live_rates_per_endpoint() -> None:
    url = f"memory://{unique()}"
    out = io.StringIO()
    screen_console = Console(file=out, width=140, force_terminal=False, record=True)
    async with interlink.connect(url) as bus:
        await taxi.serve(bus)
        stop = asyncio.Event()

        async def traffic() -> None:
            while not stop.is_set():
                await bus.request("passenger.verify", VerifyPassenger("p1"))
                await asyncio.sleep(0.01)

        load = asyncio.ensure_future(traffic())
        try:
            args = parser().parse_args(["top", "--broker", url, "--service", "passenger", "--interval", "0.5",
                                        "--iterations", "2"])
            assert await top(args, screen_console) == 0
        finally:
            stop.set()
            await load
    screen = screen_console.export_text()
    assert "interlink top" in screen and "passenger.verify" in screen
    row = [line for line in screen.splitlines() if "passenger.verify" in line][-1]
    rate = float(row.split("│")[5])
    assert rate > 5, row  # about 100/s asked; a contended machine still does well over 5
