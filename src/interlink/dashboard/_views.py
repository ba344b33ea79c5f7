"""What each view shows, from the board's latest sample, and the dead-letter actions.

``PAGES`` lists each view's accepted query parameters (checked by ``_inputs``);
``values`` gives the template values of a view. Actions on dead letters go
through the bus's dead-letter API, are answered with (HTTP status, message) and
recorded on the board.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from interlink._errors import DeadLetterNotFound, InterlinkError
from interlink._subjects import matches
from interlink.dashboard import _inputs as check
from interlink.dashboard._board import Board
from interlink.dashboard._traffic import GATHER, NOTIFY, PUBLISH, RECENT, REPLY, REQUEST, SEND, Seen

LETTER_FILTERS: dict[str, check.Check] = {"service": check.service, "subject": check.pattern, "reason": check.text}
PAGES: dict[str, dict[str, check.Check]] = {
    "topology": {}, "flow": {}, "backlog": {}, "dead-letters": LETTER_FILTERS,
    "tail": {"pattern": check.pattern}, "story": {"cid": check.identifier},
}
TITLES = {"topology": "Topology", "flow": "Flow", "backlog": "Backlog", "dead-letters": "Dead letters",
          "tail": "Live tail", "story": "A ride's story"}
FRAGMENTS = {"topology": "_topology.html", "flow": "_flow.html", "backlog": "_backlog.html",
             "dead-letters": "_dead_letters.html", "story": "_story.html"}
TEMPLATES = {**{name: "live.html" for name in FRAGMENTS}, "dead-letters": "dead_letters.html", "tail": "tail.html",
             "story": "story.html"}
RECENT_CONVERSATIONS = 14


def query_string(params: dict[str, str]) -> str:
    given = {k: v for k, v in params.items() if v}
    return f"?{urlencode(given)}" if given else ""


def values(board: Board, view: str, params: dict[str, str]) -> dict[str, Any]:
    """The template values of ``view`` (its fragment's, and the page's around it)."""
    if view == "flow":
        rows = sorted(board.flow.rows.values(), key=lambda r: (r.instances == 0, r.service, r.kind, r.subject))
        return {"rows": rows, "fragment": FRAGMENTS[view]}
    if view == "backlog":
        return {"rows": _backlog(board), "peak": max([b.pending for b in board.backlog] + [1]),
                "fragment": FRAGMENTS[view]}
    if view == "dead-letters":
        return {"letters": matching_letters(board, params), "filters": _Filters(params),
                "services": sorted({d.service for d in board.letters} | {i.service for i in board.registry})}
    if view == "tail":
        return {"pattern": params["pattern"] or ">", "paused": False}
    if view == "story":
        cid = params["cid"]
        return {"cid": cid, "steps": story(board, cid) if cid else [], "recent": conversations(board), "keep": RECENT}
    return {"fragment": FRAGMENTS.get(view, "_topology.html")}


class _Filters:
    def __init__(self, params: dict[str, str]) -> None:
        self.service = params.get("service", "")
        self.subject = params.get("subject", "")
        self.reason = params.get("reason", "")
        self.active = bool(self.service or self.subject or self.reason)


def _backlog(board: Board) -> list[Any]:
    owners = {h.subject: i.service for i in board.registry for h in i.endpoints}
    rows = [b if b.service else type(b)(owners.get(b.subject, ""), b.kind, b.subject, b.pending, b.in_flight)
            for b in board.backlog]
    return sorted(rows, key=lambda b: (-b.pending, -b.in_flight, b.service, b.subject))


# -- a ride's story -------------------------------------------------------------------


class Step:
    def __init__(self, seen: Seen, to: list[str]) -> None:
        self.seen = seen
        self.to = to


def story(board: Board, cid: str) -> list[Step]:
    owners: dict[str, list[str]] = {}
    patterns: list[tuple[str, str]] = []
    for info in board.registry:
        for handler in info.endpoints:
            owners.setdefault(handler.subject, []).append(info.service)
        patterns.extend((handler.subject, info.service) for handler in info.subscriptions)
    seen = board.traffic.story(cid)
    senders = {s.headers.get("il-id", ""): s.sender for s in seen}
    steps = []
    for s in seen:
        if s.style in (PUBLISH, GATHER):
            to = sorted({service for pattern, service in patterns if matches(pattern, s.subject)})
        elif s.style == REPLY:
            to = [senders.get(s.headers.get("il-re", ""), "?")]
        else:
            to = sorted(set(owners.get(s.subject) or [board.traffic.answered_by.get(s.subject, "?")]))
        steps.append(Step(s, to))
    return steps


class Conversation:
    def __init__(self, seen: Seen) -> None:
        self.cid = seen.headers.get("il-cid", "")
        self.at = seen.at
        self.sender = seen.sender
        self.subject = seen.subject


def conversations(board: Board) -> list[Conversation]:
    """The newest conversations a client (not a service) started."""
    services = {i.service for i in board.registry}
    out: dict[str, Conversation] = {}
    for seen in reversed(board.traffic.recent):
        if seen.style in (REQUEST, NOTIFY, SEND) and seen.sender not in services:
            cid = seen.headers.get("il-cid", "")
            if cid and cid not in out:
                out[cid] = Conversation(seen)
                if len(out) >= RECENT_CONVERSATIONS:
                    break
    return list(out.values())


# -- dead letters -----------------------------------------------------------------------


def matching_letters(board: Board, filters: dict[str, str]) -> list[Any]:
    service, subject, reason = filters.get("service"), filters.get("subject"), filters.get("reason", "").lower()
    return [d for d in board.letters if (not service or d.service == service)
            and (not subject or matches(subject, d.subject)) and (not reason or reason in d.reason.lower())]


async def find_letter(board: Board, letter_id: str) -> Any | None:
    bus = board.require_bus()
    try:
        return await bus.dead_letters.get(letter_id)
    except DeadLetterNotFound:
        return None


async def replay_one(board: Board, letter_id: str, who: str) -> tuple[int, str]:
    what = f"replay dead letter {letter_id}"
    try:
        new_id = await board.require_bus().dead_letters.replay(letter_id)
    except DeadLetterNotFound:
        board.record(who, what, "no such dead letter")
        return 404, f"No dead letter with id {letter_id}: it was replayed or purged already, or never existed."
    except InterlinkError as exc:
        board.record(who, what, f"failed: {exc}")
        return 503, f"Not replayed: {exc}"
    board.record(who, what, f"sent again as message {new_id}")
    await board.refresh_letters()
    return 200, f"Replayed dead letter {letter_id} as message {new_id}."


async def replay_matching(board: Board, filters: dict[str, str], who: str) -> tuple[int, str]:
    what = f"replay all dead letters matching {_describe(filters)}"
    await board.refresh_letters()
    done = failed = 0
    for letter in matching_letters(board, filters):
        try:
            await board.require_bus().dead_letters.replay(letter.id)
            done += 1
        except DeadLetterNotFound:
            failed += 1  # taken by someone else meanwhile
        except InterlinkError as exc:
            board.record(who, what, f"stopped after {done}: {exc}")
            return 503, f"Replayed {done}, then stopped: {exc}"
    board.record(who, what, f"{done} replayed" + (f", {failed} gone meanwhile" if failed else ""))
    await board.refresh_letters()
    return 200, f"Replayed {done} dead letter(s)" + (f"; {failed} were gone already." if failed else ".")


async def purge_matching(board: Board, filters: dict[str, str], who: str) -> tuple[int, str]:
    what = f"purge dead letters matching {_describe(filters)}"
    await board.refresh_letters()
    ids = {d.id for d in matching_letters(board, filters)}
    try:
        removed = await board.require_bus().dead_letters.purge(ids=ids) if ids else 0
    except InterlinkError as exc:
        board.record(who, what, f"failed: {exc}")
        return 503, f"Not purged: {exc}"
    board.record(who, what, f"{removed} removed")
    await board.refresh_letters()
    return 200, f"Removed {removed} dead letter(s)."


def _describe(filters: dict[str, str]) -> str:
    given = [f"{k}={v!r}" for k, v in filters.items() if v]
    return ", ".join(given) if given else "(no filter: all)"
