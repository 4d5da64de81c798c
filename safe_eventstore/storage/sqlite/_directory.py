"""The store directory: recognised when opened, made only when something is written.

Opening a store only reads: a directory that does not exist stays so, and an empty one gets
no marker, until the first write (creating a database) makes both. Several processes may do
that at once: each writes the marker to a temporary file of its own and renames it into
place (atomic, and every marker says the same), and the temporary files of other openers,
whether still being written or left by an opener that was killed, count as nothing when a
directory is checked for foreign content.

A directory this process may not write to (no permission, a read-only file system) is
opened read-only: every read works, and writes raise :class:`StoreReadOnly` naming it.
"""

from __future__ import annotations

import errno
import json
import os
import uuid
from pathlib import Path

from ..._exceptions import InvalidURL, StorageError, StoreReadOnly
from ._schema import FORMAT, MARKER

__all__ = ["Directory", "fsync_dir", "read_only_error"]

_TEMPORARY = f".{MARKER}."  # the start of an opener's temporary marker file
_NOT_PERMITTED = (errno.EACCES, errno.EPERM, errno.EROFS)


def read_only_error(path: Path, what: str = "write to") -> StoreReadOnly:
    return StoreReadOnly(
        f"cannot {what} {path}: no permission to write there, or a read-only file system "
        "(reads work; writes need write permission on the store directory and its files)"
    )


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Directory:
    """One store directory and what is known of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marked = False  # the marker is known to be in place
        try:
            self._check()
        except InvalidURL:
            raise
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot open store directory {path}: {exc}") from exc

    def writable(self) -> bool:
        """Whether this process may create files in the directory (as it exists now)."""
        return os.access(self.path, os.W_OK)

    def _check(self) -> None:
        """Refuse a directory that is neither a store nor empty; note a store's marker."""
        marker = self.path / MARKER
        if marker.exists():
            self._validate(marker)
            return
        if not self.path.exists():
            return
        names = [n for n in os.listdir(self.path) if not n.startswith(_TEMPORARY)]
        if MARKER in names:  # placed by another opener since the check above
            self._validate(marker)
        elif names:
            raise InvalidURL(f"{self.path} is not empty and is not a SAFE EventStore directory")

    def _validate(self, marker: Path) -> None:
        info = json.loads(marker.read_text())
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            found = info.get("format") if isinstance(info, dict) else info
            raise InvalidURL(f"{self.path}: unknown store format {found!r}")
        self.marked = True

    def ensure(self) -> None:
        """Make the directory and its marker, unless they are in place (before a write)."""
        if self.marked:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._check()
            if self.marked:
                return
            tmp = self.path / f"{_TEMPORARY}{uuid.uuid4().hex}"
            try:
                tmp.write_text(
                    json.dumps({"format": FORMAT, "kind": "safe-eventstore/sqlite"}) + "\n"
                )
                os.replace(tmp, self.path / MARKER)
            finally:
                tmp.unlink(missing_ok=True)
            fsync_dir(self.path)
            self.marked = True
        except InvalidURL:
            raise
        except OSError as exc:
            if exc.errno in _NOT_PERMITTED:
                raise read_only_error(self.path, "create a store in") from exc
            raise StorageError(f"cannot create store directory {self.path}: {exc}") from exc
        except ValueError as exc:
            raise StorageError(f"cannot open store directory {self.path}: {exc}") from exc
