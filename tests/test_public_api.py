import interlink

EXPECTED = {
    "App", "BrokerError", "Bus", "ConnectionLost", "Context", "DeadLetter",
    "DeadLetterNotFound", "DeadLetters", "Delivery", "Instance", "InterlinkError",
    "MemoryTransport", "NoResponders", "Overloaded", "RemoteError", "Reply", "RequestTimeout", "Service",
    "ServiceError", "SubjectError", "ValidationError", "connect",
    "Breaker", "Bulkhead", "CircuitBreaker", "CircuitOpen", "Policies", "Policy", "Retry",
    "KillSwitch", "RetryPolicy", "RetryRule", "no_retry", "retry_on",
    "HandlerInfo", "InstanceInfo",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(interlink.__all__) == EXPECTED
    assert interlink.__all__ == sorted(interlink.__all__)
    for name in interlink.__all__:
        assert getattr(interlink, name) is not None


def test_every_error_is_an_interlink_error() -> None:
    for name in ("RequestTimeout", "NoResponders", "RemoteError", "ValidationError", "SubjectError",
                 "ServiceError", "BrokerError", "ConnectionLost", "Overloaded", "DeadLetterNotFound"):
        assert issubclass(getattr(interlink, name), interlink.InterlinkError)
