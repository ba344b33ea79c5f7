"""aio-pika/aiormq errors to interlink's, in one place; aiormq's refused-dial log lines filtered."""

from __future__ import annotations

import logging

import aiormq

from interlink._errors import BrokerError, ConnectionLost, InterlinkError

AMQP_ERRORS = (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, ConnectionError, OSError)


def _not_a_failed_dial(record: logging.LogRecord) -> bool:
    # aiormq logs every refused dial at ERROR; start() raises a BrokerError saying the same, and the
    # robust connection logs its own warning on each failed reconnect.
    return not (isinstance(record.msg, str) and record.msg.startswith("error when creating transport"))


logging.getLogger("aiormq.connection").addFilter(_not_a_failed_dial)


def translate(exc: BaseException, shown: str, doing: str, vhost: str = "/") -> InterlinkError:
    """The one place where aio-pika/aiormq errors become interlink errors (no library stack kept)."""
    if isinstance(exc, InterlinkError):
        return exc
    text = "; ".join(str(a) for a in exc.args if isinstance(a, str)) or type(exc).__name__
    errors = aiormq.exceptions
    if isinstance(exc, errors.AuthenticationError | errors.ProbableAuthenticationError):
        return BrokerError(f"{shown}: {doing}: the broker refused the login (wrong user name or password?): {text}")
    if isinstance(exc, errors.ConnectionNotAllowed) or (
            isinstance(exc, errors.InvalidFrameError) and "Connection.Close" in text):
        return BrokerError(f"{shown}: {doing}: the broker refused virtual host {vhost!r} "
                           f"(it does not exist or this user may not use it)")
    if isinstance(exc, errors.ChannelClosed):
        return BrokerError(f"{shown}: {doing}: the broker refused: {text}")
    if isinstance(exc, TimeoutError):
        return BrokerError(f"{shown}: {doing}: no answer from the broker in time")
    if isinstance(exc, AMQP_ERRORS):
        if isinstance(exc, errors.AMQPConnectionError) and exc.args and exc.args[0] == 111:
            text = "connection refused (is RabbitMQ running and listening on that port?)"
        elif doing == "connect" and shown.startswith("amqps:") and any(
                sign in text.lower() for sign in ("reset", "certificate required", "certificate_required")):
            # the refusal arrives as a reset or, with TLS 1.3, as a 'certificate required' alert
            text += " (does the broker require a client certificate? certfile= and keyfile=, or tls=)"
        lost = doing != "connect" and not isinstance(exc, errors.InvalidFrameError)
        return (ConnectionLost if lost else BrokerError)(f"{shown}: {doing}: {text}")
    return BrokerError(f"{shown}: {doing}: {type(exc).__name__}: {text}")
