"""Authentication (JWT HS256/RS256/JWKS, API keys), claims authorization, claims reaching the service."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from interlink import Context, Service
from tests.gateway.conftest import running

SECRET = "s3cret-for-tests-only-32-bytes-long!"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def jwk() -> dict[str, Any]:
    key: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    return {**key, "kid": "k1", "alg": "RS256", "use": "sig"}


def token(claims: dict[str, Any] | None = None, key: Any = SECRET, alg: str = "HS256", **headers: Any) -> str:
    body = {"sub": "p1", "role": "passenger", "exp": int(time.time()) + 60, **(claims or {})}
    return jwt.encode(body, key, algorithm=alg, headers=headers or None)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def whoami(p: str, seen: list[dict[str, str]]) -> Service:
    svc = Service(f"{p}who")

    @svc.endpoint(f"{p}.whoami")
    async def who(body: Any, ctx: Context) -> dict[str, str]:
        seen.append(dict(ctx.headers))
        return {"sub": ctx.headers.get("auth-sub", ""), "role": ctx.headers.get("x-role", "")}
    return svc


def config(p: str, jwt_section: str) -> str:
    return f"""
auth:
  jwt: {jwt_section}
  api_keys:
    - {{client: partner, key: pk-123, claims: {{role: partner}}}}
    - {{client: hashed, sha256: "{__import__('hashlib').sha256(b'hk-9').hexdigest()}"}}
  claims_to_headers: {{sub: auth-sub, role: x-role}}
routes:
  - {{path: /me, request: {p}.whoami, headers: {{x-note: header.x-note}}}}
  - {{path: /admin, request: {p}.whoami, claims: {{role: [admin, partner]}}}}
  - {{path: "/people/{{person}}/me", request: {p}.whoami, claims: {{sub: "{{person}}", role: [passenger, admin]}}}}
  - {{path: /open, request: {p}.whoami, auth: optional}}
  - {{path: /public, request: {p}.whoami, auth: none}}
  - {{method: POST, path: /later, send: {p}.whoami}}
"""


HS = f'{{secret: "{SECRET}"}}'


async def test_valid_hs256_token_reaches_the_service_as_headers(memory_url: str, prefix: str) -> None:
    seen: list[dict[str, str]] = []
    async with running(config(prefix, HS), memory_url, [whoami(prefix, seen)]) as gw:
        r = await gw.client.get("/me", headers=bearer(token()))
        assert r.status_code == 200 and r.json() == {"sub": "p1", "role": "passenger"}


@pytest.mark.parametrize("case", ["missing", "expired", "wrong_signature", "alg_none", "garbage", "no_exp",
                                  "basic_scheme"])
async def test_bad_or_missing_credentials_are_401(memory_url: str, prefix: str, case: str) -> None:
    headers = {
        "missing": {},
        "expired": bearer(token({"exp": int(time.time()) - 10})),
        "wrong_signature": bearer(token(key="another-secret-another-secret-32b")),
        "alg_none": bearer(_unsigned({"sub": "admin", "role": "admin", "exp": int(time.time()) + 60})),
        "garbage": bearer("not.a.token"),
        "no_exp": bearer(jwt.encode({"sub": "p1"}, SECRET, algorithm="HS256")),
        "basic_scheme": {"authorization": "Basic cDE6cHc="},
    }[case]
    async with running(config(prefix, HS), memory_url, [whoami(prefix, [])]) as gw:
        r = await gw.client.get("/me", headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"
        if case == "expired":
            assert "expired" in r.json()["message"]


def _unsigned(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_api_keys_plain_and_hashed(memory_url: str, prefix: str) -> None:
    async with running(config(prefix, HS), memory_url, [whoami(prefix, [])]) as gw:
        r = await gw.client.get("/me", headers={"x-api-key": "pk-123"})
        assert r.status_code == 200 and r.json() == {"sub": "partner", "role": "partner"}
        assert (await gw.client.get("/me", headers={"x-api-key": "hk-9"})).json()["sub"] == "hashed"
        assert (await gw.client.get("/me", headers={"x-api-key": "wrong"})).status_code == 401


async def test_claims_authorize_per_route(memory_url: str, prefix: str) -> None:
    async with running(config(prefix, HS), memory_url, [whoami(prefix, [])]) as gw:
        r = await gw.client.get("/admin", headers=bearer(token()))
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        assert (await gw.client.get("/admin", headers=bearer(token({"role": "admin"})))).status_code == 200
        assert (await gw.client.get("/admin", headers={"x-api-key": "pk-123"})).status_code == 200
        assert (await gw.client.get("/admin")).status_code == 401


async def test_a_claim_can_be_bound_to_a_path_parameter(memory_url: str, prefix: str) -> None:
    async with running(config(prefix, HS), memory_url, [whoami(prefix, [])]) as gw:
        assert (await gw.client.get("/people/p1/me", headers=bearer(token()))).status_code == 200
        r = await gw.client.get("/people/p2/me", headers=bearer(token()))  # someone else's path
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        assert (await gw.client.get("/people/p2/me", headers=bearer(token({"sub": "p2"})))).status_code == 200
        assert (await gw.client.get("/people/p1/me", headers=bearer(token({"role": "driver"})))).status_code == 403


def test_a_claim_bound_to_an_unknown_path_parameter_is_a_config_error() -> None:
    from interlink.gateway import ConfigError, load_config

    with pytest.raises(ConfigError, match="names no path parameter"):
        load_config(data={"routes": [{"path": "/a/{x}", "request": "s.t", "claims": {"sub": "{y}"}}]})


async def test_clients_cannot_set_identity_headers(memory_url: str, prefix: str) -> None:
    seen: list[dict[str, str]] = []
    async with running(config(prefix, HS), memory_url, [whoami(prefix, seen)]) as gw:
        spoof = {"auth-sub": "admin", "x-role": "admin", "il-from": "trip", "x-note": "hello"}
        r = await gw.client.get("/open", headers=spoof)
        assert r.status_code == 200 and r.json() == {"sub": "", "role": ""}
        r = await gw.client.get("/me", headers={**spoof, **bearer(token())})
        assert r.json() == {"sub": "p1", "role": "passenger"}
        assert seen[-1]["il-from"] != "trip"


async def test_optional_and_public_routes(memory_url: str, prefix: str) -> None:
    async with running(config(prefix, HS), memory_url, [whoami(prefix, [])]) as gw:
        assert (await gw.client.get("/open")).status_code == 200
        assert (await gw.client.get("/open", headers=bearer(token()))).json()["sub"] == "p1"
        assert (await gw.client.get("/open", headers=bearer("bad.bad.bad"))).status_code == 401
        assert (await gw.client.get("/public", headers=bearer("bad.bad.bad"))).status_code == 200


async def test_rs256_with_a_public_key_and_with_inline_jwks(memory_url: str, prefix: str) -> None:
    pem = json.dumps(PUBLIC_PEM)
    for section in (f"{{algorithms: [RS256], public_key: {pem}}}",
                    f"{{algorithms: [RS256], jwks: {json.dumps({'keys': [jwk()]})}}}"):
        async with running(config(prefix, section), memory_url, [whoami(prefix, [])]) as gw:
            good = token(key=RSA_KEY, alg="RS256", kid="k1")
            assert (await gw.client.get("/me", headers=bearer(good))).status_code == 200
            forged = token(key=OTHER_KEY, alg="RS256", kid="k1")
            assert (await gw.client.get("/me", headers=bearer(forged))).status_code == 401
            hs = token()  # an HS256 token where only RS256 is accepted
            assert (await gw.client.get("/me", headers=bearer(hs))).status_code == 401


@pytest.fixture
def jwks_url() -> Iterator[str]:
    body = json.dumps({"keys": [jwk()]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


async def test_rs256_with_a_jwks_url(memory_url: str, prefix: str, jwks_url: str) -> None:
    section = f"{{algorithms: [RS256], jwks_url: '{jwks_url}', audience: rides, issuer: https://id.example}}"
    async with running(config(prefix, section), memory_url, [whoami(prefix, [])]) as gw:
        claims = {"aud": "rides", "iss": "https://id.example"}
        good = token(claims, key=RSA_KEY, alg="RS256", kid="k1")
        assert (await gw.client.get("/me", headers=bearer(good))).status_code == 200
        wrong_aud = token({**claims, "aud": "billing"}, key=RSA_KEY, alg="RS256", kid="k1")
        assert (await gw.client.get("/me", headers=bearer(wrong_aud))).status_code == 401


async def test_a_send_reply_goes_only_to_its_caller(memory_url: str, prefix: str) -> None:
    async with running(config(prefix, HS), memory_url, [whoami(prefix, [])]) as gw:
        accepted = await gw.client.post("/later", json={}, headers=bearer(token()))
        location = accepted.headers["location"]
        mine = await gw.client.get(location, params={"wait": 5}, headers=bearer(token()))
        assert mine.status_code == 200 and mine.json()["sub"] == "p1"
        other = await gw.client.get(location, headers=bearer(token({"sub": "p2"})))
        assert other.status_code == 404
        assert (await gw.client.get(location)).status_code == 404
