"""The one exception hierarchy of interlink.

    InterlinkError
    ├── SubjectError        a bad subject, pattern or service name (raised where declared or used)
    ├── ValidationError     a body that cannot be encoded, decoded or validated
    ├── RequestTimeout      no reply within the timeout or the propagated deadline
    ├── NoResponders        nobody serves the subject (raised fast, not after the timeout)
    ├── RemoteError         the handler answered with an error (.code, .message, .service, .details)
    │   └── RemoteValidationError   the receiver refused the body (code "invalid"); also a ValidationError
    ├── ServiceError        raised *by a handler* to answer with a typed error
    ├── DeadLetterNotFound  no dead letter has the id given (also a LookupError)
    ├── BrokerError         the broker cannot be reached or refused an operation
    │   └── ConnectionLost  the connection dropped while a request was in flight (retryable)
    └── Overloaded          a local limit (bulkhead, publisher back-pressure) refused the call
        └── CircuitOpen     the target's circuit breaker is open (.retry_after seconds)

Errors cross the wire in one form, ``{"code", "message", "service", "details"}``,
and are rebuilt on the other side as :class:`RemoteError`.
"""

from __future__ import annotations

from typing import Any


class InterlinkError(Exception):
    """Base of every error interlink raises."""


class SubjectError(InterlinkError, ValueError):
    """A subject, pattern or service name does not follow the naming rules."""


class ValidationError(InterlinkError, ValueError):
    """A body could not be encoded, decoded, or did not match its declared type."""


class RequestTimeout(InterlinkError, TimeoutError):
    """No reply arrived within the timeout (or the deadline left)."""


class NoResponders(InterlinkError):
    """No instance serves the subject; raised at once, not after the timeout."""


class BrokerError(InterlinkError, ConnectionError):
    """The broker cannot be reached, or refused the operation."""


class ConnectionLost(BrokerError):
    """The connection to the broker dropped mid-call; the call may be retried."""


class Overloaded(InterlinkError):
    """A local limit refused the call at once instead of queueing it."""


class DeadLetterNotFound(InterlinkError, LookupError):
    """No dead letter has the id asked for (it was replayed, purged, or never existed)."""


class ServiceError(InterlinkError):
    """Raised by a handler to answer with a typed error.

    >>> raise ServiceError("not_found", "no such passenger", {"id": "p9"})
    """

    def __init__(self, code: str, message: str = "", details: Any = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.details = details


class RemoteError(InterlinkError):
    """A handler on the other side answered with an error.

    ``code`` is the handler's :class:`ServiceError` code, or ``"internal"`` for
    any other exception (its trace stays in the service's log). ``service`` is
    the service that raised it first. ``path`` is every service the error
    crossed, from that one to the one that answered this caller: a handler that
    lets a RemoteError of a nested request escape answers with the same code,
    message and details, and adds its own name to ``path``.

    >>> err.code, err.service, err.path    # orders asked inventory, which raised not_found
    ('not_found', 'inventory', ('inventory', 'orders'))
    """

    def __init__(self, code: str, message: str = "", service: str = "", details: Any = None,
                 path: tuple[str, ...] | None = None) -> None:
        super().__init__(f"{service or 'remote'}: {code}: {message}" if message else f"{service or 'remote'}: {code}")
        self.code = code
        self.message = message
        self.service = service
        self.details = details
        self.path: tuple[str, ...] = path if path is not None else ((service,) if service else ())

    def crossed(self, service: str) -> RemoteError:
        """The same error answered onwards by ``service`` (added to ``path``)."""
        return type(self)(self.code, self.message, self.service, self.details, (*self.path, service))

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "service": self.service, "details": self.details,
                "path": list(self.path)}

    @classmethod
    def from_wire(cls, data: Any) -> RemoteError:
        """Rebuild an error reply; code "invalid" comes back as a RemoteError that is also a ValidationError."""
        if not isinstance(data, dict):
            return cls("internal", "malformed error reply")
        code = str(data.get("code", "internal"))
        kind = RemoteValidationError if code == "invalid" else cls
        raw_path = data.get("path")
        path = tuple(str(p) for p in raw_path) if isinstance(raw_path, list) else None
        return kind(code, str(data.get("message", "")), str(data.get("service", "")), data.get("details"), path)


class RemoteValidationError(RemoteError, ValidationError):
    """The receiver refused the body (code "invalid"): catchable as either parent."""


class CircuitOpen(Overloaded):
    """The circuit breaker of the target is open: the call was refused at once.

    ``retry_after`` is the number of seconds until the breaker lets a probe through.
    """

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
