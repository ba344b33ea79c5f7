"""Edge functions and bad input: validation, limits, rate limits, CORS, request ids, metrics, docs."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import msgspec

from interlink import Service
from tests.gateway.conftest import running


class Booking(msgspec.Struct):
    passenger_id: str
    seats: int
    note: str = ""


def echo(p: str) -> Service:
    svc = Service(f"{p}echo")

    @svc.endpoint(f"{p}.book")
    async def book(body: Booking) -> dict[str, Any]:
        return {"passenger_id": body.passenger_id, "seats": body.seats}

    @svc.endpoint(f"{p}.echo")
    async def echo_(body: Any) -> Any:
        return body
    return svc


def config(p: str, extra: str = "") -> str:
    return f"""
cors:
  allow_origins: [https://app.example]
limits: {{max_body: 2048, max_headers: 4096, body_timeout: 0.5}}
routes:
  - {{method: POST, path: /book, request: {p}.book, body_type: "tests.gateway.test_edge:Booking"}}
  - {{method: POST, path: "/book/{{passenger_id}}", request: {p}.book}}
  - {{path: "/seats/{{seats:int}}", request: {p}.echo}}
  - method: POST
    path: /schema
    request: {p}.echo
    body_schema:
      type: object
      required: [name]
      additionalProperties: false
      properties: {{name: {{type: string, maxLength: 5}}}}
  - {{method: POST, path: /big, request: {p}.echo, max_body: 100000}}
{extra}
"""


async def test_body_is_validated_before_it_goes_out(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url, [echo(prefix)]) as gw:
        ok = await gw.client.post("/book", json={"passenger_id": "p1", "seats": 2})
        assert ok.status_code == 200 and ok.json() == {"passenger_id": "p1", "seats": 2}
        wrong = await gw.client.post("/book", json={"passenger_id": "p1", "seats": "many"})
        assert wrong.status_code == 422
        assert wrong.json()["details"] == [{"field": "$.seats", "message": "Expected `int`, got `str`"}]
        missing = await gw.client.post("/book", json={"seats": 1})
        assert missing.status_code == 422 and "passenger_id" in missing.json()["details"][0]["message"]
        extra = await gw.client.post("/book", json={"passenger_id": "p1", "seats": 1, "admin": True})
        assert extra.status_code == 422 and extra.json()["details"] == [{"field": "$.admin",
                                                                         "message": "unknown field"}]


async def test_body_type_taken_from_the_service_and_path_values_converted(memory_url: str, prefix: str) -> None:
    svc = echo(prefix)
    async with running(config(prefix), memory_url, [svc], known=[svc]) as gw:
        ok = await gw.client.post("/book/p7", json={"seats": 3})
        assert ok.json() == {"passenger_id": "p7", "seats": 3}
        assert (await gw.client.post("/book/p7", json={"seats": "x"})).status_code == 422
        assert (await gw.client.get("/seats/4")).json() == {"seats": 4}
        assert (await gw.client.get("/seats/four")).status_code == 404  # the path does not match at all


async def test_json_schema_bodies(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url, [echo(prefix)]) as gw:
        assert (await gw.client.post("/schema", json={"name": "ada"})).json() == {"name": "ada"}
        r = await gw.client.post("/schema", json={"name": "too long", "x": 1})
        assert r.status_code == 422 and len(r.json()["details"]) == 2


async def test_bad_input_gets_short_json_4xx(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url, [echo(prefix)]) as gw:
        c = gw.client
        cases = [
            (await c.post("/book", content=b"{not json", headers={"content-type": "application/json"}), 400),
            (await c.post("/book", content=b"passenger_id=p1", headers={"content-type": "text/plain"}), 415),
            (await c.post("/book", content=b"x" * 5000, headers={"content-type": "application/json"}), 413),
            (await c.get("/nowhere"), 404),
            (await c.put("/book", json={}), 405),
            (await c.get("/me", headers={"x-filler": "y" * 5000}), 404),  # unknown route: 404 before limits
            (await c.post("/book", json={}, headers={"x-filler": "y" * 5000}), 431),
            (await c.post("/book", content=b"null", headers={"content-type": "application/json"}), 422),
        ]
        for response, status in cases:
            assert response.status_code == status, (status, response.text)
            body = response.json()
            assert set(body) <= {"error", "message", "details"} and len(response.content) < 400
        assert cases[4][0].headers["allow"] == "POST"


async def test_chunked_body_over_the_limit_is_413(memory_url: str, prefix: str) -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b" " * 500

    async with running(config(prefix), memory_url, [echo(prefix)]) as gw:
        r = await gw.client.post("/book", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        big = await gw.client.post("/big", json={"x": "y" * 5000})  # this route allows more
        assert big.status_code == 200


async def test_a_client_that_never_finishes_its_body_gets_408_quickly(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url, [echo(prefix)]) as gw:
        host, port = gw.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /book HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 100\r\n\r\n{\"passen")
        await writer.drain()
        start = time.monotonic()
        head = await asyncio.wait_for(reader.readline(), 5)
        assert head.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - start < 1.5
        writer.close()


async def test_cors_preflight_and_simple_requests(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url, [echo(prefix)]) as gw:
        ok = await gw.client.options("/book", headers={"origin": "https://app.example",
                                                        "access-control-request-method": "POST",
                                                        "access-control-request-headers": "content-type"})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        assert "POST" in ok.headers["access-control-allow-methods"]
        refused = await gw.client.options("/book", headers={"origin": "https://evil.example",
                                                             "access-control-request-method": "POST"})
        assert refused.status_code == 400 and refused.json()["error"] == "cors_refused"
        simple = await gw.client.post("/book", json={"passenger_id": "p", "seats": 1},
                                      headers={"origin": "https://app.example"})
        assert simple.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


async def test_rate_limit_per_client_with_headers(memory_url: str, prefix: str) -> None:
    extra = f"""  - {{path: /limited, request: {prefix}.echo, rate_limit: {{rate: 1, burst: 3}}}}
  - {{path: /free, request: {prefix}.echo}}"""
    async with running(config(prefix, extra), memory_url, [echo(prefix)]) as gw:
        answers = [await gw.client.get("/limited") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert answers[0].headers["ratelimit-limit"] == "3"
        assert answers[3].headers["retry-after"] == "1" and answers[3].json()["error"] == "rate_limited"
        assert (await gw.client.get("/free")).status_code == 200  # other routes have no limit
        await asyncio.sleep(1.05)
        assert (await gw.client.get("/limited")).status_code == 200  # refilled


async def test_request_ids_are_taken_or_made(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url, [echo(prefix)]) as gw:
        made = await gw.client.get("/seats/1")
        assert len(made.headers["x-request-id"]) == 32
        bad = await gw.client.get("/seats/1", headers={"x-request-id": "no spaces allowed"})
        assert bad.headers["x-request-id"] != "no spaces allowed"
        assert (await gw.client.get("/nowhere", headers={"x-request-id": "abc"})).headers["x-request-id"] == "abc"


async def test_metrics_docs_and_health(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url, [echo(prefix)]) as gw:
        await gw.client.get("/seats/2")
        await gw.client.get("/nowhere")
        text = (await gw.client.get("/metrics")).text
        assert 'interlink_gateway_requests_total{method="GET",route="get_seats_seats_int",status="200"} 1.0' in text
        assert 'route="-",status="404"' in text
        assert 'interlink_gateway_breaker_state{route="get_seats_seats_int"} 0.0' in text
        # the gateway's own families are labelled by route, never by raw path (the bus's own families, present
        # once bus metrics are on in this process, are labelled by declared subject and may carry the prefix)
        gateway_lines = [line for line in text.splitlines() if line.startswith("interlink_gateway_")]
        assert "interlink_gateway_request_duration_seconds_bucket" in text
        assert not [line for line in gateway_lines if prefix in line]
        assert "swagger-ui" in (await gw.client.get("/docs")).text
        assert (await gw.client.get("/readyz")).json() == {"status": "ready", "broker": True}


async def test_the_docs_page_needs_no_internet(memory_url: str, prefix: str) -> None:
    async with running(config(prefix), memory_url, [echo(prefix)]) as gw:
        page = (await gw.client.get("/docs")).text
        assets = re.findall(r'(?:href|src)="([^"]+)"', page)
        assert sorted(assets) == ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] and "://" not in page
        for asset, kind in zip(sorted(assets), ("text/javascript", "text/css"), strict=True):
            answer = await gw.client.get(asset)
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
            assert len(answer.content) > 100_000  # the real Swagger UI, not a stub
        assert "SwaggerUIBundle" in (await gw.client.get("/docs/swagger-ui-bundle.js")).text


async def test_one_access_log_line_per_request(memory_url: str, prefix: str, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="interlink.gateway.access")
    async with running(config(prefix), memory_url, [echo(prefix)]) as gw:
        await gw.client.get("/seats/3", headers={"x-request-id": "log-me"})
    lines = [r.getMessage() for r in caplog.records if r.name == "interlink.gateway.access"]
    assert len(lines) == 1
    assert '"GET /seats/3" 200' in lines[0] and "route=get_seats_seats_int" in lines[0] and "rid=log-me" in lines[0]
