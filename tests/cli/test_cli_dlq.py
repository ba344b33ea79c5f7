"""``interlink dlq list/show/replay/purge`` against the machine's NATS, through bus.dead_letters."""

from __future__ import annotations

import asyncio
import json

import pytest

import interlink
from interlink import Service, ServiceError
from interlink.cli import main
from interlink.cli._common import FAILED, OK
from interlink.testing import unique
from tests.conftest import NATS_URL, require_broker


async def _dead_lettered(url: str, svc: Service, subject: str, count: int) -> None:
    async with interlink.connect(url) as bus:
        await bus.serve(svc)
        for n in range(count):
            await bus.notify(subject, n)
        for _ in range(200):
            if len(await bus.dead_letters.list(service=svc.name)) == count:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the messages were not dead-lettered")


def test_dlq_commands_list_show_replay_and_purge_one_service(capsys: pytest.CaptureFixture[str]) -> None:
    url = require_broker(NATS_URL, "NATS")
    svc = Service(unique("clidlq"))
    subject = f"{unique('clidlq')}.pay"

    @svc.endpoint(subject, max_attempts=1)
    async def pay(n: int) -> None:
        raise ServiceError("declined", f"card {n}")

    asyncio.run(_dead_lettered(url, svc, subject, 3))
    capsys.readouterr()
    assert main(["dlq", "--broker", url, "--json", "list", "--service", svc.name]) == OK
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and {r["code"] for r in rows} == {"declined"} and rows[0]["subject"] == subject
    assert main(["dlq", "--broker", url, "--json", "show", rows[0]["id"]]) == OK
    shown = json.loads(capsys.readouterr().out)
    assert shown["body"] == 0 and shown["reason"] == "declined: card 0" and shown["headers"]["il-id"] == rows[0]["id"]
    assert main(["dlq", "--broker", url, "show", "no-such-id"]) == FAILED
    assert "no dead letter" in capsys.readouterr().err
    # replayed with nobody serving: a durable send waits for the service; purge it afterwards
    assert main(["dlq", "--broker", url, "--json", "replay", rows[0]["id"]]) == OK
    assert json.loads(capsys.readouterr().out)["replayed"] == 1
    assert main(["dlq", "--broker", url, "--json", "purge", "--service", svc.name, "--code", "declined"]) == OK
    assert json.loads(capsys.readouterr().out) == {"removed": 2}
    assert main(["dlq", "--broker", url, "--json", "list", "--service", svc.name]) == OK
    assert json.loads(capsys.readouterr().out) == []
