"""NATS JetStream storage: ``ses.open("nats://host:4222")``; needs the ``[nats]`` extra."""

from __future__ import annotations

from ._storage import NatsStorage

__all__ = ["NatsStorage"]
