"""Input of the dashboard's own endpoints, checked like the gateway's: a bad value is a 400 naming it.

Each endpoint lists the parameters it accepts; anything else, a repeated one, a
value too long or of the wrong shape is refused before it reaches the broker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.datastructures import ImmutableMultiDict

from interlink._errors import SubjectError
from interlink._subjects import check_name, check_pattern

_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}\Z")
MAX_TEXT = 200


class BadInput(Exception):
    """A parameter the dashboard refuses (HTTP 400, or 404 where ``status`` says so)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def service(value: str) -> str:
    try:
        return check_name(value)
    except SubjectError as exc:
        raise BadInput(f"service: {exc}") from None


def pattern(value: str) -> str:
    try:
        return check_pattern(value)
    except SubjectError as exc:
        raise BadInput(f"subject: {exc}") from None


def text(value: str) -> str:
    if len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
        raise BadInput(f"text of at most {MAX_TEXT} printable characters expected")
    return value


def identifier(value: str) -> str:
    """A message or correlation id: letters, digits and ``_.:-``, at most 128."""
    if not _ID.match(value):
        raise BadInput(f"{value[:40]!r} is not an id (letters, digits and _.:- up to 128 characters)")
    return value


def flag(value: str) -> str:
    if value not in ("", "0", "1"):
        raise BadInput("a flag is 0 or 1")
    return value


Check = Callable[[str], str]


def parameters(given: ImmutableMultiDict[str, Any] | Mapping[str, str], accepted: dict[str, Check]) -> dict[str, str]:
    """The accepted parameters, checked (empty values stay empty: "no filter"); BadInput otherwise."""
    out: dict[str, str] = {}
    keys = given.keys()
    for key in keys:
        if key not in accepted:
            names = ", ".join(sorted(accepted)) or "none"
            raise BadInput(f"unknown parameter {key!r} (accepted: {names})")
        values = given.getlist(key) if isinstance(given, ImmutableMultiDict) else [given[key]]
        if len(values) != 1:
            raise BadInput(f"parameter {key!r} given {len(values)} times")
        if not isinstance(values[0], str):
            raise BadInput(f"parameter {key!r} must be text")
        value = values[0].strip()
        out[key] = accepted[key](value) if value else ""
    return {key: out.get(key, "") for key in accepted}
