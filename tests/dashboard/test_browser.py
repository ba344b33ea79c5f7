"""The dashboard in a real browser, on the taxi app running as users run it (separate processes).

One module-wide system: a NATS server of the test's own, ``interlink run`` of the
taxi app (3 drivers, its gateway), phones asking for rides at a steady rate, and
``interlink dashboard``. Each test drives Chromium through one view and saves
its screenshot (into a temporary folder; ``INTERLINK_SCREENSHOTS=docs/dashboard`` refreshes the
ones docs/dashboard.md shows).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import interlink
from interlink._embedded import NatsServer, free_port
from tests.conftest import NpmInstaller
from tests.dashboard.browser import browse, require_chromium

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "interlink.cli"]
TAXI = ["passenger", "trip", "billing", "dispatcher", "driver", "notification"]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def system() -> Iterator[dict[str, str]]:
    require_chromium()
    server = NatsServer().start()
    procs: list[subprocess.Popen[str]] = []
    try:
        taxi = _start(*CLI, "run", "interlink.examples.taxi.app:app", "--broker", server.url, "--instances",
                      "driver=3", "--json", "--http", f"127.0.0.1:{free_port()}")
        procs.append(taxi)
        assert taxi.stdout is not None
        assert json.loads(taxi.stdout.readline())["app"] == "taxi"
        procs.append(_start(sys.executable, "-m", "tests.dashboard.phones", server.url, "8"))
        port = free_port()
        board = _start(*CLI, "dashboard", "--broker", server.url, "--port", str(port))
        procs.append(board)
        assert board.stdout is not None
        line = board.stdout.readline()
        assert f"127.0.0.1:{port}" in line, line + (board.stderr.read() if board.stderr else "")
        yield {"broker": server.url, "base": f"http://127.0.0.1:{port}"}
    finally:
        for proc in reversed(procs):
            _stop(proc)
        server.cleanup()


@pytest.fixture(scope="module")
def pw(npm: NpmInstaller) -> Path:
    return npm("playwright-core@1")


def test_topology_shows_every_taxi_service_and_the_edges_seen(system: dict[str, str], pw: Path) -> None:
    browse(pw, system["base"], """
    await page.goto(base + '/topology');
    for (const name of TAXI) {
      await page.waitForSelector(`svg#graph g.node.service[data-name="${name}"]`);
    }
    await page.waitForFunction(() => document.querySelectorAll('svg#graph g.edge').length >= 6);
    const styles = await page.$$eval('svg#graph g.edge', es => [...new Set(es.map(e => e.dataset.style))]);
    for (const style of ['request/response', 'notification', 'request/async response', 'publish/subscribe',
                         'publish/async responses']) {
      expect(styles.includes(style), 'an edge of style ' + style + ' among ' + styles);
    }
    await page.waitForSelector('tr[data-service="driver"]');
    expect((await page.innerText('tr[data-service="driver"]')).includes('driver-'), 'driver instances listed');
    await shot('topology');
    """.replace("TAXI", json.dumps(TAXI)))


def test_flow_numbers_move_without_a_reload(system: dict[str, str], pw: Path) -> None:
    browse(pw, system["base"], """
    await page.goto(base + '/flow');
    const row = 'tr[data-subject="trip.request"][data-service="trip"] td.handled';
    await page.waitForSelector(row);
    await page.evaluate(() => { window.notReloaded = true; });
    const first = Number(await page.innerText(row));
    await page.waitForFunction(([sel, n]) => Number(document.querySelector(sel).innerText) > n + 5, [row, first]);
    expect(await page.evaluate(() => window.notReloaded === true), 'the page was updated in place');
    const rate = Number(await page.innerText('tr[data-subject="trip.request"][data-service="trip"] td.rate'));
    expect(rate > 0, 'a message rate above zero, got ' + rate);
    await page.waitForFunction(() => [...document.querySelectorAll('tr[data-subject="passenger.verify"] td')]
      .some(td => /ms$/.test(td.innerText)));
    await page.waitForTimeout(1500);
    await shot('flow');
    await page.goto(base + '/backlog');
    await page.waitForSelector('tr[data-subject="trip.request"]');
    await shot('backlog');
    """)


def test_a_poisoned_message_is_replayed_from_the_dead_letter_view(system: dict[str, str], pw: Path) -> None:
    async def poison() -> str:
        async with interlink.connect(system["broker"], name="poisoner") as bus:
            return await bus.notify("trip.request", {"ride_id": 42, "passenger_id": "p-poison"})

    poisoned = asyncio.run(poison())
    browse(pw, system["base"], """
    const id = POISONED;
    await page.goto(base + '/dead-letters');
    await page.waitForSelector(`tr[data-id="${id}"]`);
    expect((await page.innerText(`tr[data-id="${id}"]`)).includes('trip.request'), 'the subject is shown');
    await page.click(`tr[data-id="${id}"] button:has-text("Show")`);
    await page.waitForSelector('#detail table.headers');
    const detail = await page.innerText('#detail');
    expect(detail.includes('il-dead-reason') && detail.includes('p-poison'), 'headers and body shown');
    await page.waitForTimeout(300);
    await shot('dead-letters');
    await page.click(`tr[data-id="${id}"] button:has-text("Replay")`);
    await page.waitForSelector('#result .flash.ok');
    expect((await page.innerText('#result')).includes('Replayed dead letter ' + id), 'replay confirmed');
    await page.waitForFunction(
      i => document.querySelector('.actions-log').innerText.includes('replay dead letter ' + i), id);
    const again = await page.evaluate(async ([b, i]) => {
      const r = await fetch(b + '/dead-letters/' + i + '/replay',
                            { method: 'POST', headers: { 'HX-Request': 'true' } });
      return [r.status, await r.text()];
    }, [base, id]);
    expect(again[0] === 404 && again[1].includes('No dead letter with id'), 'a clear message for a gone letter');
    await page.fill('input[name="subject"]', 'billing.*');
    await page.waitForFunction(i => !document.querySelector(`tr[data-id="${i}"]`), id);
    """.replace("POISONED", json.dumps(poisoned)))

    async def replayed() -> list[interlink.DeadLetter]:
        async with interlink.connect(system["broker"], name="checker") as bus:
            for _ in range(50):
                found = [d for d in await bus.dead_letters.list() if d.headers.get("il-replay-of") == poisoned]
                if found:
                    return found
                await asyncio.sleep(0.1)
            return []

    again = asyncio.run(replayed())  # still invalid: the copy is dead-lettered again, naming the one it replays
    assert again and again[0].subject == "trip.request" and again[0].code == "invalid"


def test_live_tail_pauses_and_resumes(system: dict[str, str], pw: Path) -> None:
    browse(pw, system["base"], """
    await page.goto(base + '/tail?pattern=' + encodeURIComponent('trip.>'));
    await page.waitForFunction(() => document.querySelectorAll('#tail-rows tr.tail-row').length >= 5);
    const subjects = await page.$$eval('#tail-rows tr.tail-row', rs => rs.map(r => r.dataset.subject).filter(Boolean));
    expect(subjects.every(s => s.startsWith('trip.')), 'only trip.> subjects: ' + subjects.slice(0, 5));
    await page.click('#tail-rows tr.tail-row summary');
    await page.click('#pause');
    await page.waitForSelector('#resume');
    const paused = await page.$$eval('#tail-rows tr.tail-row', rs => rs.length);
    await page.waitForTimeout(1500);
    expect(await page.$$eval('#tail-rows tr.tail-row', rs => rs.length) === paused, 'no rows while paused');
    await shot('tail');
    await page.click('#resume');
    await page.waitForFunction(n => document.querySelectorAll('#tail-rows tr.tail-row').length > n, paused);
    """)


def test_a_rides_story(system: dict[str, str], pw: Path) -> None:
    browse(pw, system["base"], """
    await page.goto(base + '/story');
    await page.waitForSelector('ul.recent a[data-cid]');
    await page.waitForTimeout(1500);  // let that ride finish
    const link = await page.$$eval('ul.recent a[data-cid]', as => as[as.length - 1].getAttribute('href'));
    await page.goto(link.startsWith('http') ? link : new URL(link, base).href);
    await page.waitForFunction(() => document.querySelectorAll('table.story tr.step').length >= 8);
    const text = await page.innerText('table.story');
    for (const subject of ['trip.request', 'passenger.verify', 'billing.preauthorise', 'trip.payment-authorised',
                           'trip.created', 'driver.offer-requested', 'driver.proposed']) {
      expect(text.includes(subject), 'the story has ' + subject);
    }
    await shot('story');
    """)
