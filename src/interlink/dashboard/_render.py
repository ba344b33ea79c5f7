"""HTML of the dashboard: Jinja2 templates (autoescaped) and the small helpers they use."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from interlink.dashboard._topology import NODE_H, NODE_W
from interlink.dashboard._traffic import ASYNC_REPLY, DEAD, GATHER, NOTIFY, PUBLISH, REPLY, REQUEST, SEND, Seen

VIEWS = [("topology", "Topology"), ("flow", "Flow"), ("backlog", "Backlog"), ("dead-letters", "Dead letters"),
         ("tail", "Live tail"), ("story", "A ride's story")]
COLORS = {REQUEST: "#2563eb", NOTIFY: "#16a34a", SEND: "#9333ea", PUBLISH: "#ea580c", GATHER: "#db2777",
          ASYNC_REPLY: "#a855f7"}
TAIL_COLORS = {**COLORS, REPLY: "#64748b", DEAD: "#dc2626"}


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    value = seconds * 1000
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def pct(fraction: float | None) -> str:
    return "—" if fraction is None else f"{fraction * 100:.1f}%"


def ago(at: float) -> str:
    if not at:
        return "?"
    seconds = max(0.0, time.time() - at)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S.%f")[:-3]


def spark(values: Iterable[float], width: int = 150, height: int = 26) -> Markup:
    """A sparkline as inline SVG (numbers only: nothing from the wire reaches it)."""
    points = list(values)[-width // 2:]
    if len(points) < 2:
        return Markup(f'<svg class="spark" width="{width}" height="{height}"></svg>')
    top = max(max(points), 1e-9)
    step = width / (len(points) - 1)
    coords = [f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(points)]
    line = " ".join(coords)
    area = f"0,{height} {line} {width},{height}"
    return Markup(f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
                  f'<polygon points="{area}"/><polyline points="{line}"/></svg>')


def body_text(data: bytes, limit: int = 4000) -> str:
    try:
        return json.dumps(json.loads(data), indent=2, ensure_ascii=False)[:limit]
    except (ValueError, UnicodeDecodeError):
        return data[:limit].decode("utf-8", "replace")


def preview(seen: Seen) -> str:
    text = seen.body[:160].decode("utf-8", "replace")
    return text + ("…" if seen.size > 160 else "")


def pretty_letter(letter: Any) -> str:
    return body_text(letter.body, 20_000)


_env = Environment(loader=PackageLoader("interlink.dashboard", "templates"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)
_env.globals.update(views=VIEWS, colors=COLORS, tail_colors=TAIL_COLORS, node_w=NODE_W, node_h=NODE_H,
                    style_index={s: i for i, s in enumerate(COLORS, 1)}, ms=ms, pct=pct, ago=ago, clock=clock,
                    spark=spark, preview=preview, body=lambda s: body_text(s.body), pretty=pretty_letter, since=ago)


def render(template: str, **values: Any) -> str:
    return _env.get_template(template).render(now=time.time(), **values)
