"""Brokers of the fault tests' own, on free ports, that a test may kill and restart."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Protocol

from interlink._embedded import NatsServer, free_port


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
    """

    def __init__(self, persistent: bool = True) -> None:
        self.persistence = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="interlink-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             *self.persistence],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port)

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
    and HOME points at the temporary dir so the Erlang cookie is created there.
    The node registers with the machine's epmd (an Erlang node starts one if none
    runs, and that one outlives the test). A stop is a SIGTERM, which RabbitMQ
    answers with a clean shutdown (queues and persistent messages on disk, about
    3 s); a start with the same dir recovers them (about 6 s).
    """

    SCRIPT = "/usr/lib/rabbitmq/bin/rabbitmq-server"

    def __init__(self) -> None:
        script = self.SCRIPT if os.path.exists(self.SCRIPT) else shutil.which("rabbitmq-server")
        if script is None:
            raise RuntimeError("rabbitmq-server is not installed")
        self.script = script
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="interlink-rabbit-"))
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.env = self._environment(free_port())
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _environment(self, dist_port: int) -> dict[str, str]:
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        return {
            **os.environ,
            "HOME": str(self.dir),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_NODENAME": f"iltest-{self.port}@localhost",
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "node.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def _start(self) -> None:
        with open(self.dir / "console.log", "ab") as console:
            # a session of its own: the script and the Erlang VM it starts can be killed as one group
            self.proc = subprocess.Popen([self.script], env=self.env, stdout=console, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_port(self.port, timeout=60.0, proc=self.proc)
        except RuntimeError as exc:
            tail = (self.dir / "console.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n{tail}") from None

    def restart(self) -> None:
        self._kill()
        self._start()

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
