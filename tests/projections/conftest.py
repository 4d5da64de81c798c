"""Stores for the read side's tests: memory, SQLite and a real NATS server (the store's own
test servers), each test with a fresh, empty one."""

from __future__ import annotations

from ..backends import db, store, store_url

__all__ = ["db", "store", "store_url"]
