"""The plugin's fixtures and the two ported examples, run as a user runs them: pytest in a subprocess,
in pytest-asyncio's strict and auto modes, on memory and on NATS, and with anyio instead of pytest-asyncio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import NATS_URL, require_broker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["examples/airports", "examples/orders"]

ANYIO_TEST = '''
import pytest
import interlink
from interlink import Service

@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

@pytest.mark.anyio
async def test_echo(interlink_bus: interlink.Bus, interlink_harness) -> None:
    svc = Service("echo")

    @svc.endpoint("echo.it")
    async def it(x: int) -> int:
        return x

    await interlink_bus.serve(svc)
    assert await interlink_bus.request("echo.it", 3) == 3
    await interlink_harness.settled()
    assert [h.result for h in interlink_harness.handled("echo.it")] == [3]
'''


# plugins the examples do not use, left out because loading them takes seconds per run
QUIET = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:schemathesis"]
BLOCK_PYTEST_ASYNCIO = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pytest_asyncio":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
"""


def run_pytest(args: list[str], cwd: Path, *, block_pytest_asyncio: bool = False) -> subprocess.CompletedProcess[str]:
    prelude = BLOCK_PYTEST_ASYNCIO if block_pytest_asyncio else ""
    code = prelude + "\nimport sys, pytest; sys.exit(pytest.main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if k != "INTERLINK_TEST_BROKER"}
    return subprocess.run([sys.executable, "-c", code, "-q", *QUIET, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("mode", ["strict", "auto"])
@pytest.mark.parametrize("broker", ["memory", "nats"])
def test_the_ported_examples_pass_in_each_mode_and_broker(mode: str, broker: str) -> None:
    args = ["-p", "no:anyio", "-o", f"asyncio_mode={mode}", *EXAMPLES]
    if broker == "nats":
        args = ["--interlink-broker", require_broker(NATS_URL, "NATS"), *args]
    done = run_pytest(args, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout


def test_without_pytest_asyncio_the_fixtures_run_under_anyio(tmp_path: Path) -> None:
    (tmp_path / "test_echo.py").write_text(ANYIO_TEST)
    done = run_pytest(["-p", "no:asyncio", "test_echo.py"], tmp_path, block_pytest_asyncio=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
