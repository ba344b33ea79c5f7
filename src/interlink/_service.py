"""Services as plain declarations: a name, a version, and decorated handlers.

    passenger = Service("passenger", version="1.0.0")

    @passenger.endpoint("passenger.verify")
    async def verify(req: VerifyPassenger, ctx: Context) -> PassengerStatus: ...

    @passenger.subscribe("trip.*")
    def on_trip(event: dict) -> None: ...      # plain def: runs in a worker thread

A declaration does nothing by itself; ``bus.serve(service)`` binds it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_type_hints

from interlink._killswitch import KillSwitch
from interlink._ordering import KeyOf, key_getter
from interlink._retry import RetryPolicy
from interlink._subjects import check_name, check_pattern, check_subject

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a handler receives messages (the defaults suit most handlers).

    max_concurrency: messages handled at once by one instance (also the prefetch).
    max_attempts:    deliveries of a failing async message before it is dead-lettered.
    backoff:         first retry delay in seconds; doubles per attempt, with jitter.
    max_backoff:     the cap of the retry delay.
    durable:         at-least-once (stored while the service is down) where the transport can.
    idempotent:      drop redeliveries of a message id already handled by this instance.
    ack_wait:        seconds without progress before the broker redelivers.
    retry:           a RetryPolicy choosing retries by error (None: the service's, else the settings above).
    kill_switch:     a KillSwitch pausing consumption while the handler keeps failing (None: never paused).
    order_by:        a body field name (or ``body -> key`` function): same key one at a time, in order.
    """

    max_concurrency: int = 64
    max_attempts: int = 5
    backoff: float = 0.2
    max_backoff: float = 10.0
    durable: bool = True
    idempotent: bool = False
    ack_wait: float = 30.0
    retry: RetryPolicy | None = None
    kill_switch: KillSwitch | None = None
    order_by: KeyOf | None = None

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff must not be negative")
        if self.ack_wait <= 0:
            raise ValueError("ack_wait must be positive")
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise TypeError("retry must be a RetryPolicy")
        if self.kill_switch is not None and not isinstance(self.kill_switch, KillSwitch):
            raise TypeError("kill_switch must be a KillSwitch")
        if self.order_by is not None:
            key_getter(self.order_by)  # raises TypeError for a bad one, here rather than at the first message


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    kind: Literal["endpoint", "subscription"]
    subject: str
    func: Callable[..., Any]
    body_type: Any
    ctx_param: str | None
    is_async: bool
    broadcast: bool
    delivery: Delivery
    publish: str | None = None  # where a non-None return value is published (before the ack)

    @property
    def name(self) -> str:
        return getattr(self.func, "__qualname__", repr(self.func))


class Service:
    """A named group of handlers; every bus that serves it runs one instance.

    The name is the queue group of its instances and must be a valid subject token.
    ``retry`` is the RetryPolicy of every handler that names none of its own.
    """

    def __init__(self, name: str, version: str = "0.0.0", *, retry: RetryPolicy | None = None) -> None:
        self.name = check_name(name)
        self.version = version
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError("retry must be a RetryPolicy")
        self.retry = retry
        self.handlers: list[HandlerSpec] = []

    def __repr__(self) -> str:
        return f"Service({self.name!r}, version={self.version!r})"

    def endpoint(self, subject: str, *, publish: str | None = None, **delivery: Any) -> Callable[[F], F]:
        """Point-to-point: requests, notifications and sends to the exact ``subject``.

        The return value is the reply (dropped for notifications). ``publish``: a
        subject where a non-None return value is also published, before the incoming
        message is acknowledged (at least once). Keyword options are those of :class:`Delivery`.
        """
        check_subject(subject)
        if publish is not None:
            check_subject(publish)
        return self._declare("endpoint", subject, False, Delivery(**delivery), publish)

    def subscribe(self, pattern: str, *, broadcast: bool = False, publish: str | None = None,
                  **delivery: Any) -> Callable[[F], F]:
        """Publish-subscribe: one copy per service (balanced), or per instance with ``broadcast=True``.

        A non-None return value is sent back to a ``gather``/``scatter`` caller, and with
        ``publish="orders.validated"`` also published there before the incoming event is
        acknowledged (at least once: a failed publish retries the event).
        Broadcast subscriptions are live-only: an instance gets what is published while it runs.
        """
        check_pattern(pattern)
        if publish is not None:
            check_subject(publish)
        options = Delivery(**delivery)
        if broadcast and options.durable:
            options = Delivery(**{**_fields(options), "durable": False})
        return self._declare("subscription", pattern, broadcast, options, publish)

    def _declare(self, kind: Literal["endpoint", "subscription"], subject: str, broadcast: bool,
                 delivery: Delivery, publish: str | None = None) -> Callable[[F], F]:
        if kind == "endpoint" and any(h.kind == "endpoint" and h.subject == subject for h in self.handlers):
            raise ValueError(f"{self.name}: endpoint {subject!r} is declared twice")

        if delivery.retry is None and self.retry is not None:
            delivery = Delivery(**{**_fields(delivery), "retry": self.retry})

        def register(func: F) -> F:
            body_type, ctx_param = _signature(func)
            self.handlers.append(HandlerSpec(
                kind, subject, func, body_type, ctx_param,
                inspect.iscoroutinefunction(func), broadcast, delivery, publish,
            ))
            return func

        return register


def _fields(delivery: Delivery) -> dict[str, Any]:
    return {name: getattr(delivery, name) for name in Delivery.__dataclass_fields__}


def _signature(func: Callable[..., Any]) -> tuple[Any, str | None]:
    """The body type (annotation of the first parameter) and the name of the ctx parameter."""
    from interlink._context import Context

    params = list(inspect.signature(func).parameters.values())
    if not params or len(params) > 2:
        raise TypeError(f"handler {func.__qualname__} must take (body) or (body, ctx)")
    body_type = _body_type(func, params[0])
    ctx_param = params[1].name if len(params) == 2 else None
    if ctx_param is None and body_type is Context:
        raise TypeError(f"handler {func.__qualname__}: the first parameter is the body, the second ctx")
    return body_type, ctx_param


def _body_type(func: Callable[..., Any], param: inspect.Parameter) -> Any:
    """Resolve the body annotation, string annotations included; refuse one that cannot be resolved
    (silently decoding into raw JSON instead would hide the mistake until the first message)."""
    annotation = param.annotation
    if annotation is inspect.Parameter.empty:
        return Any
    if not isinstance(annotation, str):
        return annotation
    try:
        return get_type_hints(func).get(param.name, Any)
    except Exception:
        pass
    closure = {name: cell.cell_contents for name, cell in
               zip(func.__code__.co_freevars, getattr(func, "__closure__", None) or (), strict=False)}
    try:
        return eval(annotation, getattr(func, "__globals__", {}), closure)  # same as typing's own resolution
    except Exception as exc:
        raise TypeError(f"handler {func.__qualname__}: cannot resolve the body type {annotation!r} ({exc}); "
                        "define the type at module level") from None
