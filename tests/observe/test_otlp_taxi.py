"""The taxi demo under the OpenTelemetry SDK, exporting over OTLP/HTTP to a receiver the test runs:
one trace per ride, crossing every service; the gateway's SERVER span is the root of an HTTP ride."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.observe.otlp import OtlpReceiver, ReceivedSpan

TAXI_SERVICES = {"passenger", "trip", "billing", "dispatcher", "driver", "notification"}


def test_taxi_demo_gives_one_trace_per_ride_across_every_service() -> None:
    with OtlpReceiver() as receiver:
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "taxi-demo",
               "OTEL_BSP_SCHEDULE_DELAY": "200"}
        env.pop("INTERLINK_BROKER", None)
        done = subprocess.run([sys.executable, "-m", "interlink.cli", "demo", "--rides", "4", "--http-rides", "2",
                               "--json"], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    spans = receiver.spans
    assert spans and receiver.requests >= 1
    assert {s.resource.get("service.name") for s in spans} == {"taxi-demo"}
    traces: dict[str, list[ReceivedSpan]] = defaultdict(list)
    for s in spans:
        traces[s.trace_id].append(s)
    rides = {tid: ss for tid, ss in traces.items() if any(s.name == "process trip.request" for s in ss)}
    assert len(rides) == 6, {tid: sorted({s.name for s in ss}) for tid, ss in traces.items()}  # 4 + 2 over HTTP
    for ride in rides.values():
        services = {s.attributes.get("interlink.service") for s in ride} - {None}
        assert services >= TAXI_SERVICES, services
        ids = {s.span_id for s in ride}
        roots = [s for s in ride if not s.parent_id]
        assert len(roots) == 1, [s.name for s in roots]
        assert all(s.parent_id in ids for s in ride if s.parent_id), "a span whose parent is not in the trace"
    http_roots = [next(s for s in ride if not s.parent_id) for ride in rides.values()]
    gateway = [r for r in http_roots if r.kind == Span.SPAN_KIND_SERVER]
    assert len(gateway) == 2 and all(r.name == "POST /rides" for r in gateway), [r.name for r in http_roots]
