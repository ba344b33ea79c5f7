"""Node.js for interop tests: run a script with the node_modules that the ``npm`` fixture installed.

    def test_x(npm: NpmInstaller) -> None:      # the npm fixture and NpmInstaller live in tests/conftest.py
        folder = npm("nats@2")               # node_modules/ inside folder
        out = run_node(folder, "console.log(require('nats').headers !== undefined)")

Without node or npm the test is skipped, and under CI=true it fails (the machine is meant to have them).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def run_node(folder: Path, script: str, *, timeout: float = 60.0, env: dict[str, str] | None = None) -> str:
    """Run ``script`` (CommonJS) with ``folder``'s node_modules; return stdout, raise with stderr on failure."""
    path = folder / f"script-{hashlib.sha256(script.encode()).hexdigest()[:12]}.cjs"
    path.write_text(script)
    done = subprocess.run(["node", str(path)], cwd=folder, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise AssertionError(f"node exited {done.returncode}:\n{done.stderr}\n{done.stdout}")
    return done.stdout
