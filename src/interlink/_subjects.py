"""Subject, pattern and name rules (the channels section of docs/api.md).

Subjects are dot-separated tokens of ``[A-Za-z0-9_-]``, at most 255 characters.
Patterns add ``*`` (exactly one token) and ``>`` (one or more trailing tokens,
last position only). Names starting with ``$`` or ``_`` are reserved.
"""

from __future__ import annotations

import re
from functools import lru_cache

from interlink._errors import SubjectError

MAX_SUBJECT = 255
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\Z")


def _check(subject: object, *, wildcards: bool, reserved_ok: bool, what: str) -> str:
    if not isinstance(subject, str):
        raise SubjectError(f"{what} must be a string, got {type(subject).__name__}")
    if not subject:
        raise SubjectError(f"{what} must not be empty")
    if len(subject) > MAX_SUBJECT:
        raise SubjectError(f"{what} is {len(subject)} characters long; the limit is {MAX_SUBJECT}")
    if not reserved_ok and subject[0] in "$_":
        raise SubjectError(f"{what} {subject!r}: names starting with '$' or '_' are reserved")
    tokens = subject.split(".")
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        if wildcards and token == "*":
            continue
        if wildcards and token == ">":
            if i != last:
                raise SubjectError(f"{what} {subject!r}: '>' must be the last token")
            continue
        if not _TOKEN.match(token):
            raise SubjectError(f"{what} {subject!r}: token {token!r} must match [A-Za-z0-9_-]+")
    return subject


@lru_cache(maxsize=4096)
def check_subject(subject: str) -> str:
    """Return ``subject`` if it is a valid, non-reserved subject; else raise SubjectError."""
    return _check(subject, wildcards=False, reserved_ok=False, what="subject")


def check_subject_uncached(subject: object) -> str:
    """Like check_subject, for values that may not be hashable strings."""
    if isinstance(subject, str):
        return check_subject(subject)
    return _check(subject, wildcards=False, reserved_ok=False, what="subject")


def check_pattern(pattern: object) -> str:
    """Return ``pattern`` if it is a valid subscription pattern; else raise SubjectError."""
    return _check(pattern, wildcards=True, reserved_ok=False, what="pattern")


def check_name(name: object) -> str:
    """A service name: one valid, non-reserved token."""
    name = _check(name, wildcards=False, reserved_ok=False, what="service name")
    if "." in name:
        raise SubjectError(f"service name {name!r} must be a single token (no '.')")
    return name


def check_internal(subject: str) -> str:
    """Framework subjects may use the reserved prefixes."""
    return _check(subject, wildcards=False, reserved_ok=True, what="subject")


def matches(pattern: str, subject: str) -> bool:
    """True if ``subject`` is matched by ``pattern`` (``*`` one token, ``>`` the rest)."""
    p = pattern.split(".")
    s = subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s):
            return False
        if token != "*" and token != s[i]:
            return False
    return len(p) == len(s)
