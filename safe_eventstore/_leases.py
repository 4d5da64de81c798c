"""A database's leases: named, expiring claims that one owner holds at a time.

A lease is how several processes agree that one of them does a job (runs a projection,
say): each tries to take it; the one that gets it renews it well within its time to live;
the others wait and try again, and take it once it has expired or was released. The
storage takes it in one atomic compare-and-set, on every backend and across processes and
machines. Expiry is judged on the wall clock of the process that takes (UTC): see
docs/decisions.md for what that assumes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ._exceptions import InvalidInput, InvalidLease, InvalidName
from .storage.base import LeaseRecord, Storage

__all__ = ["MAX_INFO", "MAX_TTL", "Lease", "Leases"]

MAX_NAME = 200
MAX_OWNER = 200
MAX_TTL = 3600.0
"""The longest time to live of a lease, in seconds."""
MAX_INFO = 4096
"""The largest ``info`` of a lease, in bytes of its JSON encoding."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Lease:
    """A lease as stored: who holds it (``owner``) until when (``expires_at``, UTC).

    ``epoch`` starts at 1 and grows by one each time the lease passes to another holder,
    so it is a fencing token: two holders never share one. ``info`` is the small JSON
    object the holder published with its last take or renewal (stored as it is, also in an
    encrypted database).
    """

    name: str
    owner: str
    expires_at: datetime
    epoch: int
    info: dict[str, Any]

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the lease has expired at ``now`` (a timezone-aware time; by default this
        process's clock)."""
        if now is None:
            now = datetime.now(UTC)
        elif not isinstance(now, datetime) or now.utcoffset() is None:
            raise InvalidInput(f"now must be a timezone-aware datetime, not {now!r}")
        return now >= self.expires_at


def _lease(record: LeaseRecord) -> Lease:
    expires_at = _EPOCH + timedelta(microseconds=record.expires)
    info = msgspec.json.decode(record.info) if record.info else {}
    return Lease(record.name, record.owner, expires_at, record.epoch, info)


def check_lease_name(name: object) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        raise InvalidName(f"invalid lease name {name!r}: it must be 1-{MAX_NAME} characters")
    if any(c.isspace() or not c.isprintable() for c in name):
        raise InvalidName(
            f"invalid lease name {name!r}: no whitespace or control characters allowed"
        )
    return name


def _check_owner(owner: object) -> str:
    if not isinstance(owner, str) or not 1 <= len(owner) <= MAX_OWNER:
        raise InvalidLease(f"a lease owner must be a string of 1-{MAX_OWNER} characters")
    return owner


def _check_ttl(ttl: object) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise InvalidLease(f"ttl must be a number of seconds, not {ttl!r}")
    if not math.isfinite(ttl) or not 0 < ttl <= MAX_TTL:
        raise InvalidLease(f"ttl must be more than 0 and at most {MAX_TTL:g} seconds, not {ttl!r}")
    return float(ttl)


def _encode_info(info: object) -> bytes:
    if info is None:
        return b"{}"
    if not isinstance(info, Mapping):
        raise InvalidLease(f"a lease's info must be a JSON object (a dict), not {info!r}")
    if not all(isinstance(k, str) for k in info):
        raise InvalidLease("the keys of a lease's info must be strings")
    try:
        encoded = msgspec.json.encode(dict(info))
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
        raise InvalidLease(f"a lease's info must be JSON-serialisable: {exc}") from None
    if len(encoded) > MAX_INFO:
        raise InvalidLease(
            f"a lease's info is {len(encoded)} bytes as JSON, more than the limit of {MAX_INFO}"
        )
    return encoded


def _now() -> int:
    return time.time_ns() // 1000


class Leases:
    """The leases of one database (``db``) of a ``storage``."""

    def __init__(self, storage: Storage, db: str) -> None:
        self.storage = storage
        self.db = db

    def take(
        self, name: str, owner: str, ttl: float, info: Mapping[str, Any] | None
    ) -> Lease | None:
        check_lease_name(name)
        _check_owner(owner)
        seconds = _check_ttl(ttl)
        encoded = _encode_info(info)
        record = self.storage.take_lease(self.db, name, owner, seconds, encoded, _now())
        return None if record is None else _lease(record)

    def release(self, name: str, owner: str) -> bool:
        check_lease_name(name)
        _check_owner(owner)
        return self.storage.release_lease(self.db, name, owner)

    def get(self, name: str) -> Lease | None:
        check_lease_name(name)
        found = [r for r in self.storage.read_leases(self.db, name) if r.held]
        return _lease(found[0]) if found else None

    def all(self) -> list[Lease]:
        return [_lease(r) for r in self.storage.read_leases(self.db) if r.held]
