"""``amqps://`` against a RabbitMQ node of the tests' own whose TLS listener requires a client
certificate signed by the test CA (one node for the module: a node takes seconds to boot)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import interlink
from tests.faults.brokers import OwnRabbit
from tests.transports.nats_servers import Certificates, make_certificates
from tests.transports.test_nats_secured import client_context, round_trip

CLIENT = "interlink client"  # the common name of the test client certificate: its user for auth=external


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def node(certs: Certificates) -> Iterator[OwnRabbit]:
    rabbit = OwnRabbit(tls=certs)
    try:
        rabbit.ctl("add_user", CLIENT, "not-used-by-external-logins")
        rabbit.ctl("set_permissions", "-p", "/", CLIENT, ".*", ".*", ".*")
    except BaseException:
        rabbit.stop()
        raise
    yield rabbit
    rabbit.stop()


def files(certs: Certificates, *, cert: bool = True) -> str:
    query = f"cafile={certs.ca}"
    if cert:
        query += f"&certfile={certs.client_cert}&keyfile={certs.client_key}"
    return query


async def test_client_certificate_from_url_options(node: OwnRabbit, certs: Certificates) -> None:
    async with interlink.connect(f"{node.tls_url}?{files(certs)}") as bus:
        await round_trip(bus)


async def test_tls_context_given_to_connect(node: OwnRabbit, certs: Certificates) -> None:
    # an amqp:// URL with a context: the connection is TLS all the same
    url = node.tls_url.replace("amqps://", "amqp://")
    async with interlink.connect(url, tls=client_context(certs)) as bus:
        await round_trip(bus)


async def test_login_by_the_client_certificate(node: OwnRabbit, certs: Certificates) -> None:
    async with interlink.connect(f"amqps://127.0.0.1:{node.tls_port}/?auth=external&{files(certs)}") as bus:
        await round_trip(bus)


@pytest.mark.parametrize("case", ["no client certificate", "server not trusted"])
async def test_a_refused_handshake_is_a_clear_broker_error(node: OwnRabbit, certs: Certificates, tmp_path: Path,
                                                           case: str) -> None:
    if case == "no client certificate":
        url = f"{node.tls_url}?{files(certs, cert=False)}&connect_timeout=5"
    else:
        other = make_certificates(tmp_path / "other")  # the server's certificate is not by this CA
        url = f"{node.tls_url}?cafile={other.ca}&certfile={certs.client_cert}&keyfile={certs.client_key}"
    start = time.monotonic()
    with pytest.raises(interlink.BrokerError) as err:
        async with interlink.connect(url):
            pass
    assert time.monotonic() - start < 6.0
    text = str(err.value)
    print(f"\n[tls] {case}: {text}")
    assert f"127.0.0.1:{node.tls_port}" in text and "guest@" in text and ":guest@" not in text
    expected = ("CERTIFICATE_VERIFY_FAILED",) if case == "server not trusted" else (
        "require a client certificate", "CERTIFICATE_REQUIRED")  # a reset or the TLS 1.3 alert, as it comes
    assert any(cause in text for cause in expected)


async def test_an_unreadable_tls_file_is_named(node: OwnRabbit, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(interlink.BrokerError, match=re.escape(f"certfile={str(missing)!r} cannot be read")):
        interlink.connect(f"{node.tls_url}?certfile={missing}")
