"""A database's checkpoints: named positions, checked before they are stored."""

from __future__ import annotations

from ._exceptions import InvalidInput
from ._inputs import check_count
from ._names import check_name
from .storage.base import Storage

__all__ = ["Checkpoints"]


class Checkpoints:
    """The checkpoints of one database (``db``) of a ``storage``."""

    def __init__(self, storage: Storage, db: str) -> None:
        self.storage = storage
        self.db = db

    def get(self, name: str) -> int | None:
        return self.storage.get_checkpoint(self.db, check_name(name, "checkpoint"))

    def save(self, name: str, position: int) -> None:
        """Store ``position`` under ``name``; a position the database has not reached yet is
        refused (positions only grow, so one at or below the last stays valid)."""
        check_name(name, "checkpoint")
        check_count(position, "position")
        last = self.storage.last_position(self.db)
        if position > last:
            raise InvalidInput(
                f"checkpoint {name!r}: position {position} is beyond the database's last "
                f"position {last}"
            )
        self.storage.save_checkpoint(self.db, name, position)

    def all(self) -> dict[str, int]:
        return self.storage.list_checkpoints(self.db)

    def delete(self, name: str) -> bool:
        return self.storage.delete_checkpoint(self.db, check_name(name, "checkpoint"))
