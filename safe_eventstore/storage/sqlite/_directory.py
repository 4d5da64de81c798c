"""The store directory: recognised when opened, made only when something is written.

Opening a store only reads: a directory that does not exist stays so, and an empty one gets
no marker, until the first write (creating a database) makes both. Several processes may do
that at once: each writes the marker to a temporary file of its own and renames it into
place (atomic, and every marker says the same), and the temporary files of other openers,
whether still being written or left by an opener that was killed, count as nothing when a
directory is checked for foreign content.

A directory this process may not write to (no permission, a read-only file system) is
opened read-only: every read works, and writes raise :class:`StoreReadOnly` naming it.

Only the owner may read a store: the directory is made ``0700`` and every file in it
``0600`` (the marker and database files here, each database's ``-wal``, ``-shm`` and ping
file by SQLite, which gives them its database file's mode, and by the storage), whatever
the umask, as PostgreSQL does with its data directory. A store made before that, or
opened to others by its owner on purpose (read-only readers under another user), keeps its
modes: the storage warns (:class:`StoreWarning`) at its first write to a database whose
directory or files others may read (:func:`open_to_others`); docs/storage-format.md says why.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import uuid
from pathlib import Path

from ..._exceptions import InvalidURL, StorageError, StoreReadOnly
from ._schema import FORMAT, MARKER

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "Directory",
    "create_private",
    "fsync_dir",
    "open_to_others",
    "read_only_error",
]

_TEMPORARY = f".{MARKER}."  # the start of an opener's temporary marker file
_NOT_PERMITTED = (errno.EACCES, errno.EPERM, errno.EROFS)
DIR_MODE = 0o700  # the store directory: its owner only
FILE_MODE = 0o600  # every file in it


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


def create_private(path: Path) -> int:
    """Create ``path`` (which must not exist) readable and writable by its owner only, and
    return a descriptor open for writing; the mode is set after the umask has had its say."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_to_others(*paths: Path) -> list[str]:
    """The paths among ``paths`` (those that exist) that users other than the owner and
    the owner's group may read, write or enter, each with its mode."""
    found = []
    for path in paths:
        try:
            mode = os.stat(path).st_mode & 0o777
        except OSError:
            continue  # not there (a WAL checkpointed away), or not reachable
        if mode & 0o007:
            found.append(f"{path.name} {mode:o}")
    return found


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
            self.path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            self._check()
            if self.marked:
                return
            # an empty directory given to become a store is made private too, as initdb
            # does; one of another owner (written through its group) stays as it is
            with contextlib.suppress(PermissionError):
                os.chmod(self.path, stat.S_IMODE(os.stat(self.path).st_mode) & DIR_MODE)
            tmp = self.path / f"{_TEMPORARY}{uuid.uuid4().hex}"
            try:
                with os.fdopen(create_private(tmp), "w") as out:
                    out.write(json.dumps({"format": FORMAT, "kind": "safe-eventstore/sqlite"}))
                    out.write("\n")
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
