"""Processes, counting and the figures every fault run prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Workers:
    """Service instances, each in its own process, logging what they handle into ``outdir``."""

    url: str
    service: str
    subject: str
    outdir: Path
    options: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, count: int = 1, timeout: float = 20.0) -> list[subprocess.Popen[str]]:
        started = []
        for _ in range(count):
            errors = self.outdir / f"worker-{len(self.procs)}.err"  # kept: a worker that fails says why
            with open(errors, "w") as stderr:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.faults.worker", self.url, self.service, self.subject,
                     str(self.outdir), *self.options],
                    cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                )
            self.procs.append(proc)
            started.append((proc, errors))
        for proc, errors in started:
            line = _readline(proc, timeout)
            if line.strip() != "ready":
                self.stop()
                tail = errors.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"worker did not start (exit code {proc.poll()}):\n{tail}")
        return [proc for proc, _ in started]

    def kill(self, proc: subprocess.Popen[str]) -> None:
        proc.kill()
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def handled(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for log in self.outdir.glob("*.log"):
            counts.update(line for line in log.read_text().split("\n") if line)
        return counts


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    if proc.stdout is None:
        return ""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return proc.stdout.readline()


def wait_until(check: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Figures:
    scenario: str
    sent: int
    handled: int
    duplicates: int
    dead_lettered: int = 0

    @property
    def lost(self) -> int:
        return self.sent - self.handled - self.dead_lettered

    def print(self) -> None:
        print(f"\n[fault] {self.scenario}: sent={self.sent} handled={self.handled} duplicates={self.duplicates} "
              f"dead-lettered={self.dead_lettered} lost={self.lost}")


def probe(port: int, path: str = "/readyz") -> tuple[int, dict[str, object]]:
    """GET a health endpoint on loopback: (status, JSON body); (0, {}) when nothing answers."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}


@dataclass
class RunProcess:
    """``interlink run TARGET --health`` in a process of its own (SIGTERM drains it)."""

    proc: subprocess.Popen[str]
    health_port: int

    @classmethod
    def start(cls, target: str, broker: str, env: dict[str, str], *options: str) -> RunProcess:
        from interlink._embedded import free_port

        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "interlink.cli", "run", target, "--broker", broker, "--json",
             "--health", f"127.0.0.1:{port}", *options],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env})
        return cls(proc, port)

    def ready(self) -> bool:
        return probe(self.health_port)[0] == 200

    def wait_ready(self, timeout: float = 30.0) -> None:
        if not wait_until(lambda: self.ready() or self.proc.poll() is not None, timeout) or not self.ready():
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise RuntimeError(f"interlink run was not ready within {timeout}s (exit {self.proc.poll()}): {err}")

    def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM, then wait: (exit code, seconds it took to leave)."""
        started = time.monotonic()
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def handler_log(outdir: Path) -> tuple[Counter[str], int]:
    """From rolling_app's logs: how often each body was handled to the end, and handlers cut off
    (a ``start`` without its ``done`` in the same process)."""
    done: Counter[str] = Counter()
    cut_off = 0
    for log in outdir.glob("*.log"):
        started: Counter[str] = Counter()
        finished: Counter[str] = Counter()
        for line in log.read_text().splitlines():
            kind, _, body = line.partition(" ")
            (started if kind == "start" else finished)[body] += 1
        done.update(finished)
        cut_off += sum((started - finished).values())
    return done, cut_off
