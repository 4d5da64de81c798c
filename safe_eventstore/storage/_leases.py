"""Leases: the part of the storage contract that keeps named, expiring claims.

A lease record says which owner holds a name until when, with an epoch (a fencing token:
it grows each time the lease passes to another holder) and a small JSON document the
holder publishes (``info``, encoded bytes: the backend stores them as they are). A released
lease keeps its record with an empty owner, so that the epoch never goes back.

Taking a lease is a compare-and-set in the backend's own atomic step (a lock, a write
transaction, a publish expecting the subject's last sequence): :func:`decide_take` is the
rule, applied to the record the step read, and the step stores its result only if the
record is still the one it read. Expiry is judged on the clock of the process that takes
(``now``, microseconds since the Unix epoch, UTC): backends store times, they never read
a clock of their own.
"""

from __future__ import annotations

import msgspec

from .._exceptions import NotSupported

__all__ = ["LeaseRecord", "LeaseStorage", "decide_release", "decide_take", "expiry"]


class LeaseRecord(msgspec.Struct, frozen=True):
    """A stored lease: ``owner`` empty when it was released."""

    name: str
    owner: str
    expires: int  # microseconds since the Unix epoch, UTC
    epoch: int
    info: bytes  # a JSON object, encoded

    @property
    def held(self) -> bool:
        return bool(self.owner)


def expiry(now: int, ttl: float) -> int:
    return now + round(ttl * 1_000_000)


def decide_take(
    current: LeaseRecord | None, name: str, owner: str, ttl: float, info: bytes, now: int
) -> LeaseRecord | None:
    """The record to store when ``owner`` takes lease ``name`` at ``now``, or ``None``
    when another owner holds it unexpired. The same owner renews (its epoch kept, even
    past expiry: nobody held it in between); any other taker starts a new epoch."""
    if current is None:
        return LeaseRecord(name, owner, expiry(now, ttl), 1, info)
    if current.owner == owner:
        return LeaseRecord(name, owner, expiry(now, ttl), current.epoch, info)
    if current.held and current.expires > now:
        return None
    return LeaseRecord(name, owner, expiry(now, ttl), current.epoch + 1, info)


def decide_release(current: LeaseRecord | None, owner: str) -> LeaseRecord | None:
    """The record that frees ``current`` when ``owner`` releases it (its epoch kept), or
    ``None`` when ``owner`` does not hold it (expired or not, the record names it)."""
    if current is None or not current.held or current.owner != owner:
        return None
    return LeaseRecord(current.name, "", current.expires, current.epoch, b"{}")


class LeaseStorage:
    """The lease methods of :class:`~safe_eventstore.storage.base.Storage`: optional, so
    a backend without them refuses leases with :class:`NotSupported`."""

    def take_lease(
        self, db: str, name: str, owner: str, ttl: float, info: bytes, now: int
    ) -> LeaseRecord | None:
        """Store :func:`decide_take`'s record for the stored one, in one atomic step with
        reading it (racing takers in any process: one gets the lease); the record now
        held, or ``None`` when another owner holds it unexpired."""
        raise NotSupported(f"{type(self).__name__} cannot keep leases")

    def release_lease(self, db: str, name: str, owner: str) -> bool:
        """Store :func:`decide_release`'s record, atomically with reading the stored one;
        whether ``owner`` held the lease."""
        raise NotSupported(f"{type(self).__name__} cannot keep leases")

    def read_leases(self, db: str, name: str | None = None) -> list[LeaseRecord]:
        """The stored lease records (of one name, if given), released ones included, in
        name order."""
        raise NotSupported(f"{type(self).__name__} cannot keep leases")
