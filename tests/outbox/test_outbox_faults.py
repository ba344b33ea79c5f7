"""Outbox and inbox under SIGKILL, with real processes on NATS and PostgreSQL.

Every committed message is delivered, none of the rolled-back ones, whatever dies when: the writer
between its commits and the relay, a relay in the middle of a batch. A handler killed after its
commit and before its acknowledgement has its effect once; the redelivery is acknowledged as a
duplicate. Each run prints its figures.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

import interlink
from interlink.testing import unique
from tests.conftest import NATS_URL, require_broker
from tests.faults.harness import ROOT, Figures, Workers, _readline, wait_until

pytestmark = [pytest.mark.fault]


def spawn(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.outbox.procs", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    if _readline(proc, 30).strip() != "ready":
        proc.kill()
        raise RuntimeError(f"{args[0]} did not start")
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(10)


def numbers(path: Path) -> set[int]:
    return {int(line) for line in path.read_text().split()} if path.exists() else set()


async def sql(dsn: str, query: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def test_writer_and_relay_killed_lose_nothing_and_send_no_rollback(dsn: str, schema: str,
                                                                          tmp_path: Path) -> None:
    url = require_broker(NATS_URL, "NATS")
    await sql(dsn, f"CREATE TABLE {schema}.writes (n int)")
    workers = Workers(url, unique("fault"), unique("work"), tmp_path / "handled", ["--ack-wait", "2"])
    workers.outdir.mkdir()
    workers.start(1)
    procs: list[subprocess.Popen[str]] = []
    try:
        writer = spawn("writer", url, dsn, schema, workers.subject, str(tmp_path), "0", "100000", "--relay")
        procs.append(writer)
        await asyncio.to_thread(wait_until, lambda: len(numbers(tmp_path / "committed")) >= 300, 60)
        kill(writer)  # between commits and their relay: some committed rows are not relayed yet
        after_writer = len(workers.handled())
        writer2 = spawn("writer", url, dsn, schema, workers.subject, str(tmp_path), "200000", "2000")
        procs.append(writer2)
        writer2.wait(120)  # no relay of its own: a backlog of committed rows
        relay = spawn("relay", url, dsn, schema, "500")
        procs.append(relay)
        before = len(workers.handled())
        await asyncio.to_thread(wait_until, lambda: len(workers.handled()) > before + 50, 60)
        kill(relay)  # mid-batch: published some of its 500, committed none of them
        left = await sql(dsn, f"SELECT count(*) FROM {schema}.interlink_outbox WHERE relayed IS NULL")
        procs.append(spawn("relay", url, dsn, schema, "100"))
        committed = numbers(tmp_path / "committed")
        done = await asyncio.to_thread(wait_until, lambda: committed <= {int(k) for k in workers.handled()}, 90)
    finally:
        for proc in procs:
            if proc.poll() is None:
                kill(proc)
        workers.stop()
    handled = workers.handled()
    got = {int(k) for k in handled}
    rolled = numbers(tmp_path / "rolledback")
    figures = Figures("outbox: writer and relay SIGKILLed", len(committed), len(committed & got),
                      sum(handled.values()) - len(handled))
    figures.print()
    print(f"[fault] handled when the writer died: {after_writer}; unrelayed rows after the relay died: {left}; "
          f"rolled back: {len(rolled)}, of them delivered: {len(rolled & got)}")
    assert done and figures.lost == 0
    assert not rolled & got
    assert len(got - committed) <= 1  # at most the writer's last: committed, then killed before noting it


async def test_inbox_handler_killed_after_commit_has_its_effect_once(dsn: str, schema: str,
                                                                       tmp_path: Path) -> None:
    url = require_broker(NATS_URL, "NATS")
    await sql(dsn, f"CREATE TABLE {schema}.effects (message_id text)")
    service, subject = unique("inbox"), unique("apply")
    first = spawn("inbox", url, dsn, schema, service, subject, str(tmp_path))
    procs = [first]
    try:
        async with interlink.connect(url) as bus:
            for n in range(20):
                await bus.notify(subject, n)
            message_id = await bus.notify(subject, "die")
            await asyncio.to_thread(first.wait, 30)  # it killed itself after its commit
            procs.append(spawn("inbox", url, dsn, schema, service, subject, str(tmp_path)))
            duplicates = tmp_path / "duplicates"
            redelivered = await asyncio.to_thread(
                wait_until, lambda: duplicates.exists() and message_id in duplicates.read_text(), 30)
            effects = await sql(dsn, f"SELECT count(*) FROM {schema}.effects WHERE message_id = '{message_id}'")
            total = await sql(dsn, f"SELECT count(*) FROM {schema}.effects")
    finally:
        for proc in procs:
            if proc.poll() is None:
                kill(proc)
    print(f"\n[fault] inbox: handler SIGKILLed after commit: effect rows for its message={effects}, "
          f"all effects={total} of 21, redelivery acknowledged as duplicate={redelivered}")
    assert first.returncode == -9
    assert redelivered and effects == 1 and total == 21
