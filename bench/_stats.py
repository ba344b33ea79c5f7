"""Figures: what one measurement produced, percentiles, ratios against targets, and the tables.

A :class:`Figure` is one side (raw client, interlink, FastStream, direct call)
on one test of one broker. The tables put the sides of a test on one row with
the ratios interlink/raw and interlink/FastStream and whether the targets hold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RAW = "raw"
INTERLINK = "interlink"
FASTSTREAM = "FastStream"
DIRECT = "direct call"
RAW_PIPELINED = "raw pipelined"  # Redis: PUBLISH commands sent 64 per round trip
SIDES = (RAW, INTERLINK, FASTSTREAM)

# test key -> (label, unit)
TESTS: dict[str, tuple[str, str]] = {
    "req1": ("req/resp, 1 in flight", "req/s"),
    "req50": ("req/resp, 50 in flight", "req/s"),
    "pubsub": ("publish/subscribe", "msg/s"),
    "durable-publish": ("durable pub/sub", "msg/s"),
    "durable-notify": ("durable notify", "msg/s"),
}


@dataclass(frozen=True, slots=True)
class Target:
    """interlink must reach ``raw`` x the raw client, and ``peer`` x FastStream where ``peer`` is set."""

    raw: float
    peer: float | None = None


# broker -> test -> target (issue 13 for NATS: >= 0.9x raw on every row; issue 4 for RabbitMQ and Redis)
TARGETS: dict[str, dict[str, Target]] = {
    "nats": {"req1": Target(0.9), "req50": Target(0.9, 3.0), "pubsub": Target(0.9, 3.0),
             "durable-publish": Target(0.9), "durable-notify": Target(0.9)},
    "rabbitmq": {"req1": Target(0.85), "req50": Target(0.85, 2.0), "pubsub": Target(0.85, 2.0)},
    "redis": {"req1": Target(0.85), "req50": Target(0.85, 2.0), "pubsub": Target(0.85, 2.0)},
}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[rank]


@dataclass(slots=True)
class Figure:
    """One side measured on one test: the rate, and latency percentiles in microseconds."""

    broker: str
    test: str
    side: str
    sent: int
    received: int
    seconds: float
    p50_us: float
    p99_us: float
    errors: int = 0
    note: str = ""
    cpu_us: float = 0.0  # this process's CPU time per message (client and server together)

    @property
    def rate(self) -> float:
        return self.received / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def from_latencies(cls, broker: str, test: str, side: str, sent: int, received: int, seconds: float,
                       latencies: list[float], errors: int = 0, note: str = "") -> Figure:
        ordered = sorted(latencies)
        return cls(broker, test, side, sent, received, seconds,
                   percentile(ordered, 0.50) * 1e6, percentile(ordered, 0.99) * 1e6, errors, note)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rate"] = round(self.rate, 1)
        data["cpu_us"] = round(self.cpu_us, 2)
        return data


@dataclass(slots=True)
class Row:
    """One test of one broker, every side side by side."""

    broker: str
    test: str
    figures: dict[str, Figure] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return TESTS[self.test][0]

    @property
    def unit(self) -> str:
        return TESTS[self.test][1]

    def baseline(self) -> Figure | None:
        return self.figures.get(RAW) or self.figures.get(DIRECT)

    def ratio(self, other: str) -> float | None:
        mine = self.figures.get(INTERLINK)
        theirs = self.figures.get(DIRECT) if other == RAW and RAW not in self.figures else self.figures.get(other)
        if mine is None or theirs is None or theirs.rate <= 0:
            return None
        return mine.rate / theirs.rate

    def verdict(self) -> str:
        """"met", "NOT met" (with what fails), or "" when the row has no target."""
        target = TARGETS.get(self.broker, {}).get(self.test)
        if target is None:
            return ""
        if INTERLINK not in self.figures:
            return "not measured"
        misses: list[str] = []
        vs_raw = self.ratio(RAW)
        if vs_raw is None or vs_raw < target.raw:
            misses.append(f"raw<{target.raw:g}x")
        if target.peer is not None:
            vs_peer = self.ratio(FASTSTREAM)
            if vs_peer is None or vs_peer < target.peer:
                misses.append(f"FS<{target.peer:g}x")
        return "met" if not misses else "NOT met (" + ", ".join(misses) + ")"

    def target_text(self) -> str:
        target = TARGETS.get(self.broker, {}).get(self.test)
        if target is None:
            return ""
        text = f">={target.raw:g}x raw"
        return text + (f", >={target.peer:g}x FS" if target.peer is not None else "")


def rows_of(figures: list[Figure]) -> list[Row]:
    rows: dict[tuple[str, str], Row] = {}
    for f in figures:
        rows.setdefault((f.broker, f.test), Row(f.broker, f.test)).figures[f.side] = f
    return list(rows.values())


def _rate(f: Figure | None) -> str:
    if f is None:
        return "-"
    text = f"{f.rate:,.0f}"
    if f.received < f.sent or f.errors:
        text += "*"
    return text


def _lat(f: Figure | None) -> str:
    return "-" if f is None else f"{f.p50_us:,.0f} / {f.p99_us:,.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def row_cells(row: Row) -> list[str]:
    base = row.baseline()
    base_name = base.side if base is not None else RAW
    il, fs = row.figures.get(INTERLINK), row.figures.get(FASTSTREAM)
    return [row.broker, row.label, row.unit,
            _rate(base) + (" (direct)" if base_name == DIRECT else ""), _lat(base),
            _rate(il), _lat(il), _rate(fs), _lat(fs),
            _ratio(row.ratio(RAW)), _ratio(row.ratio(FASTSTREAM)), row.target_text(), row.verdict()]


HEADERS = ["broker", "test", "unit", "raw rate", "raw p50/p99 µs", "interlink rate", "interlink p50/p99 µs",
           "FastStream rate", "FastStream p50/p99 µs", "interlink/raw", "interlink/FS", "target", "verdict"]


def print_table(figures: list[Figure], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for name in HEADERS:
        table.add_column(name, justify="left" if name in ("broker", "test", "unit", "target", "verdict")
                         else "right", overflow="fold")
    for row in rows_of(figures):
        cells = row_cells(row)
        verdict = cells[-1]
        if verdict == "met" or "NOT" in verdict:
            cells[-1] = f"[green]{verdict}[/]" if verdict == "met" else f"[red]{verdict}[/]"
        table.add_row(*cells)
    console = Console()
    if not console.is_terminal:
        console = Console(width=220)
    console.print(table)
    cpu = Table(title="CPU µs per message, this process (client and server together)")
    for name in CPU_HEADERS:
        cpu.add_column(name, justify="left" if name in ("broker", "test") else "right")
    for row in rows_of(figures):
        cpu.add_row(*cpu_cells(row))
    console.print(cpu)
    others = other_rows(figures)
    if others:
        other = Table(title="Other raw sides on the same rows")
        for name in OTHER_HEADERS:
            other.add_column(name, justify="left" if name in ("broker", "test", "side") else "right")
        for cells in others:
            other.add_row(*cells)
        console.print(other)
    notes = [f"{f.broker} {f.test} {f.side}: {f.note or ''} received {f.received} of {f.sent}, {f.errors} errors"
             for f in figures if f.received < f.sent or f.errors]
    for note in notes:
        print("*", note)


CPU_HEADERS = ["broker", "test", "raw (or direct call)", "interlink", "FastStream", "interlink - raw"]
OTHER_HEADERS = ["broker", "test", "side", "rate", "p50/p99 µs", "CPU µs/msg", "interlink/side", "raw/side"]


def other_rows(figures: list[Figure]) -> list[list[str]]:
    """The sides beyond raw, interlink and FastStream (other raw clients, a pipelined raw side), beside interlink."""
    out = []
    for row in rows_of(figures):
        for name, f in row.figures.items():
            if name in (*SIDES, DIRECT):
                continue
            il, raw = row.figures.get(INTERLINK), row.figures.get(RAW)
            out.append([row.broker, row.label, name, _rate(f), _lat(f), f"{f.cpu_us:.1f}",
                        _ratio(il.rate / f.rate if il and f.rate else None),
                        _ratio(raw.rate / f.rate if raw and f.rate else None)])
    return out


def cpu_cells(row: Row) -> list[str]:
    """CPU µs per message of this process (client and server together), per side."""
    base, il, fs = row.baseline(), row.figures.get(INTERLINK), row.figures.get(FASTSTREAM)

    def cell(f: Figure | None) -> str:
        return "-" if f is None else f"{f.cpu_us:.1f}"

    extra = "-" if base is None or il is None else f"{il.cpu_us - base.cpu_us:+.1f}"
    return [row.broker, row.label, cell(base), cell(il), cell(fs), extra]


def markdown_table(figures: list[Figure]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row_cells(row)) + " |" for row in rows_of(figures)]
    lines += ["", "CPU time of the benchmark process per message, in µs (client and server together):", "",
              "| " + " | ".join(CPU_HEADERS) + " |", "|" + "---|" * len(CPU_HEADERS)]
    lines += ["| " + " | ".join(cpu_cells(row)) + " |" for row in rows_of(figures)]
    others = other_rows(figures)
    if others:
        lines += ["", "Other raw sides on the same rows:", "",
                  "| " + " | ".join(OTHER_HEADERS) + " |", "|" + "---|" * len(OTHER_HEADERS)]
        lines += ["| " + " | ".join(cells) + " |" for cells in others]
    return "\n".join(lines)
