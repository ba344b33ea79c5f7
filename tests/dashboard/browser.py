"""Playwright (npm ``playwright-core``) driving Debian's Chromium, for the dashboard's browser tests.

``browse(folder, base_url, steps)`` runs ``steps`` (JavaScript, with ``page``, ``base``,
``shot(name)`` and ``expect(condition, message)`` in scope) in a fresh headless
Chromium, and fails with what the page said when a step throws.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.node import run_node

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Screenshots go to a temporary folder, so that a test run leaves the checkout as it was;
# INTERLINK_SCREENSHOTS=docs/dashboard refreshes the ones docs/dashboard.md shows.
SHOTS = Path(os.environ.get("INTERLINK_SCREENSHOTS") or Path(tempfile.gettempdir()) / "interlink-shots").resolve()

_PRELUDE = """
const { chromium } = require('playwright-core');
const fs = require('fs'), os = require('os'), path = require('path');
const base = %(base)s, shots = %(shots)s;
function expect(ok, message) { if (!ok) { throw new Error('expected: ' + message); } }
(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'interlink-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: %(chromium)s, headless: true, args: %(args)s,
    viewport: { width: 1360, height: 860 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', e => problems.push('page error: ' + e.message));
  page.on('dialog', d => d.accept());
  page.setDefaultTimeout(15000);
  async function shot(name) {
    fs.mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
  }
  try {
%(steps)s
    expect(problems.length === 0, 'no page errors, got ' + problems.join('; '));
  } catch (e) {
    console.error(String(e && e.stack || e));
    console.error('page text: ' + (await page.innerText('body').catch(() => '?')).slice(0, 3000));
    process.exitCode = 1;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
})();
"""


def require_chromium() -> str:
    if not os.path.exists(CHROMIUM):
        message = f"Chromium is not installed at {CHROMIUM} (scripts/browser.sh installs it)"
        if IN_CI:
            pytest.fail(message + " - under CI=true the browser tests need it")
        pytest.skip(message)
    return CHROMIUM


def browse(folder: Path, base: str, steps: str, *, timeout: float = 90.0) -> str:
    script = _PRELUDE % {"base": json.dumps(base), "shots": json.dumps(str(SHOTS)), "chromium": json.dumps(CHROMIUM),
                         "args": json.dumps(ARGS), "steps": steps}
    return run_node(folder, script, timeout=timeout)
