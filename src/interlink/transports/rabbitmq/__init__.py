"""``amqp://``: interlink on RabbitMQ through aio-pika (``pip install 'interlink[rabbitmq]'``).

The topology is described in :mod:`interlink.transports.rabbitmq._transport`.
"""

from interlink.transports.rabbitmq._transport import RabbitTransport

__all__ = ["RabbitTransport"]
