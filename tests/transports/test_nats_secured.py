"""Secured NATS connections against nats-servers of the tests' own: TLS with client
certificates, token, user/password, NKey and ``.creds``."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

import interlink
from interlink import Service
from interlink.testing import unique
from tests.transports.nats_servers import Certificates, ConfiguredServer, make_certificates


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "certs")


@pytest.fixture
def tls_server(tmp_path: Path, certs: Certificates) -> Iterator[ConfiguredServer]:
    """TLS only, and a client certificate signed by the test CA required."""
    server = ConfiguredServer(tmp_path, f"""
tls {{ cert_file: "{certs.server_cert}", key_file: "{certs.server_key}", ca_file: "{certs.ca}", verify: true }}
jetstream {{ store_dir: "{tmp_path}/js" }}""")
    yield server
    server.stop()


async def round_trip(bus: interlink.Bus) -> None:
    """A request and a stored notification through the secured connection."""
    subject = unique("secured")
    svc = Service(unique("svc"))
    got: list[int] = []

    @svc.endpoint(subject)
    async def double(n: int) -> int:
        got.append(n)
        return n * 2

    await bus.serve(svc)
    assert await bus.request(subject, 21, timeout=5) == 42
    await bus.notify(subject, 1)
    assert 21 in got


def client_context(certs: Certificates, *, with_cert: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if with_cert:
        context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    return context


async def test_tls_context_given_to_connect(tls_server: ConfiguredServer, certs: Certificates) -> None:
    async with interlink.connect(f"tls://127.0.0.1:{tls_server.port}", tls=client_context(certs)) as bus:
        await round_trip(bus)


async def test_tls_server_refuses_a_client_without_certificate(tls_server: ConfiguredServer,
                                                              certs: Certificates) -> None:
    with pytest.raises(interlink.BrokerError, match="cannot connect"):
        async with interlink.connect(f"tls://127.0.0.1:{tls_server.port}",
                                     tls=client_context(certs, with_cert=False)):
            pass


async def test_tls_server_refuses_plain_connections(tls_server: ConfiguredServer) -> None:
    with pytest.raises(interlink.BrokerError, match="cannot connect"):
        async with interlink.connect(f"nats://127.0.0.1:{tls_server.port}"):
            pass


def test_tls_argument_must_be_a_context() -> None:
    with pytest.raises(ValueError, match="SSLContext"):
        interlink.connect("nats://127.0.0.1:4222", tls="ca.pem")  # type: ignore[arg-type]


def test_tls_argument_has_no_meaning_for_memory() -> None:
    with pytest.raises(ValueError, match="memory"):
        interlink.connect("memory://x", tls=ssl.create_default_context())
