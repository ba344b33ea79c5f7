"""What interlink's observability costs on NATS: request/response with 50 in flight and publish/subscribe.

    .venv/bin/python -m bench.observe_overhead                      # 5 rounds, about 2 minutes
    .venv/bin/python -m bench.observe_overhead --bare /tmp/bare/bin/python --rounds 7 --markdown

Variants (each measured in a fresh process; the rounds interleave the variants
and the median round of each is kept):

(a) nothing: opentelemetry-api not importable (``--bare PYTHON``: an interpreter
    whose environment has interlink without the otel extras); without ``--bare``
    ``INTERLINK_TRACING=off``, which takes the very same code path (constant no-op hooks).
(b) opentelemetry-api installed, no SDK tracer provider set (the hooks look at the
    global provider once per message and step aside).
(c) the SDK with a BatchSpanProcessor and an exporter that drops every span.
(d) metrics on (``enable_metrics()``), tracing as in (a).
(o) the code path of (a) (``INTERLINK_TRACING=off``) in the environment of (b)-(d): the
    difference between (a) and (o) is what the machine's noise and the environments alone make.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
from typing import Any

VARIANTS = {
    "a": "nothing installed",
    "o": "(a) again, in the SDK's environment (noise floor)",
    "b": "opentelemetry-api, no SDK",
    "c": "SDK + no-op exporter",
    "d": "metrics on",
}


def _setup(variant: str) -> None:
    if variant == "c":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        class Drop(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop()))
        trace.set_tracer_provider(provider)
    elif variant == "d":
        from prometheus_client import CollectorRegistry

        from interlink.observe import enable_metrics

        enable_metrics(CollectorRegistry())


async def _measure(variant: str, url: str, n_req: int, n_pub: int) -> dict[str, float]:
    _setup(variant)
    from bench._workload import Sink, run_pubsub, run_requests
    from bench.interlink_side import InterlinkSide

    side = InterlinkSide(url, prefix=f"bench.obs{os.getpid()}")
    sink = Sink()
    await side.start(sink)
    try:
        req = await run_requests(side, "nats", "req50", n_req, 50, max(50, n_req // 10))
        pub = await run_pubsub(side, sink, "nats", "pubsub", n_pub, max(50, n_pub // 10))
    finally:
        await side.close()
    import interlink.observe._hooks as hooks

    return {"req50": req.rate, "req50_p50_us": req.p50_us, "pubsub": pub.rate, "req50_cpu_us": req.cpu_us,
            "pubsub_cpu_us": pub.cpu_us,
            "tracing": float(hooks._TRACING), "otel_importable": float(_importable("opentelemetry.trace"))}


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _child(variant: str, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ)
    python = sys.executable
    if variant in ("a", "d", "o"):
        env["INTERLINK_TRACING"] = "off"
        if variant == "a" and args.bare:
            python = args.bare
            env.pop("INTERLINK_TRACING")
    cmd = [python, "-m", "bench.observe_overhead", "--child", variant, "--url", args.url,
           "--req", str(args.req), "--pub", str(args.pub)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.observe_overhead")
    p.add_argument("--url", default="nats://127.0.0.1:4222")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--req", type=int, default=20_000, help="requests per measurement (50 in flight)")
    p.add_argument("--pub", type=int, default=50_000, help="events per measurement")
    p.add_argument("--bare", default=None, help="python of an environment without opentelemetry (variant a)")
    p.add_argument("--variants", default="aobcd")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_measure(args.child, args.url, args.req, args.pub))))
        return
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
    for _ in range(args.rounds):
        for v in args.variants:
            runs[v].append(_child(v, args))
    result = {v: {k: statistics.median(r[k] for r in rs) for k in ("req50", "req50_p50_us", "pubsub", "req50_cpu_us",
                                                                  "pubsub_cpu_us")}
              | {"otel_importable": rs[0]["otel_importable"], "tracing": rs[0]["tracing"]}
              for v, rs in runs.items()}
    if not args.markdown:
        print(json.dumps(result, indent=2))
        return
    base = result.get("a")
    print("| variant | req/resp 50 in flight: replies/s | vs (a) | CPU µs per request | vs (a) | "
          "pub/sub: events/s | vs (a) | CPU µs per event | vs (a) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for v, r in result.items():
        cells = [f"({v}) {VARIANTS[v]}"]
        for key in ("req50", "req50_cpu_us", "pubsub", "pubsub_cpu_us"):
            ratio = f"{r[key] / base[key]:.3f}" if base and base[key] else "-"
            cells += [f"{r[key]:,.1f}" if "cpu" in key else f"{r[key]:,.0f}", ratio]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
