"""The built wheel, installed alone into a fresh virtual environment outside the checkout, runs the demo.

This is what a new user does: ``pip install interlink`` then ``interlink demo``. The wheel must
carry the taxi example and import nothing that only the development extras install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]


def _run(*args: str | Path, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "INTERLINK_BROKER")}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _uv_install(bin_: Path, requirement: str) -> subprocess.CompletedProcess[str]:
    return _run(sys.executable, "-m", "uv", "pip", "install", "-q", "--python", bin_ / "python", requirement,
                cwd=bin_.parent.parent, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh venv's bin folder, the wheel), built from this checkout."""
    outside = tmp_path_factory.mktemp("wheel")
    assert CHECKOUT not in outside.parents
    source = outside / "source"  # a copy: no build/ or egg-info left in the checkout, nothing stale taken from it
    shutil.copytree(CHECKOUT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                 "-w", outside / "dist", source, cwd=outside, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next((outside / "dist").glob("interlink-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    assert {"interlink/examples/taxi/gateway.yaml", "interlink/gateway/_static/swagger-ui/swagger-ui-bundle.js",
            "interlink/gateway/_static/swagger-ui/LICENSE"} <= shipped
    # uv makes the virtual environment and installs into it as pip would (same resolution from the index),
    # fetching in parallel: the run fits CI's time
    made = _run(sys.executable, "-m", "uv", "venv", "-q", "--python", sys.executable, outside / "venv",
                cwd=outside, timeout=120)
    assert made.returncode == 0, made.stderr
    bin_ = outside / "venv" / "bin"
    installed = _uv_install(bin_, str(wheel))
    assert installed.returncode == 0, installed.stderr
    return bin_, wheel


def test_the_wheel_alone_runs_the_demo_from_outside_the_checkout(installed: tuple[Path, Path]) -> None:
    bin_, _ = installed
    cwd = bin_.parent.parent
    version = _run(bin_ / "interlink", "--version", cwd=cwd, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("interlink "), version
    demo = _run(bin_ / "interlink", "demo", "--rides", "6", "--json", cwd=cwd, timeout=120)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    report = json.loads(demo.stdout.splitlines()[-1])
    assert report["completed"] == 6 and report["http"] is None  # no gateway extra: the HTTP part is skipped
    assert "skipping the HTTP part" in demo.stdout + demo.stderr


def test_with_the_gateway_extra_the_demo_rides_through_http_too(installed: tuple[Path, Path]) -> None:
    bin_, wheel = installed
    cwd = bin_.parent.parent
    installed = _uv_install(bin_, f"interlink[gateway] @ {wheel.as_uri()}")
    assert installed.returncode == 0, installed.stderr
    demo = _run(bin_ / "interlink", "demo", "--rides", "4", "--http-rides", "2", "--json", cwd=cwd, timeout=120)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    report = json.loads(demo.stdout.splitlines()[-1])
    assert report["completed"] == 4 and report["http"]["completed"] == 2, report
    assert _run(bin_ / "python", "-c", "import httpx", cwd=cwd, timeout=60).returncode != 0  # dev-only: absent
    assert _run(bin_ / "python", "-c", "import interlink.cli._demo_http", cwd=cwd, timeout=60).returncode == 0
