"""Compose routes: several services' answers merged into one JSON document.

Parts run in parallel unless one reads another's answer (``parts.NAME.field`` in its
``input``): then it runs after that one. A failing ``required`` part fails the
whole request (its error mapped to a status, the other calls cancelled); a failing
optional part leaves ``null`` (or its fallback), and the response says which parts
are missing, in the ``X-Incomplete`` header and the ``_incomplete`` list of the body.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from interlink._resilience import Policy
from interlink.gateway._config import ConfigError, Part, Route
from interlink.gateway._http import HTTPError, from_exception, json_response
from interlink.gateway._inputs import Inputs, Sources
from interlink.gateway._routes import FALLEN, RouteEndpoint, Runtime, policy

INCOMPLETE_HEADER = "X-Incomplete"
INCOMPLETE_KEY = "_incomplete"


@dataclass(slots=True)
class _Plan:
    part: Part
    inputs: Inputs
    policy: Policy
    needs: frozenset[str]  # names of the parts whose answers it reads


class _Missing(Exception):
    """An optional part failed (or a part it needs did)."""


class ComposeRoute(RouteEndpoint):
    def __init__(self, route: Route, runtime: Runtime) -> None:
        super().__init__(route, runtime)
        if route.compose is None:
            raise ConfigError(f"route {route.name} is not a compose route")
        self.merge = route.compose.merge
        self.plans = [
            _Plan(part, Inputs(route, part.input, runtime.endpoint_types.get(part.subject)),
                  policy(part, runtime, route.method), _needs(part))
            for part in route.compose.parts
        ]
        self.inputs.reads_body = self.inputs.reads_body or any(p.inputs.reads_body for p in self.plans)

    async def handle(self, request: Request) -> Response:
        src = await Sources.of(request, self.inputs.reads_body)
        loop = asyncio.get_running_loop()
        end = loop.time() + self.timeout
        missing: list[str] = []
        done: set[str] = set()
        pending = list(self.plans)
        while pending:  # each round runs, in parallel, the parts whose needs are answered
            ready = [p for p in pending if p.needs <= done]
            pending = [p for p in pending if not p.needs <= done]
            tasks = [asyncio.ensure_future(self._part(p, src, request, end, missing)) for p in ready]
            try:
                for plan, value in zip(ready, await asyncio.gather(*tasks), strict=True):
                    src.parts[plan.part.name] = value
            finally:
                for task in tasks:
                    task.cancel()
            done.update(p.part.name for p in ready)
        return self._document(src.parts, missing)

    async def _part(self, plan: _Plan, src: Sources, request: Request, end: float, missing: list[str]) -> Any:
        part = plan.part
        try:
            if plan.needs & set(missing):
                raise _Missing(part.name)
            value = await self._call(plan, src, request, end)
        except Exception as exc:
            if part.required:
                if isinstance(exc, _Missing):
                    raise HTTPError(502, "bad_gateway", "a required part could not be fetched") from None
                raise from_exception(exc) from None
            missing.append(part.name)
            return part.fallback.body if part.fallback is not None else None
        if value is FALLEN:
            missing.append(part.name)
            return part.fallback.body if part.fallback is not None else None
        return value

    async def _call(self, plan: _Plan, src: Sources, request: Request, end: float) -> Any:
        part = plan.part
        left = end - asyncio.get_running_loop().time()
        if left <= 0:
            raise HTTPError(504, "timeout", "the services did not answer in time")
        body = plan.inputs.body(src)
        headers = plan.inputs.headers(src, request)
        if part.gather is not None:
            replies = await self.bus.gather(part.gather, body, min(part.within, left), headers=headers)
            return [r.body for r in replies]
        timeout = min(part.timeout or left, left)
        return await self.bus.request(part.subject, body, timeout, headers=headers, policy=plan.policy)

    def _document(self, values: dict[str, Any], missing: list[str]) -> Response:
        if self.merge:
            doc: dict[str, Any] = {}
            for plan in self.plans:
                value = values.get(plan.part.name)
                if isinstance(value, dict):
                    doc.update(value)
                else:
                    doc[plan.part.name] = value
        else:
            doc = {plan.part.name: values.get(plan.part.name) for plan in self.plans}
        headers = {}
        if missing:
            ordered = [p.part.name for p in self.plans if p.part.name in missing]
            doc[INCOMPLETE_KEY] = ordered
            headers[INCOMPLETE_HEADER] = ", ".join(ordered)
        return json_response(doc, headers=headers)


def _needs(part: Part) -> frozenset[str]:
    names = set()
    for source in (part.input or {}).values():
        if isinstance(source, str) and source.startswith("parts."):
            names.add(source.split(".")[1])
    return frozenset(names)
