"""How a store's names become NATS names: JetStream stream names, subjects and tokens.

A database ``bank`` of a store with prefix ``ses`` is the JetStream stream ``ses_bank``,
which captures the subjects ``ses.bank.>``:

=====================================  =====================================================
``ses.bank.s.<category>.<stream>``     every entry of a stream, events and restructures
``ses.bank.x.<category>.<stream>``     a copy of each restructure entry (read on every read)
``ses.bank.n.<category>.<stream>``     the stream's name, once: the stream listing
``ses.bank.i.<digest>``                the marker of an event id from the caller: its entry
``ses.bank.b.<address>.<chunk>``       a payload, in chunks of one message
``ses.bank.g.<tag>.<type>``            a tag of an event (for append conditions)
``ses.bank.k.<n>``                     carries an append condition's check
``ses.bank.c.<checkpoint>``            a checkpoint (rolled up: the last is kept; empty
                                       when it was deleted); its name in a header
``ses.bank.l.<lease>``                 a lease's record (rolled up: see ``_leases``)
=====================================  =====================================================

A stream's entries share one subject, so the server finds a stream's last entry, and checks
an append against it, at the same cost however long the stream is.
"""

from __future__ import annotations

import functools
import hashlib
import re

from ..._exceptions import InvalidURL
from ..._names import category_of

__all__ = ["CHECKPOINT_NAME", "Layout", "check_prefix", "name_header", "named", "token"]

_PREFIX = re.compile(r"[A-Za-z0-9-]{1,32}")
_RAW = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
MAX_TOKEN = 120
CHECKPOINT_NAME = "Ses-Checkpoint"  # header: the checkpoint's name, UTF-8 in hex


def check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise InvalidURL(
            f"invalid NATS prefix {prefix!r}: use 1-32 characters of A-Z, a-z, 0-9 and '-'"
        )
    return prefix


@functools.lru_cache(maxsize=65536)
def token(name: str) -> str:
    """A subject token that stands for ``name`` and for no other name.

    Letters, digits, ``_`` and ``-`` stay as they are; every other character becomes ``~``
    and two hex digits per UTF-8 byte (``Café-1`` -> ``Caf~c3~a9-1``), so that ``.``, ``*``,
    ``>`` and whitespace never reach a subject. A token that would grow past 120 characters
    is replaced by ``~h`` and 40 hex digits of the name's SHA-256 (``h`` is no hex digit, so
    no escaped name looks like that); the full name is always stored in the message too.
    """
    if len(name) <= MAX_TOKEN and all(c in _RAW for c in name):
        return name
    parts = [c if c in _RAW else "".join(f"~{b:02x}" for b in c.encode()) for c in name]
    escaped = "".join(parts)
    if len(escaped) <= MAX_TOKEN:
        return escaped
    return "~h" + hashlib.sha256(name.encode()).hexdigest()[:40]


def name_header(name: str) -> dict[str, str]:
    """The header that names a checkpoint in its messages (a subject token may be a hash)."""
    return {CHECKPOINT_NAME: name.encode().hex()}


def named(subject: str, headers: dict[str, str] | None) -> str:
    """The name of the checkpoint stored on ``subject``: from its header, else (a message
    stored without one) from the subject's last token, unescaped."""
    hexed = (headers or {}).get(CHECKPOINT_NAME)
    if hexed:
        return bytes.fromhex(hexed).decode()
    last = subject.rsplit(".", 1)[-1]
    return re.sub(
        r"(?:~[0-9a-f]{2})+", lambda m: bytes.fromhex(m[0].replace("~", "")).decode(), last
    )


class Layout:
    """The JetStream stream and the subjects of one database."""

    __slots__ = ("base", "database", "prefix", "stream_name")

    def __init__(self, prefix: str, database: str) -> None:
        self.prefix = prefix
        self.database = database
        self.stream_name = f"{prefix}_{database}"
        self.base = f"{prefix}.{database}"

    # -- selections ---------------------------------------------------------------------------

    @property
    def all(self) -> str:
        return f"{self.base}.>"

    @property
    def entries(self) -> str:
        return f"{self.base}.s.>"

    @property
    def restructures(self) -> str:
        return f"{self.base}.x.>"

    @property
    def names(self) -> str:
        return f"{self.base}.n.>"

    @property
    def checkpoints(self) -> str:
        return f"{self.base}.c.*"

    @property
    def leases(self) -> str:
        return f"{self.base}.l.*"

    def scope(self, *, stream: str | None, category: str | None) -> str:
        """The entries of one stream, of one category, or of all."""
        if stream is not None:
            return self.stream(stream)
        if category is not None:
            return f"{self.base}.s.{token(category)}.*"
        return self.entries

    def tagged(self, tag: str, type: str | None) -> str:
        """The tags ``tag`` of events (of one type, or of any)."""
        return f"{self.base}.g.{token(tag)}.{'*' if type is None else token(type)}"

    # -- single subjects ----------------------------------------------------------------------

    def stream(self, stream: str) -> str:
        return f"{self.base}.s.{self._pair(stream)}"

    def restructures_of(self, stream: str) -> str:
        return f"{self.base}.x.{self._pair(stream)}"

    def name(self, stream: str) -> str:
        return f"{self.base}.n.{self._pair(stream)}"

    def marker(self, stream: str, event_id: bytes) -> str:
        digest = hashlib.sha256(stream.encode() + b"\0" + event_id).hexdigest()[:32]
        return f"{self.base}.i.{digest}"

    def blob(self, address: bytes, chunk: int | str) -> str:
        return f"{self.base}.b.{address.hex()}.{chunk}"

    def tag(self, tag: str, type: str | None) -> str:
        return f"{self.base}.g.{token(tag)}.{token(type or '_')}"

    def check(self, n: int) -> str:
        return f"{self.base}.k.{n}"

    def checkpoint(self, name: str) -> str:
        return f"{self.base}.c.{token(name)}"

    def lease(self, name: str) -> str:
        return f"{self.base}.l.{token(name)}"

    @staticmethod
    def _pair(stream: str) -> str:
        return f"{token(category_of(stream))}.{token(stream)}"
