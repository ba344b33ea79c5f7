"""nats-py's client with interlink's hot paths in a few C-level operations.

nats-py builds a ``Msg`` per delivery, puts it on the subscription's
``asyncio.Queue`` and wakes that subscription's task to run the callback; each
publish goes through a future and a queue to its flusher task. For the
subscriptions that carry interlink's traffic (requests, replies, consumers) the
transport instead registers a *direct* handler: the parser below hands it the
raw subject, reply, payload and header block from the read loop itself, with no
task hop, and the handler must not block (it queues the work). Publishes made
with :meth:`FastClient.post` are appended to the pending buffer and written once
per event-loop iteration by a ``call_soon`` callback. Connection handling,
reconnects, TLS, authentication and the JetStream API stay nats-py's.

Header blocks are encoded and parsed in a few string operations instead of per
character; anything unusual (odd keys, line breaks in values, bad UTF-8) falls
back to nats-py's own code or the lenient reader.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.protocol import parser as nats_parser
from nats.protocol.command import hpub_cmd

log = logging.getLogger("interlink.nats")

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_SUBJECT = re.compile(r"[ \t\r\n]")
WRITE_AT = 65_536  # pending bytes beyond which a publish writes at once and waits for the socket

#: A direct handler: (subject, reply, payload, header block or None), called from the read loop.
Direct = Callable[[bytes, bytes, bytes, "bytes | None"], None]


def header_block(headers: dict[str, str]) -> bytes | None:
    """The ``NATS/1.0`` block of ``headers``, or None when a key or value needs nats-py's checks."""
    text = "".join([f"{k}: {v}\r\n" for k, v in headers.items()])
    lines = len(headers)
    if text.count("\r") != lines or text.count("\n") != lines or not _TOKEN.fullmatch("".join(headers)):
        return None
    return b"NATS/1.0\r\n" + text.encode() + b"\r\n"


def parse_headers(raw: bytes | None) -> dict[str, str] | None:
    """The headers of a ``NATS/1.0`` block, a status line as ``Status`` and ``Description`` (as nats-py)."""
    if not raw or len(raw) < 10:
        return None
    out: dict[str, str] = {}
    if raw[8] == 32:  # "NATS/1.0 503 No Responders": an inline status
        end = raw.find(b"\r\n")
        first = raw[9:end if end >= 0 else len(raw)]
        status = first[:3].strip().decode("ascii", "replace")
        if status.isdigit():
            out["Status"] = status
        description = first[4:].strip()
        if description:
            out["Description"] = description.decode("utf-8", "replace")
        if end < 0:
            return out
        body = raw[end + 2:]
    else:
        body = raw[10:]
    try:
        text = body.decode()
    except UnicodeDecodeError:
        lenient = lenient_headers(body)
        if lenient:
            out.update(lenient)
        return out or None
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out or None


def lenient_headers(raw: bytes) -> dict[str, str] | None:
    """Header lines of which some are not UTF-8: those are dropped with one warning (see transports._wire)."""
    out: dict[str, str] = {}
    dropped = 0
    for line in raw.split(b"\r\n"):
        key, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            out[key.strip().decode()] = value.strip().decode()
        except UnicodeDecodeError:
            dropped += 1
    if dropped:
        log.warning("NATS: ignored %d header(s) that are not UTF-8 text", dropped)
    return out or None


class FastParser(nats_parser.Parser):
    """nats-py's protocol parser with MSG/HMSG read by index instead of by regex and buffer deletes,
    and deliveries to direct subscriptions handed over without building a ``Msg``."""

    def reset(self) -> None:
        super().reset()
        self.chunks: list[bytes] = []
        self.held = 0
        self.wanted = 0  # bytes the frame at the start of the held chunks needs (0: not known yet)

    async def parse(self, data: bytes = b"") -> None:
        if self.buf:  # left by nats-py's own parse (never used after the first read, kept for safety)
            data, self.buf = bytes(self.buf) + data, bytearray()
        if self.chunks:
            self.chunks.append(data)
            self.held += len(data)
            if self.held < self.wanted:
                return
            data = b"".join(self.chunks)
            self.chunks, self.held, self.wanted = [], 0, 0
        nc = self.nc
        direct = nc._direct
        end = len(data)
        pos = 0
        while pos < end:
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                if end - pos > nats_parser.MAX_CONTROL_LINE_SIZE:
                    raise nats.errors.ProtocolError("nats: control line too long")
                break
            op = data[pos:pos + 4]
            if op == b"MSG " or op == b"HMSG":
                args = data[pos + 4 if op == b"MSG " else pos + 5:eol].split()
                try:
                    if op == b"MSG ":
                        header_size, size = 0, int(args[-1])
                    else:
                        header_size, size = int(args[-2]), int(args[-1])
                        del args[-1]
                    subject, sid = args[0], int(args[1])
                    reply = args[2] if len(args) == 4 else b""
                except (IndexError, ValueError):
                    raise nats.errors.ProtocolError("nats: malformed MSG") from None
                start = eol + 2
                stop = start + size
                if stop + 2 > end:
                    self.wanted = stop + 2 - pos
                    break
                if header_size:
                    headers: bytes | None = data[start:start + header_size]
                    payload = data[start + header_size:stop]
                else:
                    headers, payload = None, data[start:stop]
                pos = stop + 2
                handler = direct.get(sid)
                if handler is None:
                    await nc._process_msg(sid, subject, reply, payload, headers)
                    continue
                try:
                    handler(subject, reply, payload, headers)
                except Exception:  # a handler's bug must not stop the connection's read loop
                    log.exception("NATS: handling a delivery on %s failed", subject[:100])
                continue
            line = data[pos:eol + 2]
            pos = eol + 2
            if op == b"PONG":
                await nc._process_pong()
            elif op == b"PING":
                await nc._process_ping()
            elif op == b"+OK\r" or line.startswith(b"+OK"):
                continue
            elif op == b"-ERR":
                err = nats_parser.ERR_RE.match(line)
                await nc._process_err((err.group(1) or b"").decode().lower() if err else "")
            elif op == b"INFO":
                info = nats_parser.INFO_RE.match(line)
                if info is None:
                    raise nats.errors.ProtocolError("nats: malformed INFO")
                await nc._process_info(json.loads(info.group(1).decode()))
            else:
                raise nats.errors.ProtocolError("nats: unknown protocol")
        if pos < end:
            rest = data[pos:]
            self.chunks, self.held = [rest], len(rest)


class FastClient(Client):
    """See the module docstring: direct subscriptions, publishes written once per loop iteration,
    and the faster header codec."""

    def __init__(self) -> None:
        super().__init__()
        self._ps = FastParser(self)
        self._direct: dict[int, Direct] = {}
        self._write_soon = False

    # -- direct subscriptions ------------------------------------------------

    async def subscribe_direct(self, subject: str, handler: Direct, queue: str = "") -> Subscription:
        """A subscription whose deliveries go to ``handler`` from the read loop (see the module docstring).
        Unsubscribe, drain and resubscription after a reconnect work as for any nats-py subscription."""
        if not subject or _BAD_SUBJECT.search(subject) or (queue and _BAD_SUBJECT.search(queue)):
            raise nats.errors.BadSubjectError
        if self.is_closed:
            raise nats.errors.ConnectionClosedError
        if self.is_draining:
            raise nats.errors.ConnectionDrainingError
        self._sid += 1
        sub = Subscription(self, self._sid, subject, queue=queue)
        self._direct[sub._id] = handler
        self._subs[sub._id] = sub
        await self._send_subscribe(sub)
        return sub

    def _remove_sub(self, sid: int, max_msgs: int = 0) -> None:
        self._direct.pop(sid, None)
        super()._remove_sub(sid, max_msgs)

    # -- publishing ----------------------------------------------------------

    async def post(self, subject: str, payload: bytes, reply: str = "",
                   headers: dict[str, str] | None = None) -> None:
        """``publish`` without nats-py's per-message future and flusher hand-off: the command is
        written with the others of this loop iteration. Anything unusual takes nats-py's path."""
        if not self.post_nowait(subject, payload, reply, headers):
            return await self.publish(subject, payload, reply, headers)
        if self._pending_data_size > WRITE_AT:
            self._write_pending()
            if self._transport is not None:
                await self._transport.drain()  # type: ignore[no-untyped-call]  # untyped in nats-py

    def post_nowait(self, subject: str, payload: bytes, reply: str = "",
                    headers: dict[str, str] | None = None) -> bool:
        """Queue the publish for this loop iteration's write; False (nothing queued) when it needs
        nats-py's path (not connected, a subject or header nats-py must check)."""
        if not self.is_connected or not subject or _BAD_SUBJECT.search(subject) or \
                (reply and _BAD_SUBJECT.search(reply)):
            return False
        size = len(payload)
        if size > self._max_payload:
            raise nats.errors.MaxPayloadError
        if headers:
            block = header_block(headers)
            if block is None:
                return False
            command = b"HPUB %s %s %d %d\r\n%s%s\r\n" % (subject.encode(), reply.encode(), len(block),
                                                         len(block) + size, block, payload)
        else:
            command = b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), reply.encode(), size, payload)
        self.stats["out_msgs"] += 1
        self.stats["out_bytes"] += size
        self.emit(command)
        return True

    def emit(self, command: bytes) -> None:
        """Queue a protocol command; it is written at the end of this loop iteration."""
        self._pending.append(command)
        self._pending_data_size += len(command)
        if not self._write_soon:
            self._write_soon = True
            asyncio.get_running_loop().call_soon(self._write_pending)

    def _write_pending(self) -> None:
        self._write_soon = False
        if self._pending_data_size and self.is_connected and self._transport is not None:
            self._transport.writelines(self._pending)
            self._pending = []
            self._pending_data_size = 0
        # while reconnecting, nats-py writes what is pending once the new connection is up

    async def _send_publish(self, subject: str, reply: str, payload: bytes, payload_size: int,
                            headers: dict[str, Any] | None) -> None:
        if not headers or not subject:
            return await super()._send_publish(subject, reply, payload, payload_size, headers)
        block = header_block(headers)
        if block is None:
            return await super()._send_publish(subject, reply, payload, payload_size, headers)
        self.stats["out_msgs"] += 1
        self.stats["out_bytes"] += payload_size
        await self._send_command(hpub_cmd(subject, reply, block, payload))
        if self._flush_queue is not None and self._flush_queue.empty():
            await self._flush_pending()

    async def _send_ping(self, future: asyncio.Future[Any] | None = None) -> None:
        # nats-py writes PING straight to the socket, ahead of commands still waiting in its buffer
        # for the flusher task (a SUB, say): flush() could then return before the server has the
        # subscription, and a message published right after would miss it. Write those first.
        if self._pending_data_size and self._transport is not None:
            self._transport.writelines(self._pending[:])
            self._pending = []
            self._pending_data_size = 0
        await super()._send_ping(future)

    async def _process_headers(self, headers: bytes | None) -> dict[str, str] | None:
        if not headers or headers[8] != 13:  # "NATS/1.0 503": a status line
            return await super()._process_headers(headers)
        return parse_headers(headers)
