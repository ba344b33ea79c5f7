"""Secured Redis connections against redis-servers of the tests' own: an ACL user limited to
its own keys and channels, and TLS requiring a client certificate signed by the test CA."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import interlink
from tests.faults.brokers import OwnRedis
from tests.transports.nats_servers import Certificates, make_certificates
from tests.transports.test_nats_secured import client_context, round_trip

# "default" is switched off: only this user may log in, only on keys and channels starting "app:",
# and without the dangerous commands (INFO, CONFIG, KEYS, ...).
ACL = ["--user", "default", "off", "--user", "app", "on", ">s3cret-pw", "~app:*", "&app:*", "+@all", "-@dangerous"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def acl_server() -> Iterator[OwnRedis]:
    server = OwnRedis(persistent=False, config=ACL)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_server(certs: Certificates) -> Iterator[OwnRedis]:
    server = OwnRedis(persistent=False, tls=certs, config=ACL)
    yield server
    server.stop()


def with_user(url: str, user: str = "app:s3cret-pw", query: str = "prefix=app") -> str:
    return url.replace("://", f"://{user}@") + f"?{query}"


async def test_an_acl_user_limited_to_its_prefix(acl_server: OwnRedis) -> None:
    async with interlink.connect(with_user(acl_server.url)) as bus:
        await round_trip(bus)


@pytest.mark.parametrize(("user", "query", "cause"), [
    ("app:wrong-pw", "prefix=app", "authentication failed"),
    ("", "prefix=app", "authentication failed"),
    ("app:s3cret-pw", "prefix=other", "no permissions to access one of the channels"),
])
async def test_a_refused_login_or_key_is_a_clear_broker_error(acl_server: OwnRedis, user: str, query: str,
                                                              cause: str) -> None:
    url = with_user(acl_server.url, user, query) if user else f"{acl_server.url}?{query}"
    start = time.monotonic()
    with pytest.raises(interlink.BrokerError, match=cause) as err:
        async with interlink.connect(url):
            pass
    assert time.monotonic() - start < 5.0
    assert "wrong-pw" not in str(err.value) and "s3cret" not in str(err.value)


async def test_client_certificate_from_url_options(tls_server: OwnRedis, certs: Certificates) -> None:
    query = f"prefix=app&ssl_ca_certs={certs.ca}&ssl_certfile={certs.client_cert}&ssl_keyfile={certs.client_key}"
    async with interlink.connect(with_user(tls_server.url, query=query)) as bus:
        await round_trip(bus)


async def test_tls_context_given_to_connect(tls_server: OwnRedis, certs: Certificates) -> None:
    url = with_user(tls_server.url.replace("rediss://", "redis://"))  # a context given: TLS all the same
    async with interlink.connect(url, tls=client_context(certs)) as bus:
        await round_trip(bus)


async def test_no_client_certificate_is_refused_clearly(tls_server: OwnRedis, certs: Certificates) -> None:
    start = time.monotonic()
    with pytest.raises(interlink.BrokerError, match=f"cannot connect to rediss://app:\\*\\*\\*@127.0.0.1:{tls_server.port}"):
        async with interlink.connect(with_user(tls_server.url), tls=client_context(certs, with_cert=False)):
            pass
    assert time.monotonic() - start < 5.0


@pytest.mark.parametrize(("query", "cause"), [
    ("ssl_certfile={missing}", "ssl_certfile='{missing}' cannot be read"),
    ("ssl_no_such_option=1", "bad URL"),
])
def test_bad_tls_options_are_named(tmp_path: Path, query: str, cause: str) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(interlink.BrokerError, match=re.escape(cause.format(missing=missing))):
        interlink.connect(f"rediss://127.0.0.1:1/0?{query.format(missing=missing)}")
    with pytest.raises(interlink.BrokerError, match="is a TLS option: use rediss://"):
        interlink.connect(f"redis://127.0.0.1:1/0?{query.format(missing=missing)}")
