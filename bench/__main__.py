"""``python -m bench``: interlink beside the raw client and FastStream, same broker, one run.

    python -m bench                      # every broker, full counts (a few minutes)
    python -m bench --broker nats --quick
    python -m bench --json > result.json # figures for scripts
    python -m bench --markdown           # the table for docs/benchmarks.md
    python -m bench --broker memory --profile prof/   # a cProfile per side and test in prof/

Exit status: 0 when every measurement ran (targets are reported, not enforced),
1 when a measurement failed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import sys
import time
from typing import Any

from bench._machine import broker_version, cpu_share, cpu_snapshot, load, machine
from bench._plan import BROKERS, FULL, QUICK, URLS, Counts, groups_for
from bench._profile import Profiles
from bench._stats import Figure, markdown_table, print_table
from bench._workload import Side, Sink, run_pubsub, run_requests

MEASUREMENT_TIMEOUT = 600.0


def _progress(text: str, quiet: bool) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


async def measure(side: Side, sink: Sink, broker: str, test: str, counts: Counts) -> Figure:
    if test in ("req1", "req50"):
        n = counts.req1 if test == "req1" else counts.req50
        return await run_requests(side, broker, test, n, 1 if test == "req1" else 50, Counts.warmup(n))
    n = counts.pubsub if test == "pubsub" else counts.durable
    return await run_pubsub(side, sink, broker, test, n, Counts.warmup(n))


def _median(figures: list[Figure]) -> Figure:
    ordered = sorted(figures, key=lambda f: f.rate)
    return ordered[len(ordered) // 2]


async def run_broker(broker: str, url: str, counts: Counts, repeat: int, quiet: bool,
                     notes: list[str], profiles: Profiles | None = None) -> list[Figure]:
    """Every group of sides on ``broker``; repeated runs interleave the sides, the median run is kept."""
    figures: list[Figure] = []
    for group in groups_for(broker, url):
        notes.extend(f"{broker}: {reason}" for reason in group.skipped)
        started: list[tuple[Side, Sink]] = []
        for side in group.sides:
            sink = Sink()
            try:
                await side.start(sink)
            except Exception as exc:
                notes.append(f"{broker} {side.name}: could not start: {type(exc).__name__}: {exc}")
                await side.close()
                continue
            started.append((side, sink))
        try:
            for test in group.tests:
                runs: dict[str, list[Figure]] = {}
                for _ in range(repeat):
                    for side, sink in started:
                        if test not in side.tests:
                            continue
                        gc.collect()
                        try:
                            with profiles.of(broker, test, side.name) if profiles else contextlib.nullcontext():
                                figure = await asyncio.wait_for(measure(side, sink, broker, test, counts),
                                                                MEASUREMENT_TIMEOUT)
                        except Exception as exc:
                            notes.append(f"{broker} {test} {side.name}: failed: {type(exc).__name__}: {exc}")
                            continue
                        _progress(f"{broker:8} {test:16} {side.name:11} {figure.rate:>10,.0f}/s  "
                                  f"p50 {figure.p50_us:>8,.0f} µs  p99 {figure.p99_us:>9,.0f} µs  "
                                  f"cpu {figure.cpu_us:6.1f} µs/msg", quiet)
                        runs.setdefault(side.name, []).append(figure)
                figures.extend(_median(r) for r in runs.values())
        finally:
            for side, _ in started:
                await side.close()
    return figures


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--broker", action="append", choices=[*BROKERS, "all"],
                        help="broker to measure (repeatable; default all)")
    parser.add_argument("--quick", action="store_true", help="a few hundred messages per test (a smoke run)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per measurement, the median is kept (default 3; 1 with --quick)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    for name in ("req1", "req50", "pubsub", "durable"):
        parser.add_argument(f"--{name}", type=int, metavar="N", help=f"messages per {name} measurement")
    parser.add_argument("--profile", metavar="DIR", help="write a cProfile per broker, test and side into DIR "
                        "(<broker>-<test>-<side>.prof and a .txt of the top functions); figures are slower then")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio",
                        help="the event loop every side runs on (default asyncio)")
    for broker in ("nats", "rabbitmq", "redis"):
        parser.add_argument(f"--{broker}-url", default=URLS[broker], help=f"default {URLS[broker]}")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if any(n is not None and n < 1 for n in (args.req1, args.req50, args.pubsub, args.durable)):
        parser.error("message counts must be at least 1")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    chosen = args.broker or ["all"]
    brokers = list(BROKERS) if "all" in chosen else [b for b in BROKERS if b in chosen]
    overrides = {name: getattr(args, name) for name in ("req1", "req50", "pubsub", "durable")
                 if getattr(args, name) is not None}
    repeat = args.repeat or (1 if args.quick else 3)
    info = machine()
    notes: list[str] = []
    versions: dict[str, str] = {}
    figures: list[Figure] = []
    started = time.perf_counter()
    shares: dict[str, dict[str, float]] = {}
    used: dict[str, dict[str, int]] = {}
    warnings = _WarningCounter()
    logging.getLogger("interlink").addHandler(warnings)
    logging.getLogger("interlink").propagate = False
    first = cpu_snapshot()
    for broker in brokers:
        url = URLS["memory"] if broker == "memory" else getattr(args, f"{broker}_url")
        versions[broker] = await broker_version(broker, url)
        if versions[broker].startswith("unreachable"):
            notes.append(f"{broker}: skipped, {versions[broker]}")
            continue
        counts = dataclasses.replace(QUICK if args.quick else FULL[broker], **overrides)
        used[broker] = {"req1": counts.req1, "req50": counts.req50, "pubsub": counts.pubsub,
                        "durable": counts.durable, "repeat": repeat}
        before = cpu_snapshot()
        profiles = Profiles(args.profile) if args.profile else None
        figures += await run_broker(broker, url, counts, repeat, args.json, notes, profiles)
        shares[broker] = cpu_share(before, cpu_snapshot())
        notes.extend(warnings.take(broker))
    shares["all"] = cpu_share(first, cpu_snapshot())
    info["cpu_share_percent"] = shares
    info["load_after"] = load()
    info["seconds"] = round(time.perf_counter() - started, 1)
    info["brokers"] = versions
    info["counts"] = used
    info["loop"] = args.loop
    if args.json:
        print(json.dumps({"machine": info, "figures": [f.to_json() for f in figures], "notes": notes}, indent=2))
    else:
        _print_report(info, figures, notes, args.markdown)
    failed = any("failed" in n or "could not start" in n for n in notes)
    return 1 if failed else 0


class _WarningCounter(logging.Handler):
    """Collects interlink's warnings and errors per broker run instead of printing them between the figures."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()}"[:300]
        self.seen[text] = self.seen.get(text, 0) + 1

    def take(self, broker: str) -> list[str]:
        seen, self.seen = self.seen, {}
        return [f"{broker}: interlink logged {count}x: {text}" for text, count in seen.items()]


def _print_report(info: dict[str, Any], figures: list[Figure], notes: list[str], markdown: bool) -> None:
    libs = ", ".join(f"{k} {v}" for k, v in info["libraries"].items())
    print(f"{info['date']} · {info['cpu']}, {info['cores']} cores · {info['python']} · {info['platform']}")
    print(f"load average before {info['load_before']}, after {info['load_after']} · {info['seconds']} s")
    for name, share in info["cpu_share_percent"].items():
        if share:
            print(f"CPU during {name}: machine {share['busy']}% busy of all cores; benchmark {share['bench']}%, "
                  f"brokers {share['brokers']}%, other processes {share['other']}%")
    print("brokers: " + ", ".join(f"{k}: {v}" for k, v in info["brokers"].items()))
    print(f"libraries: {libs}")
    for broker, counts in info["counts"].items():
        print(f"messages per measurement on {broker}: {counts}")
    print_table(figures, "interlink vs raw client vs FastStream (rate; latency p50 / p99 in µs)")
    for note in notes:
        print("note:", note)
    if markdown:
        print()
        print(markdown_table(figures))


def _run(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.loop == "uvloop":
        import uvloop

        return uvloop.run(main(argv))
    return asyncio.run(main(argv))


if __name__ == "__main__":
    sys.exit(_run())
