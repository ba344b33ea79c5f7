"""Reading the MessagePack frames of the Redis transport, whoever wrote them.

A message frame is ``[subject, {header: value}, body]``; a request adds
``reply address, expiry (ms since the epoch)``. Frames written by interlink
take the fast typed path. Anything else is read field by field: a header
whose name or value is not text is dropped (one warning), a body sent as a
MessagePack string is taken as its UTF-8 bytes, and a frame that still cannot
be read becomes a Message with ``defect`` set and the raw frame as its body,
so that the bus dead-letters it with the reason instead of losing it.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from interlink.transports._wire import text_headers
from interlink.transports.base import Message

log = logging.getLogger("interlink.redis")

_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)
decode_message = msgspec.msgpack.Decoder(tuple[str, dict[str, str], bytes]).decode
decode_request = msgspec.msgpack.Decoder(tuple[str, dict[str, str], bytes, str, int]).decode
_raw_list = msgspec.msgpack.Decoder(list[msgspec.Raw]).decode
_raw_map = msgspec.msgpack.Decoder(dict[str, msgspec.Raw]).decode
_any = msgspec.msgpack.Decoder().decode


class Unreadable(Exception):
    """A frame that is not an interlink message (the text says why)."""


def _text(raw: msgspec.Raw, what: str) -> str:
    try:
        value = _any(raw)
    except _ERRORS:
        raise Unreadable(f"{what} is not MessagePack text") from None
    if not isinstance(value, str):
        raise Unreadable(f"{what} is a {type(value).__name__}, not text")
    return value


def _headers(raw: msgspec.Raw, where: str) -> dict[str, str]:
    try:
        entries = _raw_map(raw)
    except _ERRORS:
        log.warning("%s: ignored headers that are not a map of text names", where)
        return {}
    values: dict[str, Any] = {}
    for name, value in entries.items():
        try:
            values[name] = _any(value)
        except _ERRORS:
            values[name] = b""  # not text: dropped below with the others
    return text_headers(values, where)


def _body(raw: msgspec.Raw) -> bytes:
    try:
        value = _any(raw)
    except _ERRORS:
        raise Unreadable("the body is not MessagePack") from None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise Unreadable(f"the body is a {type(value).__name__}, not bytes")


def _fields(frame: bytes, least: int) -> list[msgspec.Raw]:
    if not frame:
        raise Unreadable("empty frame")
    try:
        fields = _raw_list(frame)
    except _ERRORS:
        raise Unreadable("the frame is not a MessagePack array") from None
    if len(fields) < least:
        raise Unreadable(f"the frame has {len(fields)} fields, not {least}")
    return fields


def read_message(frame: object, subject: str, where: str) -> Message:
    """The Message in a stream entry or pub/sub frame; ``subject`` names it when the frame cannot."""
    if isinstance(frame, bytes):
        try:
            found, headers, body = decode_message(frame)
            return Message(found, body, headers)
        except _ERRORS:
            pass
        try:
            fields = _fields(frame, 3)
            return Message(_text(fields[0], "the subject"), _body(fields[2]), _headers(fields[1], where))
        except Unreadable as exc:
            return Message(subject, frame, {}, defect=f"unreadable message: {exc}")
    return Message(subject, b"", {}, defect="unreadable message: the entry has no frame field")


def read_request(frame: bytes, subject: str, where: str) -> tuple[Message, int]:
    """A request frame as a Message (``reply_to`` set) and its expiry in ms; a defect has no reply address."""
    try:
        found, headers, body, reply_to, expires = decode_request(frame)
        return Message(found, body, headers, reply_to), expires
    except _ERRORS:
        pass
    try:
        fields = _fields(frame, 5)
        message = Message(_text(fields[0], "the subject"), _body(fields[2]), _headers(fields[1], where),
                          _text(fields[3], "the reply address"))
        expires = _any(fields[4])
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise Unreadable("the expiry is not a whole number of milliseconds")
        return message, expires
    except (Unreadable, *_ERRORS) as exc:
        return Message(subject, frame, {}, defect=f"unreadable request: {exc}"), 1 << 62
