"""Secured NATS connections against nats-servers of the tests' own: TLS with client
certificates, token, user/password, NKey and ``.creds``."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import nkeys  # type: ignore[import-untyped]
import pytest

import interlink
from interlink import Service
from interlink.testing import unique
from tests.transports.nats_servers import (
    USER_SEED,
    Certificates,
    ConfiguredServer,
    make_certificates,
    new_nkey,
    operator_mode,
)


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


async def test_tls_by_url_options(tls_server: ConfiguredServer, certs: Certificates) -> None:
    url = (f"nats://127.0.0.1:{tls_server.port}?tls_ca={certs.ca}&tls_cert={certs.client_cert}"
           f"&tls_key={certs.client_key}")
    async with interlink.connect(url) as bus:
        await round_trip(bus)


async def test_tls_hostname_names_the_certificate_when_connecting_by_ip(tls_server: ConfiguredServer,
                                                                       certs: Certificates) -> None:
    files = f"tls_ca={certs.ca}&tls_cert={certs.client_cert}&tls_key={certs.client_key}"
    async with interlink.connect(f"nats://127.0.0.1:{tls_server.port}?{files}&tls_hostname=localhost") as bus:
        await round_trip(bus)
    with pytest.raises(interlink.BrokerError, match="cannot connect"):
        async with interlink.connect(f"nats://127.0.0.1:{tls_server.port}?{files}&tls_hostname=elsewhere.test"):
            pass


def js_server(tmp_path: Path, authorization: str) -> ConfiguredServer:
    return ConfiguredServer(tmp_path, f'{authorization}\njetstream {{ store_dir: "{tmp_path}/js" }}')


async def refused(url: str) -> str:
    """The BrokerError of a connection the server refuses; it comes within seconds, not a hang."""
    start = time.monotonic()
    with pytest.raises(interlink.BrokerError) as err:
        async with interlink.connect(url):
            pass
    assert time.monotonic() - start < 6.0
    return str(err.value)


@pytest.mark.parametrize(("authorization", "good", "bad"), [
    ('authorization { token: "s3cret-token" }', "s3cret-token", "wrong-token"),
    ('authorization { users = [{ user: "ada", password: "p4ss" }] }', "ada:p4ss", "ada:nope"),
])
async def test_token_or_user_and_password_in_the_url(tmp_path: Path, authorization: str, good: str, bad: str) -> None:
    server = js_server(tmp_path, authorization)
    try:
        async with interlink.connect(f"nats://{good}@127.0.0.1:{server.port}") as bus:
            await round_trip(bus)
        text = await refused(f"nats://{bad}@127.0.0.1:{server.port}")
        assert "authorization" in text.lower() and bad.split(":")[-1] not in text
    finally:
        server.stop()


async def test_nkey_seed_file(tmp_path: Path) -> None:
    user = nkeys.from_seed(USER_SEED.encode())
    server = js_server(tmp_path, f'authorization {{ users = [{{ nkey: "{user.public_key.decode()}" }}] }}')
    seed, stranger = tmp_path / "user.nk", tmp_path / "stranger.nk"
    seed.write_text(USER_SEED + "\n")
    stranger.write_text(new_nkey(nkeys.PREFIX_BYTE_USER).seed.decode())
    try:
        async with interlink.connect(f"nats://127.0.0.1:{server.port}?nkey={seed}") as bus:
            await round_trip(bus)
        assert "authorization" in (await refused(f"nats://127.0.0.1:{server.port}?nkey={stranger}")).lower()
        assert "authorization" in (await refused(f"nats://127.0.0.1:{server.port}")).lower()
    finally:
        server.stop()


async def test_creds_file_on_an_operator_mode_server(tmp_path: Path) -> None:
    """A JWT chain signed by an operator the server trusts; a .creds file from another operator is refused."""
    trusted, other = tmp_path / "trusted", tmp_path / "other"
    trusted.mkdir()
    other.mkdir()
    operator = operator_mode(trusted)
    server = js_server(tmp_path, operator.config)
    try:
        async with interlink.connect(f"nats://127.0.0.1:{server.port}?creds={operator.creds}") as bus:
            await round_trip(bus)
        text = await refused(f"nats://127.0.0.1:{server.port}?creds={operator_mode(other).creds}")
        assert "authorization" in text.lower() or "authentication" in text.lower(), text
    finally:
        server.stop()
