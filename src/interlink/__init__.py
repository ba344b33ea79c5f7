"""interlink: services that talk in every interaction style, over real brokers.

    import interlink
    from interlink import Service, Context

    greeter = Service("greeter")

    @greeter.endpoint("greeter.hello")
    async def hello(name: str, ctx: Context) -> str:
        return f"hello, {name}"

    async with interlink.connect("memory://demo") as bus:
        await bus.serve(greeter)
        assert await bus.request("greeter.hello", "ada") == "hello, ada"
"""

from interlink import _logthrottle  # noqa: F401  (installs the limit on repeated warnings)
from interlink._app import App
from interlink._bus import Bus, Instance
from interlink._connect import connect
from interlink._context import Context, Reply
from interlink._dead import DeadLetter, DeadLetters
from interlink._errors import (
    BrokerError,
    CircuitOpen,
    ConnectionLost,
    DeadLetterNotFound,
    InterlinkError,
    NoResponders,
    Overloaded,
    RemoteError,
    RequestTimeout,
    ServiceError,
    SubjectError,
    ValidationError,
)
from interlink._killswitch import KillSwitch
from interlink._registry import HandlerInfo, InstanceInfo
from interlink._resilience import Breaker, Bulkhead, CircuitBreaker, Policies, Policy, Retry
from interlink._retry import RetryPolicy, RetryRule, no_retry, retry_on
from interlink._service import Delivery, Service
from interlink.transports.memory import MemoryTransport

__version__ = "0.1.0"

__all__ = [
    "App",
    "Breaker",
    "BrokerError",
    "Bulkhead",
    "Bus",
    "CircuitBreaker",
    "CircuitOpen",
    "ConnectionLost",
    "Context",
    "DeadLetter",
    "DeadLetterNotFound",
    "DeadLetters",
    "Delivery",
    "HandlerInfo",
    "Instance",
    "InstanceInfo",
    "InterlinkError",
    "KillSwitch",
    "MemoryTransport",
    "NoResponders",
    "Overloaded",
    "Policies",
    "Policy",
    "RemoteError",
    "Reply",
    "RequestTimeout",
    "Retry",
    "RetryPolicy",
    "RetryRule",
    "Service",
    "ServiceError",
    "SubjectError",
    "ValidationError",
    "connect",
    "no_retry",
    "retry_on",
]
