"""``redis://``: interlink on Redis Streams, lists and pub/sub (``pip install 'interlink[redis]'``).

The key layout is described in :mod:`interlink.transports.redis._transport`.
"""

from interlink.transports.redis._transport import RedisTransport

__all__ = ["RedisTransport"]
