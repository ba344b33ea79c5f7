"""``python -m bench.gateway``: the API gateway under HTTP load from wrk, beside its ceiling and its peer.

    (a) a bare hello-world ASGI app on the same server (the ceiling)
    (b) the interlink gateway: GET /echo/{x} -> request to an interlink service over NATS
    (c) FastAPI: GET /echo/{x} -> FastStream NatsBroker.request to a FastStream subscriber

Every server is a process of its own (one uvicorn worker, uvloop, httptools),
every service another; wrk (``apt-get install -y wrk``) loads them on loopback.
Rounds interleave the sides; each side's median round (by req/s) is kept.

    python -m bench.gateway                 # 3 rounds of 10 s per side, 64 connections
    python -m bench.gateway --quick         # a smoke run of a few seconds
    python -m bench.gateway --json | --markdown
    python -m bench.gateway --baseline ../before/src   # the same rounds with an older interlink beside
    python -m bench.gateway --workers 1,2   # also hello and the gateway with 2 processes on a port: the scaling

Exit status: 0 when every side was measured (targets are reported, not enforced),
1 when a side failed, 2 on bad arguments or when wrk is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench._http_sides import FASTAPI, GATEWAY, GATEWAY_ASYNCIO, HELLO, Run, Running, Spec, measure, workers_sides
from bench._machine import broker_version, cpu_snapshot, load, machine
from bench._wrk import WrkMissing, version

LIBRARIES = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools")
#: (numerator, denominator, target (None: only reported), what it says)
RATIOS: tuple[tuple[str, str, float | None, str], ...] = (
    ("gateway", "fastapi", 3.0, "target >= 3x"), ("gateway", "hello", 0.5, "aim 0.5x"),
    ("gateway", "gateway-asyncio", None, "uvloop over asyncio"),
    ("gateway", "gateway-baseline", None, "this checkout over the baseline"))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s per side after 1 s of warm-up")
    parser.add_argument("--rounds", type=int, default=None, help="rounds, interleaving the sides (default 3)")
    parser.add_argument("--seconds", type=int, default=None, help="timed run per side and round (default 10)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up seconds before each run (default 2)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--nats-url", default=os.environ.get("INTERLINK_NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--compare-loops", action="store_true", help="also (b) on the asyncio loop")
    parser.add_argument("--baseline", metavar="SRC", help="also (b) with interlink imported from SRC (another "
                        "checkout's src directory), in the same interleaved rounds: before/after a change")
    parser.add_argument("--workers", default="1", metavar="N,M,...", help="worker counts to measure (SO_REUSEPORT): "
                        "for each count but 1, (a) and (b) with that many processes on their port (one service "
                        "behind the gateway), each reported as a ratio to its one-process side")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.seconds = args.seconds or (1 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    if min(args.rounds, args.seconds, args.connections, args.threads) < 1 or args.warmup < 0:
        parser.error("rounds, seconds, connections and threads must be at least 1, warm-up not negative")
    try:
        args.workers = sorted({int(n) for n in args.workers.split(",") if n.strip()} | {1})
    except ValueError:
        parser.error("--workers takes worker counts separated by commas, e.g. 1,2")
    if args.workers[0] < 1:
        parser.error("worker counts must be at least 1")
    if args.threads > args.connections:
        parser.error("wrk needs at least one connection per thread")
    return args


def _median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.wrk.rate)[len(runs) // 2]


def run_sides(specs: list[Spec], args: argparse.Namespace, notes: list[str]) -> dict[str, list[Run]]:
    """Start every side, measure them in interleaved rounds, stop them; the runs of each side."""
    prefix = f"bench.http{os.getpid()}"  # subjects of this run only: other runs may share the broker
    # each side its own subjects: a baseline side may speak an older wire, and no side's service helps another's
    sides = [Running(spec, args.nats_url, f"{prefix}.{spec.key}") for spec in specs]
    runs: dict[str, list[Run]] = {}
    try:
        for side in sides:
            side.start()
        ready: list[Running] = []
        for side in sides:
            try:
                side.wait_ready()
                ready.append(side)
            except RuntimeError as exc:
                notes.append(f"{side.spec.key}: could not start: {exc}")
        for number in range(args.rounds):
            for side in ready:
                try:
                    run = measure(side, connections=args.connections, threads=args.threads,
                                  warmup=args.warmup, seconds=args.seconds)
                except RuntimeError as exc:
                    notes.append(f"{side.spec.key}: failed: {exc}")
                    continue
                runs.setdefault(side.spec.key, []).append(run)
                if not args.json:
                    print(f"round {number + 1}: {side.spec.label:26} {run.wrk.rate:>9,.0f} req/s  "
                          f"p50 {run.wrk.p50_ms:6.2f} ms  p99 {run.wrk.p99_ms:6.2f} ms", file=sys.stderr, flush=True)
    finally:
        for side in sides:
            side.stop()
    return runs


def report(specs: list[Spec], runs: dict[str, list[Run]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows (median run of each side, with every round's rate) and the ratios.

    A ratio is the median of the rounds' own ratios: the two sides of one round ran
    a few seconds apart, so a change in the machine's load between rounds moves both.
    """
    rows = []
    for spec in specs:
        if spec.key in runs:
            best = _median(runs[spec.key])
            rows.append({"side": spec.key, "label": spec.label, **best.to_json(),
                         "rounds": [r.wrk.rate for r in runs[spec.key]]})
    ratios = []
    scaling = [(s.key, s.server, None, f"{s.workers} {s.server} processes over 1") for s in specs if s.workers > 1]
    for top, bottom, target, says in [*RATIOS, *scaling]:
        if top in runs and bottom in runs and len(runs[top]) == len(runs[bottom]):
            rounds = sorted(a.wrk.rate / b.wrk.rate for a, b in zip(runs[top], runs[bottom], strict=True)
                            if b.wrk.rate > 0)
            if rounds:
                value = rounds[len(rounds) // 2]
                ratios.append({"ratio": f"{top}/{bottom}", "value": round(value, 2), "target": target,
                               "says": says, "met": None if target is None else value >= target,
                               "rounds": [round(r, 2) for r in rounds]})
    return rows, ratios


def _table(rows: list[dict[str, Any]], ratios: list[dict[str, Any]], markdown: bool) -> str:
    head = ["side", "req/s", "p50 ms", "p99 ms", "errors", "non-2xx", "server CPU µs/req", "service CPU µs/req"]
    body = [[r["label"], f"{r['rate']:,.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", str(r["errors"]),
             str(r["non_2xx"]), f"{r['server_cpu_us']:.0f}", f"{r['service_cpu_us']:.0f}" if r["service_cpu_us"]
             else "-"] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
    else:
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
        lines = ["  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])
                 for row in [head, *body]]
    lines.append("")
    for ratio in ratios:
        verdict = "" if ratio["met"] is None else ": met" if ratio["met"] else ": NOT met"
        lines.append(f"{'- ' if markdown else ''}{ratio['ratio']}: {ratio['value']:.2f}x ({ratio['says']}{verdict}; "
                     f"rounds {', '.join(f'{r:.2f}' for r in ratio['rounds'])})")
    return "\n".join(lines)


def _steal() -> int:
    """Clock ticks the hypervisor gave to other machines while this one wanted to run (0 off Linux)."""
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[8])
    except (OSError, ValueError, IndexError):
        return 0


def _own_cpu() -> float:
    """CPU seconds of this process and its ended children (the sides' processes, every wrk run)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _cpu_shares(before: tuple[Any, float, int], after: tuple[Any, float, int]) -> dict[str, float]:
    """The machine's CPU over the run, in percent of all cores: this benchmark's processes, the brokers,
    everything else, and the time taken by the hypervisor for other machines (steal). Other work and
    steal make the figures less steady."""
    (first, own_before, steal_before), (last, own_after, steal_after) = before, after
    if first is None or last is None or last[1] <= first[1]:
        return {}
    total = last[1] - first[1]
    ticks = os.sysconf("SC_CLK_TCK")
    busy, brokers, steal = last[0] - first[0], last[3] - first[3], steal_after - steal_before  # busy counts steal
    ours = (own_after - own_before) * ticks
    return {"busy": round(100 * busy / total, 1), "benchmark": round(100 * ours / total, 1),
            "brokers": round(100 * brokers / total, 1),
            "other": round(100 * max(0.0, busy - steal - ours - brokers) / total, 1),
            "steal": round(100 * steal / total, 1)}


def _machine_info(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    for name in LIBRARIES:
        try:
            info["libraries"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info["libraries"][name] = "-"
    info["wrk"] = version()
    info["nats"] = asyncio.run(broker_version("nats", args.nats_url))
    info["settings"] = {"connections": args.connections, "threads": args.threads, "seconds": args.seconds,
                        "warmup": args.warmup, "rounds": args.rounds}
    return info


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        info = _machine_info(args)
    except WrkMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if info["nats"].startswith("unreachable"):
        print(f"error: NATS at {args.nats_url} is {info['nats']}", file=sys.stderr)
        return 1
    specs = [HELLO, GATEWAY, FASTAPI] + ([GATEWAY_ASYNCIO] if args.compare_loops else [])
    specs += [spec for n in args.workers if n > 1 for spec in workers_sides(n)]
    if args.baseline:
        specs.append(Spec("gateway-baseline", "(b) baseline", "gateway", "interlink-service",
                          pythonpath=str(Path(args.baseline).resolve())))
    notes: list[str] = []
    started = time.perf_counter()
    before = cpu_snapshot(), _own_cpu(), _steal()
    runs = run_sides(specs, args, notes)
    info["cpu_percent"] = _cpu_shares(before, (cpu_snapshot(), _own_cpu(), _steal()))
    info["seconds"] = round(time.perf_counter() - started, 1)
    info["load_after"] = load()
    rows, ratios = report(specs, runs)
    if args.json:
        print(json.dumps({"machine": info, "rows": rows, "ratios": ratios, "notes": notes}, indent=2))
    else:
        libs = ", ".join(f"{k} {v}" for k, v in info["libraries"].items())
        print(f"{info['date']} · {info['cpu']}, {info['cores']} cores · {info['python']} · {info['platform']}")
        print(f"{info['wrk']} · {info['nats']} · load before {info['load_before']}, after {info['load_after']}")
        print(f"libraries: {libs}")
        print(f"settings: {info['settings']} (median round kept)")
        if info["cpu_percent"]:
            share = info["cpu_percent"]
            print(f"CPU of all cores during the run: {share['busy']}% busy; this benchmark {share['benchmark']}%, "
                  f"brokers {share['brokers']}%, other processes {share['other']}%, steal {share['steal']}%")
        print()
        print(_table(rows, ratios, markdown=False))
        for note in notes:
            print("note:", note)
        if args.markdown:
            print()
            print(_table(rows, ratios, markdown=True))
    return 1 if notes or len(rows) < len(specs) else 0


if __name__ == "__main__":
    sys.exit(main())
