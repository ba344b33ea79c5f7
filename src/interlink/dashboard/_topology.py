"""The topology: services and their handlers from the registry, edges from the traffic seen.

An edge is (sender, receiver, style): the sender is the ``il-from`` of messages
seen; the receiver the service that owns the endpoint (from the registry, else
the service that answered), or every service subscribed to a matching pattern.
Services are laid out in columns by the longest chain of edges leading to them
(replies and edges closing a cycle do not count), and ordered within a column
by where their senders are, so that the picture reads from left to right.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from interlink._subjects import matches
from interlink.dashboard._traffic import ASYNC_REPLY, GATHER, NOTIFY, PUBLISH, REQUEST, SEND, Traffic

NODE_W, NODE_H, COL_W, ROW_H, PAD = 196, 54, 280, 86, 24


@dataclass(slots=True)
class Node:
    name: str
    service: bool  # False: a client seen sending (a CLI, a gateway's bus, a script)
    versions: list[str] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    x: float = 0.0
    y: float = 0.0


@dataclass(slots=True)
class Edge:
    source: str
    target: str
    style: str
    subjects: list[str]
    count: int
    rate: float = 0.0
    path: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return self.source, self.target, self.style


@dataclass(slots=True)
class Topology:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float
    at: float = field(default_factory=time.time)


def topology(registry: list[Any], traffic: Traffic, previous: Topology | None = None) -> Topology:
    """The topology now; edge rates are over ``previous`` (an earlier topology, seconds ago)."""
    nodes = _services(registry)
    edges = _edges(registry, traffic, nodes)
    for edge in edges:
        for name in (edge.source, edge.target):
            if name not in nodes:
                nodes[name] = Node(name, service=False)
    _rates(edges, previous)
    width, height = _layout(list(nodes.values()), edges)
    return Topology(sorted(nodes.values(), key=lambda n: (not n.service, n.name)), edges, width, height)


def _services(registry: list[Any]) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for info in registry:
        node = nodes.get(info.service) or nodes.setdefault(info.service, Node(info.service, service=True))
        node.instances.append(info.id)
        if info.version not in node.versions:
            node.versions.append(info.version)
        for handler in info.endpoints:
            if handler.subject not in node.endpoints:
                node.endpoints.append(handler.subject)
        for handler in info.subscriptions:
            label = handler.subject + (" (every instance)" if handler.queue_group is None else "")
            if label not in node.subscriptions:
                node.subscriptions.append(label)
    return nodes


def _edges(registry: list[Any], traffic: Traffic, nodes: dict[str, Node]) -> list[Edge]:
    owners: dict[str, set[str]] = defaultdict(set)
    patterns: list[tuple[str, str]] = []
    for info in registry:
        for handler in info.endpoints:
            owners[handler.subject].add(info.service)
        patterns.extend((handler.subject, info.service) for handler in info.subscriptions)
    found: dict[tuple[str, str, str], Edge] = {}
    for (sender, style, subject), count in list(traffic.edges.items()):
        if style in (PUBLISH, GATHER):
            targets = {service for pattern, service in patterns if matches(pattern, subject)}
        elif style in (REQUEST, NOTIFY, SEND, ASYNC_REPLY):
            targets = owners.get(subject) or {traffic.answered_by.get(subject, "")} - {""}
        else:
            continue
        for target in targets:
            edge = found.get((sender or "?", target, style))
            if edge is None:
                edge = found[(sender or "?", target, style)] = Edge(sender or "?", target, style, [], 0)
            edge.count += round(count)
            if subject not in edge.subjects:
                edge.subjects.append(subject)
    return sorted(found.values(), key=lambda e: e.key)


def _rates(edges: list[Edge], previous: Topology | None) -> None:
    if previous is None:
        return
    before = {e.key: e.count for e in previous.edges}
    span = time.time() - previous.at
    for edge in edges:
        if span > 0:
            edge.rate = max(0, edge.count - before.get(edge.key, edge.count)) / span


def _layout(nodes: list[Node], edges: list[Edge]) -> tuple[float, float]:
    rank = _ranks(nodes, edges)
    columns: dict[int, list[Node]] = defaultdict(list)
    for node in sorted(nodes, key=lambda n: (not n.service, n.name)):
        columns[rank[node.name]].append(node)
    senders: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        senders[edge.target].append(edge.source)
    at: dict[str, float] = {}
    for col in sorted(columns):
        ordered = sorted(columns[col], key=lambda n: _barycenter(n, senders, at))
        for row, node in enumerate(ordered):
            node.x, node.y = PAD + col * COL_W, PAD + row * ROW_H
            at[node.name] = row
    _route_all(edges, {n.name: n for n in nodes})
    height = max((len(c) for c in columns.values()), default=1) * ROW_H + PAD + 40  # room for loops under
    return PAD * 2 + max(columns, default=0) * COL_W + NODE_W, height


def _ranks(nodes: list[Node], edges: list[Edge]) -> dict[str, int]:
    """Longest path from the senders, over edges that are not replies and close no cycle."""
    forward: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        if edge.style != ASYNC_REPLY and edge.source != edge.target:
            forward[edge.source].add(edge.target)
    rank = {n.name: 0 for n in nodes}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    order: list[str] = []

    def visit(name: str) -> None:  # depth-first; an edge back onto the path is a cycle's closing edge
        state[name] = 1
        for target in sorted(forward[name]):
            if state.get(target) is None:
                visit(target)
            elif state[target] == 1:
                forward[name] = forward[name] - {target}
        state[name] = 2
        order.append(name)

    for node in sorted(nodes, key=lambda n: (n.service, n.name)):  # clients first: they start chains
        if node.name not in state:
            visit(node.name)
    for name in reversed(order):  # a topological order once cycles are cut
        for target in forward[name]:
            rank[target] = max(rank[target], rank[name] + 1)
    return rank


def _barycenter(node: Node, senders: dict[str, list[str]], at: dict[str, float]) -> tuple[float, str]:
    rows = [at[s] for s in senders.get(node.name, []) if s in at]
    return (sum(rows) / len(rows) if rows else 0.0), node.name


def _route_all(edges: list[Edge], nodes: dict[str, Node]) -> None:
    """Forward edges leave a box's right side and enter the next one's left side, their ends spread
    over the side in the order of the boxes at the other end (so that they do not cross there);
    edges back to an earlier column loop under every box in between."""
    forward = [e for e in edges if nodes[e.target].x > nodes[e.source].x]
    outs: dict[str, list[Edge]] = defaultdict(list)
    ins: dict[str, list[Edge]] = defaultdict(list)
    for edge in forward:
        outs[edge.source].append(edge)
        ins[edge.target].append(edge)
    leave = _spread(outs, lambda e: (nodes[e.target].y, e.style))
    enter = _spread(ins, lambda e: (nodes[e.source].y, e.style))
    for edge in forward:
        a, b = nodes[edge.source], nodes[edge.target]
        x1, y1, x2, y2 = a.x + NODE_W, a.y + leave[id(edge)], b.x, b.y + enter[id(edge)]
        bend = (x2 - x1) / 2
        edge.path = f"M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
    back = [e for e in edges if nodes[e.target].x <= nodes[e.source].x]
    floor = max((n.y for n in nodes.values()), default=0) + NODE_H + 18
    for i, edge in enumerate(back):
        a, b = nodes[edge.source], nodes[edge.target]
        lane = (i % 4) * 7
        x1, y1 = a.x + NODE_W, a.y + NODE_H - 10
        x2, y2 = b.x, b.y + NODE_H - 10
        points = [(x1, y1), (x1 + 16 + lane, y1), (x1 + 16 + lane, floor + lane), (x2 - 16 - lane, floor + lane),
                  (x2 - 16 - lane, y2), (x2, y2)]
        edge.path = _rounded(points)


def _rounded(points: list[tuple[float, float]], radius: float = 9.0) -> str:
    """An SVG path through ``points`` with the corners rounded."""
    out = [f"M{points[0][0]:.0f},{points[0][1]:.0f}"]
    for (ax, ay), (bx, by), (cx, cy) in zip(points, points[1:], points[2:], strict=False):
        r_in = min(radius, (abs(bx - ax) + abs(by - ay)) / 2)
        r_out = min(radius, (abs(cx - bx) + abs(cy - by)) / 2)
        inx, iny = bx - _sign(bx - ax) * r_in, by - _sign(by - ay) * r_in
        outx, outy = bx + _sign(cx - bx) * r_out, by + _sign(cy - by) * r_out
        out.append(f"L{inx:.0f},{iny:.0f} Q{bx:.0f},{by:.0f} {outx:.0f},{outy:.0f}")
    out.append(f"L{points[-1][0]:.0f},{points[-1][1]:.0f}")
    return " ".join(out)


def _sign(value: float) -> float:
    return (value > 0) - (value < 0)


def _spread(sides: dict[str, list[Edge]], order: Callable[[Edge], tuple[float, str]]) -> dict[int, float]:
    at: dict[int, float] = {}
    for group in sides.values():
        group.sort(key=order)
        step = (NODE_H - 16) / max(1, len(group) - 1) if len(group) > 1 else 0.0
        for i, edge in enumerate(group):
            at[id(edge)] = NODE_H / 2 if len(group) == 1 else 8 + i * step
    return at
