"""The envelope framed at the start of the payload (docs/protocol.md, "NATS").

NATS headers cost a parse per line on every delivery; interlink's envelope
instead travels in front of the body as one JSON object, read in one C call::

    0xC1  version (1)  length (2 bytes, big-endian)  {"il-id": "...", ...}  body

0xC1 never starts UTF-8 text, JSON or a MessagePack value, so a payload from a
plain client (no frame, maybe NATS headers) is told apart by its first byte.
A frame that cannot be read is a defect: the message is dead-lettered (or a
request answered ``invalid``) with the reason, never guessed at.
"""

from __future__ import annotations

import msgspec

MAGIC = 0xC1
VERSION = 1
MAX_ENVELOPE = 0xFFFF
_HEAD = bytes((MAGIC, VERSION))
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, str]).decode


def frame(headers: dict[str, str], body: bytes) -> bytes | None:
    """``body`` with ``headers`` framed in front; None when they do not fit the frame's 64 KiB."""
    envelope = _encode(headers)
    size = len(envelope)
    if size > MAX_ENVELOPE:
        return None
    return b"".join((_HEAD, size.to_bytes(2, "big"), envelope, body))


def unframe(data: bytes, headers: dict[str, str] | None) -> tuple[dict[str, str], bytes, str | None]:
    """(headers, body, defect) of a payload and its NATS headers.

    A payload without a frame is a plain client's: its NATS headers are the envelope.
    Framed, the frame's envelope is merged over the NATS headers (which then hold
    only what NATS itself reads, such as ``Nats-Msg-Id`` or the service-error headers).
    """
    if not data or data[0] != MAGIC:
        return headers if headers is not None else {}, data, None
    plain = headers if headers is not None else {}
    if len(data) < 4:
        return plain, data, "unreadable message: NATS frame cut short"
    if data[1] != VERSION:
        return plain, data, (f"unreadable message: NATS frame version {data[1]} is not one this service "
                             f"reads ({VERSION})")
    end = 4 + int.from_bytes(data[2:4], "big")
    if end > len(data):
        return plain, data, "unreadable message: NATS frame longer than the payload"
    try:
        envelope = _decode(data[4:end])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return plain, data, f"unreadable message: NATS frame envelope: {str(exc)[:200]}"
    if headers:
        headers.update(envelope)
        envelope = headers
    return envelope, data[end:], None
