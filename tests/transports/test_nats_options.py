"""The URL options of nats:// (read at construction, so a mistake surfaces at connect)."""

from __future__ import annotations

import ssl
from pathlib import Path

import nkeys  # type: ignore[import-untyped]
import pytest
from nats.js.api import StorageType

import interlink
from interlink.cli import main
from interlink.cli._common import BROKER
from interlink.transports.nats import NatsTransport
from interlink.transports.nats._options import parse
from tests.conftest import NATS_URL, require_broker
from tests.transports.nats_servers import USER_SEED, make_certificates


def test_options_are_ours_on_any_url_and_leave_the_servers_clean() -> None:
    options = parse("nats://a:4222?retention=60,nats://u:p@b:4222?replicas=2&max_age=12h&max_bytes=512MiB"
                    "&storage=memory&dead_max_age=30d")
    assert options.url == "nats://a:4222,nats://u:p@b:4222"
    assert (options.retention, options.replicas, options.max_age) == (60.0, 2, 43_200.0)
    assert (options.max_bytes, options.storage, options.dead_max_age) == (512 << 20, StorageType.MEMORY, 30 * 86_400.0)


def test_defaults() -> None:
    options = parse("nats://a:4222")
    assert (options.retention, options.replicas, options.max_age, options.max_bytes) == (3 * 86_400.0, None,
                                                                                         7 * 86_400.0, 1 << 30)
    assert options.storage == StorageType.FILE and options.tls is None and options.creds is None


def test_no_limit_is_spelled_none() -> None:
    options = parse("nats://a:4222?max_age=none&max_bytes=none")
    assert (options.max_age, options.max_bytes) == (0.0, -1)


@pytest.mark.parametrize(("query", "named"), [
    ("retention=0", "retention"), ("retention=-5", "retention"), ("retention=soon", "retention"),
    ("retention=none", "retention"), ("replicas=0", "replicas"), ("replicas=7", "replicas"),
    ("replicas=two", "replicas"), ("max_age=3w", "max_age"), ("max_bytes=lots", "max_bytes"),
    ("max_bytes=0", "max_bytes"), ("storage=tape", "storage"), ("colour=blue", "unknown option 'colour'"),
    ("tls_ca=/no/such/ca.pem", "tls_ca"), ("creds=/no/such.creds", "creds"), ("nkey=/no/such.nk", "nkey"),
])
def test_bad_options_are_refused_at_connect_naming_the_option(query: str, named: str) -> None:
    with pytest.raises(interlink.BrokerError, match=named) as err:
        interlink.connect(f"nats://u:secret@127.0.0.1:4222?{query}")
    assert "secret" not in str(err.value)


def test_malformed_creds_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "user.creds"
    path.write_text("-----BEGIN NATS USER JWT-----\nnot-a-jwt\n------END NATS USER JWT------\n")
    with pytest.raises(interlink.BrokerError, match=r"creds=.*no '-----BEGIN NATS USER JWT-----'"):
        NatsTransport(f"nats://127.0.0.1:4222?creds={path}")
    path.write_text("-----BEGIN NATS USER JWT-----\naaa.bbb.ccc\n------END NATS USER JWT------\n")
    with pytest.raises(interlink.BrokerError, match="no '-----BEGIN USER NKEY SEED-----'"):
        NatsTransport(f"nats://127.0.0.1:4222?creds={path}")
    path.write_text("-----BEGIN NATS USER JWT-----\naaa.bbb.ccc\n------END NATS USER JWT------\n"
                    "-----BEGIN USER NKEY SEED-----\nSUAAAAAAAAAAAAAA\n------END USER NKEY SEED------\n")
    with pytest.raises(interlink.BrokerError, match="malformed NKey seed") as err:
        NatsTransport(f"nats://127.0.0.1:4222?creds={path}")
    assert "SUAAAA" not in str(err.value)


def test_nkey_file_must_hold_a_user_seed(tmp_path: Path) -> None:
    path = tmp_path / "user.nk"
    path.write_text("UABC")  # a public key, not a seed
    with pytest.raises(interlink.BrokerError, match=r"nkey=.*NKey user seed"):
        NatsTransport(f"nats://127.0.0.1:4222?nkey={path}")
    seed = nkeys.from_seed(USER_SEED.encode())
    path.write_text(seed.seed.decode() + "\n")
    assert NatsTransport(f"nats://127.0.0.1:4222?nkey={path}").options.nkey == str(path)


def test_creds_and_nkey_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_text("x")
    with pytest.raises(interlink.BrokerError, match="either creds= or nkey="):
        NatsTransport(f"nats://127.0.0.1:4222?creds={path}&nkey={path}")


def test_tls_files_make_a_context(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    options = parse(f"nats://127.0.0.1:4222?tls_ca={certs.ca}&tls_cert={certs.client_cert}"
                    f"&tls_key={certs.client_key}&tls_hostname=localhost")
    assert isinstance(options.tls, ssl.SSLContext) and options.tls_hostname == "localhost"
    assert options.tls.verify_mode == ssl.CERT_REQUIRED


def test_tls_file_that_is_no_certificate_is_refused(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    with pytest.raises(interlink.BrokerError, match="tls_ca"):
        parse(f"nats://127.0.0.1:4222?tls_ca={certs.client_key}")
    with pytest.raises(interlink.BrokerError, match="tls_cert"):
        parse(f"nats://127.0.0.1:4222?tls_cert={certs.ca}&tls_key={certs.client_key}")
    with pytest.raises(interlink.BrokerError, match="tls_key= needs tls_cert="):
        parse(f"nats://127.0.0.1:4222?tls_key={certs.client_key}")


def test_tls_context_and_tls_files_together_are_refused(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    with pytest.raises(interlink.BrokerError, match="either"):
        interlink.connect(f"nats://127.0.0.1:4222?tls_ca={certs.ca}", tls=ssl.create_default_context())


@pytest.mark.parametrize("query", ["colour=blue", "creds=/no/such.creds", "replicas=3", "max_age=soon"])
def test_the_cli_reports_a_bad_option_in_one_line(query: str, capsys: pytest.CaptureFixture[str]) -> None:
    """replicas=3 on the machine's single server is refused once connected, the others before."""
    require_broker(NATS_URL, "NATS")
    assert main(["--broker", f"nats://127.0.0.1:4222?{query}", "request", "options.cli", "1"]) == BROKER
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and query.split("=")[0] in err, err
