"""A 3-node nats-server cluster of a test's own: loopback ports for clients, routes and
monitoring, a store dir per node, JetStream on every node."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from interlink._embedded import free_port, server_binary


class Node:
    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.port, self.route_port, self.http_port = free_port(), free_port(), free_port()
        self.folder = folder
        self.config = folder / f"{name}.conf"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def write_config(self, routes: list[int], cluster: str) -> None:
        self.config.write_text(f"""
server_name: {self.name}
listen: 127.0.0.1:{self.port}
http: 127.0.0.1:{self.http_port}
jetstream {{ store_dir: "{self.folder / self.name}" }}
cluster {{
  name: {cluster}
  listen: 127.0.0.1:{self.route_port}
  routes: [{", ".join(f"nats-route://127.0.0.1:{port}" for port in routes)}]
}}
""")

    def start(self) -> None:
        with open(self.folder / f"{self.name}.log", "ab") as log:
            self.proc = subprocess.Popen([server_binary(), "-c", str(self.config)], stdout=log,
                                         stderr=subprocess.STDOUT)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.02)
        raise RuntimeError(f"nats-server {self.name} did not listen on {self.port}")

    def kill(self) -> None:
        """SIGKILL: the node is gone at once, without telling its peers."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        """SIGTERM: a clean shutdown."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def healthy(self) -> bool:
        """/healthz: up, and JetStream (meta, streams and consumers) caught up with the cluster."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=2) as answer:
                return bool(json.loads(answer.read()).get("status") == "ok")
        except OSError:
            return False


class NatsCluster:
    """Three nodes, n1..n3, started and routed to each other; ``url`` lists all three."""

    def __init__(self, size: int = 3, name: str = "interlink") -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="interlink-nats-cluster-"))
        self.nodes = [Node(f"n{i + 1}", self.folder) for i in range(size)]
        for node in self.nodes:
            node.write_config([n.route_port for n in self.nodes if n is not node], name)

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        for node in self.nodes:
            node.start()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0, nodes: list[Node] | None = None) -> float:
        """Wait until every (running) node reports healthy; returns the seconds it took."""
        start = time.monotonic()
        wanted = nodes or [node for node in self.nodes if node.proc is not None]
        while not all(node.healthy() for node in wanted):
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"cluster not healthy within {timeout}s: see the logs in {self.folder}")
            time.sleep(0.1)
        return time.monotonic() - start

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
