"""Transports: one package per broker behind the interface in :mod:`interlink.transports.base`."""

from interlink.transports.base import Binding, Message, Receipt, Subscription, Transport

__all__ = ["Binding", "Message", "Receipt", "Subscription", "Transport"]
