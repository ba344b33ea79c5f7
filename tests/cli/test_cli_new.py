"""``interlink new NAME``: the project it lays out passes its own tests on memory and on NATS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from interlink.cli import main
from interlink.cli._common import FAILED, OK, USAGE
from tests.conftest import NATS_URL, require_broker

QUIET = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:anyio"]


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "INTERLINK_TEST_BROKER"}
    env["PYTHONPATH"] = str(project / "src")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", *QUIET, *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=240)


def test_new_lays_out_a_project_whose_tests_pass_on_memory_and_nats(tmp_path: Path) -> None:
    assert main(["new", "pay-desk", "--dir", str(tmp_path)]) == OK
    project = tmp_path / "pay-desk"
    assert {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()} == {
        "pyproject.toml", "README.md", "src/pay_desk/__init__.py", "src/pay_desk/service.py",
        "tests/test_service.py"}
    done = _pytest(project)
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout + done.stderr
    strict = _pytest(project, "-o", "asyncio_mode=strict", "--interlink-broker", require_broker(NATS_URL, "NATS"))
    assert strict.returncode == 0 and "3 passed" in strict.stdout, strict.stdout + strict.stderr


def test_new_refuses_a_bad_name_and_an_existing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "Bad.Name", "--dir", str(tmp_path)]) == USAGE
    assert "not a service name" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert main(["new", "taken", "--dir", str(tmp_path)]) == FAILED
    assert "already exists" in capsys.readouterr().err
