"""Brokers of the fault tests' own, on free ports, that a test may kill and restart."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from interlink._embedded import NatsServer, free_port
from tests.transports.nats_servers import Certificates


class OwnBroker(Protocol):
    url: str

    def restart(self) -> None: ...
    def stop(self) -> None: ...


class OwnNats:
    def __init__(self) -> None:
        self.server = NatsServer().start()
        self.url = self.server.url

    def restart(self) -> None:
        self.server.stop()
        time.sleep(0.5)
        self.server.start()

    def stop(self) -> None:
        self.server.cleanup()


class OwnRedis:
    """redis-server with an append-only file fsynced on every write: a restart keeps the streams.

    ``persistent=False`` runs it as this machine's shared Redis runs, keeping nothing on disk.
    ``tls``: TLS only (``url`` is ``rediss://``), a client certificate by ``tls.ca`` required.
    ``config``: more settings, as ``--name value ...`` arguments (an ACL user: ``["--user", "bob on >pw ~* +@all"]``).
    """

    def __init__(self, persistent: bool = True, *, tls: Certificates | None = None,
                 config: Sequence[str] = ()) -> None:
        self.persistence = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="interlink-redis-")
        self.url = f"{'rediss' if tls else 'redis'}://127.0.0.1:{self.port}/0"
        self.listen = ["--port", str(self.port)]
        if tls is not None:
            self.listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(tls.server_cert),
                           "--tls-key-file", str(tls.server_key), "--tls-ca-cert-file", str(tls.ca),
                           "--tls-auth-clients", "yes"]
        self.config = list(config)
        self.proc: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, *self.listen, "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             *self.persistence, *self.config],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, proc=self.proc)

    def restart(self) -> None:
        self._kill()
        time.sleep(0.5)
        self._start()

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class OwnRabbit:
    """A RabbitMQ node of its own (loopback, free ports, data in a temporary dir); a restart keeps its queues.

    Run from the release's own script rather than Debian's /usr/sbin wrapper, which
    switches to the rabbitmq user and logs to /var/log. Nothing of the machine's
    node is read: its env file (node name), config (port 5672) and enabled
    plugins (management would want 15672) are replaced by empty or own files,
    and HOME points at the temporary dir so the Erlang cookie is created there
    (or written there: ``cookie``, shared by the nodes of a cluster and by
    :meth:`ctl`). The node registers with the machine's epmd (an Erlang node
    starts one if none runs, and that one outlives the test). A stop is a
    SIGTERM, which RabbitMQ answers with a clean shutdown (queues and persistent
    messages on disk, about 3 s); a start with the same dir recovers them (about
    6 s). ``tls``: a TLS listener too (``tls_url``), requiring a client certificate,
    with the EXTERNAL login (by the certificate's common name) enabled.
    """

    SCRIPT = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"

    def __init__(self, *, cookie: str | None = None, tls: Certificates | None = None, wait: bool = True) -> None:
        script = self.SCRIPT if os.path.exists(self.SCRIPT) else shutil.which("rabbitmq-server")
        if script is None:
            raise RuntimeError("rabbitmq-server is not installed")
        self.script = script
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.dir = Path(tempfile.mkdtemp(prefix="interlink-rabbit-"))
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.tls_url = f"amqps://guest:guest@127.0.0.1:{self.tls_port}/"
        self.nodename = f"iltest-{self.port}@localhost"
        self.env = self._environment(free_port(), cookie, tls)
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            self._spawn()
            if wait:
                self.wait()
        except BaseException:
            self.stop()
            raise

    def _environment(self, dist_port: int, cookie: str | None, tls: Certificates | None) -> dict[str, str]:
        config = f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
        plugins = "[]"
        if tls is not None:
            config += (f"listeners.ssl.default = 127.0.0.1:{self.tls_port}\n"
                       f"ssl_options.cacertfile = {tls.ca}\nssl_options.certfile = {tls.server_cert}\n"
                       f"ssl_options.keyfile = {tls.server_key}\nssl_options.verify = verify_peer\n"
                       "ssl_options.fail_if_no_peer_cert = true\n"
                       "auth_mechanisms.1 = PLAIN\nauth_mechanisms.2 = EXTERNAL\n"
                       "ssl_cert_login_from = common_name\n")
            plugins = "[rabbitmq_auth_mechanism_ssl]"
        (self.dir / "rabbitmq.conf").write_text(config)
        (self.dir / "enabled_plugins").write_text(f"{plugins}.\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        if cookie is not None:
            cookie_file = self.dir / ".erlang.cookie"
            cookie_file.write_text(cookie)
            cookie_file.chmod(0o400)
        return {
            **os.environ,
            "HOME": str(self.dir),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "node.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def _spawn(self) -> None:
        with open(self.dir / "console.log", "ab") as console:
            # a session of its own: the script and the Erlang VM it starts can be killed as one group
            self.proc = subprocess.Popen([self.script], env=self.env, stdout=console, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def wait(self, timeout: float = 90.0) -> None:
        """Until the node listens on its port(s) (a cluster node also waits for its peers' tables)."""
        try:
            for port in (self.port, self.tls_port) if self.tls_port else (self.port,):
                _wait_port(port, timeout=timeout, proc=self.proc)
        except RuntimeError as exc:
            tail = (self.dir / "console.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n{tail}") from None

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """``rabbitmqctl -n NODE ARGS`` as this node's user (its HOME, so its cookie); the output."""
        done = subprocess.run([self.CTL, "-n", self.nodename, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: exit {done.returncode}: {done.stderr or done.stdout}")
        return done.stdout

    def restart(self) -> None:
        self._kill()
        self._spawn()
        self.wait()

    def start(self) -> None:
        """Start again after :meth:`kill` or a stop, from the same data dir."""
        if self.proc is None:
            self._spawn()
            self.wait()

    def kill(self) -> None:
        """SIGKILL the node (script and VM): no shutdown, nothing flushed."""
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            _wait_closed(self.port)  # the VM, not the script, holds the port: gone only once it is refused

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        # SIGTERM to the script: it passes it on to the VM and waits for the clean shutdown
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the script and the VM alike
            proc.wait(10)

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitCluster:
    """``size`` :class:`OwnRabbit` nodes sharing an Erlang cookie, joined with ``rabbitmqctl join_cluster``.

    ``url`` names every node (``amqp://guest:guest@127.0.0.1:P1,127.0.0.1:P2,.../``).
    """

    def __init__(self, size: int = 3) -> None:
        cookie = secrets.token_hex(20)
        self.nodes: list[OwnRabbit] = []
        try:
            for _ in range(size):
                self.nodes.append(OwnRabbit(cookie=cookie, wait=False))
            for node in self.nodes:
                node.wait()
            with ThreadPoolExecutor() as pool:  # at once: each rabbitmqctl call boots a VM
                list(pool.map(lambda node: node.ctl("stop_app"), self.nodes[1:]))
            for node in self.nodes[1:]:  # one join at a time: two joining at once can fail mnesia's start
                self._join(node)
        except BaseException:
            self.stop()
            raise
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        self.url = f"amqp://guest:guest@{hosts}/"

    def _join(self, node: OwnRabbit) -> None:
        node.ctl("join_cluster", self.nodes[0].nodename)
        try:
            node.ctl("start_app")
        except RuntimeError:  # mnesia's start lost a race with the seed's schema sync: once more
            time.sleep(3)
            node.ctl("start_app")

    def leader(self, queue: str) -> OwnRabbit:
        """The node leading quorum queue ``queue`` (asked of a running node)."""
        asker = next(node for node in self.nodes if node.proc is not None)
        for line in asker.ctl("list_queues", "-q", "--no-table-headers", "name", "leader").splitlines():
            name, _, leader = line.partition("\t")
            if name == queue:
                return next(node for node in self.nodes if node.nodename == leader.strip())
        raise LookupError(f"no queue {queue!r} on the cluster")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _wait_port(port: int, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"broker exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {port}")


def _wait_closed(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                time.sleep(0.05)
        except OSError:
            return
    raise RuntimeError(f"port {port} still open {timeout:g}s after a kill")
