"""nats-server processes of a test's own, from a config file, and the TLS files they need."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from interlink._embedded import free_port, server_binary

USER_SEED = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU"  # the example user seed of the NATS docs


class ConfiguredServer:
    """A nats-server of the test's own, from a config file."""

    def __init__(self, tmp: Path, config: str) -> None:
        self.port = free_port()
        path = tmp / f"server-{self.port}.conf"
        path.write_text(f'port: {self.port}\nhost: "127.0.0.1"\n{config}\n')
        log = tmp / f"server-{self.port}.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([server_binary(), "-c", str(path)], stdout=out, stderr=subprocess.STDOUT)
        end = time.monotonic() + 5
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server did not listen on {self.port}: {log.read_text()[-1500:]}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


@dataclass
class Certificates:
    """PEM files: a CA, a server certificate for 127.0.0.1/localhost and a client certificate, all by that CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _issue(name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
           *, ca: bool = False, server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_certificates(folder: Path) -> Certificates:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "interlink test CA")])
    ca_cert = _issue("interlink test CA", ca_key, ca_name, ca_key, ca=True)
    files = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem",
                         folder / "client.pem", folder / "client-key.pem")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    for cert_path, key_path, server in ((files.server_cert, files.server_key, True),
                                        (files.client_cert, files.client_key, False)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue("localhost" if server else "interlink client", key, ca_name, ca_key, server=server)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_key_pem(key))
    return files


def new_nkey(prefix: int) -> nkeys.KeyPair:
    """A fresh NKey pair of the given role (nkeys.PREFIX_BYTE_USER, _ACCOUNT, _OPERATOR)."""
    return nkeys.from_seed(nkeys.encode_seed(os.urandom(32), prefix))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_jwt(signer: nkeys.KeyPair, subject: nkeys.KeyPair, name: str, nats_claims: dict[str, Any]) -> str:
    """A NATS JWT (ed25519-nkey), as nsc issues it: ``subject``'s claims signed by ``signer``."""
    claims = {"jti": _b64(os.urandom(16)), "iat": int(time.time()), "iss": signer.public_key.decode(),
              "name": name, "sub": subject.public_key.decode(), "nats": {**nats_claims, "version": 2}}
    body = f"{_b64(json.dumps({'typ': 'JWT', 'alg': 'ed25519-nkey'}).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{body}.{_b64(signer.sign(body.encode()))}"


@dataclass
class Operator:
    """Operator mode (decentralised JWT auth): an operator, one account with JetStream, one user's .creds."""

    config: str
    creds: str


def operator_mode(folder: Path) -> Operator:
    operator, system, account, user = (new_nkey(p) for p in (
        nkeys.PREFIX_BYTE_OPERATOR, nkeys.PREFIX_BYTE_ACCOUNT, nkeys.PREFIX_BYTE_ACCOUNT, nkeys.PREFIX_BYTE_USER))
    unlimited = {"subs": -1, "data": -1, "payload": -1}
    limits = {**unlimited, "imports": -1, "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}
    operator_jwt = signed_jwt(operator, operator, "interlink-test",
                              {"type": "operator", "system_account": system.public_key.decode()})
    system_jwt = signed_jwt(operator, system, "SYS", {"type": "account", "limits": limits})
    account_jwt = signed_jwt(operator, account, "app", {"type": "account", "limits": {
        **limits, "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}})
    user_jwt = signed_jwt(account, user, "svc", {"type": "user", "pub": {}, "sub": {}, **unlimited})
    (folder / "operator.jwt").write_text(operator_jwt)
    config = (f'operator: "{folder / "operator.jwt"}"\nsystem_account: {system.public_key.decode()}\n'
              f'resolver: MEMORY\nresolver_preload: {{ {system.public_key.decode()}: "{system_jwt}", '
              f'{account.public_key.decode()}: "{account_jwt}" }}\n')
    creds = (f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
             "************************* IMPORTANT *************************\n"
             "NKEY Seed printed below can be used to sign and prove identity.\n\n"
             f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n------END USER NKEY SEED------\n")
    path = folder / "svc.creds"
    path.write_text(creds)
    return Operator(config, str(path))
