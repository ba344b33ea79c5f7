"""Transactional outbox and inbox on PostgreSQL (``pip install 'interlink[postgres]'``).

Messages written in the same database transaction as the data are sent after
commit, and never when it rolls back; the inbox makes a handler's effect happen
once per message id. See :class:`Outbox` for the API, ``_schema`` for the tables
(created by ``interlink outbox init --dsn DSN``) and ``_relay`` for how rows are
relayed from several processes at once.
"""

from interlink.outbox._outbox import Outbox, Transaction
from interlink.outbox._relay import Relay
from interlink.outbox._schema import describe_dsn, init_schema

__all__ = ["Outbox", "Relay", "Transaction", "describe_dsn", "init_schema"]
