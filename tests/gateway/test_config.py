"""The configuration: YAML and Python declarations, validated with real exceptions; the serve entry point."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

import interlink
from interlink import Service
from interlink.gateway import ConfigError, Gateway, GatewayConfig, Route, load_config, main, serve
from tests.gateway.conftest import free_port, running

GOOD = """
title: Rides
auth:
  jwt: {secret: "${RIDES_SECRET:-dev-secret}"}
routes:
  - method: POST
    path: /rides
    request: trip.create
  - path: /rides/{id}
    compose:
      parts:
        - {name: trip, request: trip.get, input: {id: path.id}}
        - {name: driver, request: driver.get, input: {id: parts.trip.driver_id}, required: false}
"""


def test_a_file_with_environment_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(GOOD)
    assert load_config(path).auth.jwt.secret == "dev-secret"  # type: ignore[union-attr]
    monkeypatch.setenv("RIDES_SECRET", "from-env")
    config = load_config(path)
    assert config.auth is not None and config.auth.jwt is not None and config.auth.jwt.secret == "from-env"
    assert [r.kind for r in config.routes] == ["request", "compose"]
    assert config.routes[0].name == "post_rides"


@pytest.mark.parametrize(("text", "message"), [
    ("routes: [{path: /x}]", "exactly one of"),
    ("routes: [{path: x, request: a}]", "must start with '/'"),
    ("routes: [{path: /x, request: 'a b'}]", "must match"),
    ("routes: [{path: /x, request: a, typo: 1}]", "unknown field `typo` - at `$.routes[0]`"),
    ("routes: [{path: /x, request: a, timeout: soon}]", "$.routes[0].timeout"),
    ("routes: [{path: /x, request: _private}]", "reserved"),
    ("routes: [{path: /x, request: a}, {path: /x, request: b}]", "declared twice"),
    ("routes: [{path: /metrics, request: a}]", "reserved by the gateway"),
    ("routes: [{path: '/x/{a}', request: a, input: {b: path.b}}]", "no parameter 'b'"),
    ("routes: [{path: /x, request: a, input: {b: cookie.b}}]", "must start with one of"),
    ("routes: [{path: /x, stream: 'a.{id}'}]", "no parameter 'id'"),
    ("routes: [{path: /x, method: POST, stream: a}]", "a stream route is a GET route"),
    ("routes: [{path: /x, request: a, headers: {il-cid: header.x}}]", "reserved by interlink"),
    ("auth: {jwt: {algorithms: [none], secret: s}}\nroutes: []", "'none' is never accepted"),
    ("auth: {jwt: {algorithms: [RS256]}}\nroutes: []", "needs a secret"),
    ("auth: {api_keys: [{client: c}]}\nroutes: []", "exactly one of key or sha256"),
    ("routes: [{path: /x, request: a, headers: {auth-sub: header.x}}]\nauth: {api_keys: []}", "claims"),
    ("routes: [{path: /x, request: a, rate_limit: {rate: 0, burst: 1}}]", "rate > 0"),
    ("routes: [{path: /x, compose: {parts: [{name: a, request: x}, {name: b, request: y, "
     "input: {v: parts.c.v}}]}}]", "earlier part"),
    ("routes: [{path: /x, request: '${NOT_SET_ANYWHERE}'}]", "NOT_SET_ANYWHERE is not set"),
    ("routes: [", "not valid YAML"),
    ("- just a list", "must be a mapping"),
])
def test_invalid_configurations_say_where_and_why(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(text=text)
    assert message in str(error.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    assert main([str(tmp_path / "nope.yaml")]) == 2


def test_python_declarations_are_checked_too() -> None:
    config = GatewayConfig(routes=[Route(path="/echo/{x}", request="echo.get")])
    assert config.routes[0].path_params == ["x"]
    with pytest.raises(ConfigError):
        Route(path="/x", request="a", notify="b")


async def test_an_unimportable_body_type_fails_when_the_gateway_is_built(memory_url: str) -> None:
    config = load_config(data={"routes": [{"path": "/x", "request": "a.b", "body_type": "no.such.module:Type"}]})
    async with interlink.connect(memory_url) as bus:
        with pytest.raises(ConfigError, match="cannot import body type"):
            Gateway(config, bus)


async def test_python_types_in_a_python_declaration(memory_url: str, prefix: str) -> None:
    svc = Service(f"{prefix}s")

    @svc.endpoint(f"{prefix}.sum")
    async def add(body: dict[str, int]) -> int:
        return sum(body.values())

    config = GatewayConfig(routes=[Route(method="POST", path="/sum", request=f"{prefix}.sum",
                                         body_type=dict[str, int])])
    async with running(config, memory_url, [svc]) as gw:
        assert (await gw.client.post("/sum", json={"a": 1, "b": 2})).json() == 3
        assert (await gw.client.post("/sum", json={"a": "x"})).status_code == 422


async def test_serve_runs_the_gateway_until_cancelled(tmp_path: Path, memory_url: str, prefix: str) -> None:
    svc = Service(f"{prefix}s")

    @svc.endpoint(f"{prefix}.echo")
    async def echo(body: Any) -> Any:
        return body

    path = tmp_path / "gateway.yaml"
    path.write_text(f"routes:\n  - {{path: '/echo/{{x}}', request: {prefix}.echo}}\n")
    port = free_port()
    async with interlink.connect(memory_url) as bus:
        await bus.serve(svc)
        task = asyncio.create_task(serve(path, memory_url, "127.0.0.1", port))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    r = await client.get("/echo/hi")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.02)
            assert r.status_code == 200 and r.json() == {"x": "hi"}
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
