"""``python -m bench.gateway``: wrk's report read right, a clear word when wrk is missing, and a tiny real run.

The real run needs wrk (``apt-get install -y wrk``) and NATS; without wrk it is
skipped with that reason, also under CI=true: wrk is a load generator for the
benchmark, not something interlink or its tests need. Not a timed test: it
asserts that every side answered, without errors, never a speed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bench._wrk import INSTALL, parse

from tests.conftest import require_broker

ROOT = Path(__file__).resolve().parent.parent
NATS_URL = os.environ.get("INTERLINK_NATS_URL", "nats://127.0.0.1:4222")

REPORT = """Running 1s test @ http://127.0.0.1:8000/echo/hello
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us    1.03ms  20.00ms   90.00%
    Req/Sec     3.95k   200.00     4.20k    70.00%
  Latency Distribution
     50%  750.00us
     75%    8.50ms
     90%    9.00ms
     99%    1.20s
  7865 requests in 1.00s, 1.00MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 5
Requests/sec:   7865.40
Transfer/sec:      1.00MB
"""


def test_wrk_report_is_read_with_its_units() -> None:
    result = parse(REPORT)
    assert result.requests == 7865 and result.seconds == 1.0 and result.rate == 7865.40
    assert result.p50_ms == pytest.approx(0.75) and result.p99_ms == pytest.approx(1200.0)
    assert result.errors == 6 and result.non_2xx == 5


def test_a_report_without_the_latency_distribution_is_refused() -> None:
    with pytest.raises(RuntimeError, match="cannot read wrk's report"):
        parse(REPORT.replace("     99%    1.20s\n", ""))


def test_missing_wrk_names_the_install_command(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty directory: no wrk on the PATH
    done = subprocess.run([sys.executable, "-m", "bench.gateway", "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert INSTALL in done.stderr


def test_quick_run_every_side_answers_without_errors() -> None:
    if shutil.which("wrk") is None:
        pytest.skip(f"wrk is not installed ({INSTALL}); the gateway benchmark needs it")
    require_broker(NATS_URL, "NATS")
    done = subprocess.run([sys.executable, "-m", "bench.gateway", "--quick", "--warmup", "0", "--json",
                           "--nats-url", NATS_URL], cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    rows = {row["side"]: row for row in result["rows"]}
    assert set(rows) == {"hello", "gateway", "fastapi"}, result["notes"]
    for side, row in rows.items():
        assert row["requests"] > 0 and row["rate"] > 0, (side, row)
        assert row["errors"] == 0 and row["non_2xx"] == 0, (side, row)
        assert 0 < row["p50_ms"] <= row["p99_ms"], (side, row)
    assert {r["ratio"] for r in result["ratios"]} == {"gateway/fastapi", "gateway/hello"}
    assert result["machine"]["wrk"].startswith("wrk") and result["machine"]["nats"].startswith("nats-server")


def test_worker_counts_are_read_and_one_is_always_there() -> None:
    from bench.gateway import _parse

    assert _parse(["--workers", "2,1"]).workers == [1, 2]
    assert _parse(["--workers", "3"]).workers == [1, 3]
    with pytest.raises(SystemExit):
        _parse(["--workers", "two"])
