"""What the dashboard learns from the traffic it sees: a tap on the broker, in the dashboard's process.

Every message crossing the broker reaches :meth:`Traffic.__call__` once, from the
transport's tap; the services themselves do nothing extra. The work per message is a
few dictionary updates (counts per subject and style, who sent to which subject,
reply latencies matched by ``il-re``) and a place in a bounded ring of recent
messages, which the live tail and a ride's story read. Everything is bounded:
``RECENT`` messages, ``ASKED`` questions awaiting an answer, ``SUBJECTS`` distinct
subjects (the rest counted under ``OTHER``).
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from interlink import _headers as h
from interlink.transports.base import Message, TapKind

RECENT = 20_000
ASKED = 20_000
SUBJECTS = 5_000
LATENCIES = 2_000  # per subject
BODY_KEPT = 2_048  # bytes of each body kept for the tail and the story
OTHER = "(other subjects)"

REQUEST, NOTIFY, SEND, PUBLISH, GATHER = (
    "request/response", "notification", "request/async response", "publish/subscribe", "publish/async responses")
REPLY, ASYNC_REPLY, DEAD = "reply", "async reply", "dead letter"
STYLES = (REQUEST, NOTIFY, SEND, PUBLISH, GATHER)


def style_of(kind: TapKind, headers: dict[str, str]) -> str:
    """The interaction style a message belongs to, from its delivery kind and headers."""
    if kind == "request":
        return REQUEST
    if kind == "send":
        if h.REPLY_OF in headers:
            return ASYNC_REPLY
        return SEND if h.REPLY_TO in headers else NOTIFY
    if kind == "publish":
        return GATHER if h.INBOX in headers else PUBLISH
    return REPLY if kind == "reply" else DEAD


@dataclass(slots=True)
class Seen:
    """One message as the dashboard saw it. ``subject`` is the subject asked for (for a reply: that of
    the question it answers); ``latency`` the seconds since that question, for replies."""

    at: float
    style: str
    subject: str
    sender: str
    headers: dict[str, str]
    body: bytes
    size: int
    latency: float | None = None
    error: str = ""


@dataclass(slots=True)
class Listener:
    """A live tail: the messages whose subject ``accepts``, up to ``room`` waiting to be read."""

    accepts: Callable[[str], bool]
    room: int = 200
    waiting: deque[Seen] = field(default_factory=deque)
    dropped: int = 0

    def offer(self, seen: Seen) -> None:
        if len(self.waiting) >= self.room:
            self.dropped += 1
        else:
            self.waiting.append(seen)


class Traffic:
    """Counts, edges, latencies and recent messages; a tap handler (``transport.tap(traffic)``)."""

    def __init__(self) -> None:
        self.recent: deque[Seen] = deque(maxlen=RECENT)
        #: (style, subject) -> messages seen (weighted); replies are counted under the subject they answer
        self.counts: defaultdict[tuple[str, str], float] = defaultdict(float)
        #: subject -> error replies and dead letters seen for it (weighted)
        self.errors: defaultdict[str, float] = defaultdict(float)
        #: dead letters seen per (service, subject)
        self.dead: Counter[tuple[str, str]] = Counter()
        #: (sender, style, subject) -> messages seen (weighted)
        self.edges: defaultdict[tuple[str, str, str], float] = defaultdict(float)
        #: subject -> (when, seconds) of the latest replies
        self.latencies: dict[str, deque[tuple[float, float]]] = {}
        #: subject -> the service that answered it (learned from replies)
        self.answered_by: dict[str, str] = {}
        self.listeners: list[Listener] = []
        #: messages heard; and how many each stands for (above 1 while the board samples the traffic)
        self.total = 0
        self.weight = 1.0
        self._asked: OrderedDict[str, tuple[float, str, bool]] = OrderedDict()  # id -> when, subject, gather
        self._subjects: set[str] = set()

    def __call__(self, kind: TapKind, message: Message) -> None:
        subject = message.subject
        if subject[0] == "_" and kind not in ("reply", "dead"):
            return  # the framework's own traffic (the registry's pings)
        now = time.time()
        headers = message.headers
        style = style_of(kind, headers)
        seen = Seen(now, style, subject, headers.get(h.SENDER, ""), headers, message.body[:BODY_KEPT],
                    len(message.body))
        if style == REPLY:
            if not self._answer(seen, headers):
                return
        elif style == DEAD:
            seen.subject = headers.get(h.DEAD_SUBJECT, subject)
            seen.error = headers.get(h.DEAD_REASON, "")
            self.errors[self._key(seen.subject)] += self.weight
            self.dead[(headers.get(h.DEAD_SERVICE, ""), seen.subject)] += 1
        else:
            if style in (REQUEST, SEND, GATHER):
                self._ask(headers.get(h.MESSAGE_ID, ""), now, subject, style == GATHER)
            elif style == ASYNC_REPLY:
                self._answer(seen, headers)
                seen.subject = subject  # handled by the endpoint it was sent to
            key = self._key(subject)
            self.counts[(style, key)] += self.weight
            self.edges[(seen.sender, style, key)] += self.weight
        self.total += 1
        self.recent.append(seen)
        for listener in self.listeners:
            if listener.accepts(seen.subject):
                listener.offer(seen)

    def _ask(self, message_id: str, now: float, subject: str, many: bool) -> None:
        asked = self._asked
        asked[message_id] = (now, subject, many)
        if len(asked) > ASKED:
            asked.popitem(last=False)

    def _answer(self, seen: Seen, headers: dict[str, str]) -> bool:
        """Match a reply with its question; False for one whose question the dashboard never saw."""
        question = self._asked.get(headers.get(h.REPLY_OF, ""))
        if question is None:
            return False
        asked_at, subject, many = question
        if not many:  # a gather's question stays for every reply (until pushed out)
            del self._asked[headers[h.REPLY_OF]]
        seen.subject, seen.latency = subject, seen.at - asked_at
        key = self._key(subject)
        if seen.sender:
            self.answered_by.setdefault(key, seen.sender)
        if h.ERROR in headers:
            seen.error = headers[h.ERROR]
            self.errors[key] += self.weight
        window = self.latencies.get(key)
        if window is None:
            window = self.latencies[key] = deque(maxlen=LATENCIES)
        window.append((seen.at, seen.latency))
        return True

    def _key(self, subject: str) -> str:
        """The subject counted under, or OTHER once SUBJECTS distinct ones are known."""
        subjects = self._subjects
        if subject in subjects:
            return subject
        if len(subjects) < SUBJECTS:
            subjects.add(subject)
            return subject
        return OTHER

    def listen(self, accepts: Callable[[str], bool]) -> Listener:
        listener = Listener(accepts)
        self.listeners.append(listener)
        return listener

    def unlisten(self, listener: Listener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def story(self, correlation_id: str) -> list[Seen]:
        """The messages of one conversation, oldest first: those with this correlation id, and those
        of the same traces (an async send starts a correlation id of its own; the trace goes on)."""
        traces = {_trace(s.headers) for s in self.recent if s.headers.get(h.CORRELATION_ID) == correlation_id}
        traces.discard("")
        return [s for s in self.recent
                if s.headers.get(h.CORRELATION_ID) == correlation_id or _trace(s.headers) in traces]


def _trace(headers: dict[str, str]) -> str:
    parent = headers.get(h.TRACEPARENT, "")
    return parent[3:35] if len(parent) == 55 else ""
