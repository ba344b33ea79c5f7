"""``interlink gateway --workers 2``: two processes on one port, each answering some of the connections."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

import pytest

from interlink.gateway._workers import without_workers
from interlink.testing import unique
from tests.gateway.conftest import free_port

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing and /proc")
CONNECTIONS = 16


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _peer_ports(pid: int, port: int) -> set[int]:
    """The remote ports of the established connections to ``port`` that process ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if state == "01" and inode in inodes and int(local.rsplit(":", 1)[1], 16) == port:
            ports.add(int(remote.rsplit(":", 1)[1], 16))
    return ports


def _get(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    answer = b""
    while b'{"status":"ok"}' not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def test_without_workers_leaves_what_each_worker_runs() -> None:
    argv = ["gateway", "g.yaml", "--workers", "2", "--port=8000", "--broker", "nats://x", "--workers=3", "-v"]
    assert without_workers(argv) == ["gateway", "g.yaml", "--broker", "nats://x", "-v"]


def test_two_workers_share_the_port_and_both_answer(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("name: workers\nroutes:\n  - {name: echo, path: /echo, request: workers.echo}\n")
    port = free_port()
    log = (tmp_path / "log").open("w+")
    supervisor = subprocess.Popen([sys.executable, "-m", "interlink.cli", "gateway", str(config), "--broker",
                                   f"memory://{unique('w')}", "--port", str(port), "--workers", "2"],
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    sockets: list[socket.socket] = []
    try:
        end = time.monotonic() + 60
        while True:  # both workers up: two children, and the port answers
            assert supervisor.poll() is None, _text(log)
            workers = _children(supervisor.pid)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    up = answer.status == 200
            except OSError:
                up = False
            if up and len(workers) == 2 and "worker 1/2" in _text(log) and "worker 2/2" in _text(log):
                break
            assert time.monotonic() < end, _text(log)
            time.sleep(0.2)
        for _ in range(CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sockets.append(sock)
            assert _get(sock).startswith(b"HTTP/1.1 200 ")
        ours = {s.getsockname()[1] for s in sockets}
        served = {pid: _peer_ports(pid, port) & ours for pid in workers}
        assert all(served.values()), served  # each worker answered some of the connections
        assert set().union(*served.values()) == ours
    finally:
        for sock in sockets:
            sock.close()
        supervisor.send_signal(signal.SIGTERM)
        code = supervisor.wait(30)
        log.close()
    assert code == 0
    assert not _children(supervisor.pid)


def _text(log: IO[str]) -> str:
    log.seek(0)
    return log.read()
