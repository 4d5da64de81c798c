"""An encrypted database's wrapped data keys on NATS: a JetStream stream of their own beside
the database's, which (unlike the database's) allows deletes.

=========================================  ===============================================
JetStream stream ``<prefix>_<db>_KEYS``    subjects ``<prefix>_keys.<db>.<scope token>``
one message per scope                      the wrapped key; the scope's name in a header;
                                           an empty message once the scope is forgotten
=========================================  ===============================================

A key is added only if its subject holds nothing yet (an expected last subject sequence of
0), so of two racing writers the first one's key is kept. Destroying a key stores the empty
message, then deletes every earlier message of the subject with JetStream's secure erase
(the server overwrites the message's bytes in its block files), as re-wrapping does for the
replaced keys. The database's settings are kept in the metadata of its own stream's
configuration, written when it is created.
"""

from __future__ import annotations

from typing import Any

from nats.aio.msg import Msg

from ._connection import ApiError, Connection
from ._names import Layout, token
from ._state import seq_of

__all__ = ["KEYS_SUFFIX", "SETTINGS", "KeyStore"]

KEYS_SUFFIX = "_KEYS"  # upper case: no database name has it, so no listing shows it
SETTINGS = "safe_eventstore.settings"
SCOPE = "Ses-Scope"  # header: the scope's name, UTF-8 in hex
EXPECT = "Nats-Expected-Last-Subject-Sequence"
CONFLICTS = {10070, 10071, 10164}
STREAM_NAME_IN_USE = 10058
_PAGE = 256


class KeyStore:
    """The key stream of one database of ``layout``."""

    def __init__(self, conn: Connection, layout: Layout) -> None:
        self.conn = conn
        self.stream = f"{layout.stream_name}{KEYS_SUFFIX}"
        self.base = f"{layout.prefix}_keys.{layout.database}"

    def subject(self, scope: str) -> str:
        return f"{self.base}.{token(scope)}"

    async def create(self, replicas: int) -> None:
        config = {
            "name": self.stream,
            "subjects": [f"{self.base}.*"],
            "retention": "limits",
            "storage": "file",
            "num_replicas": replicas,
            "discard": "old",
            "allow_direct": True,
            "description": "SAFE EventStore wrapped data keys",
        }
        try:
            await self.conn.api(f"STREAM.CREATE.{self.stream}", config)
        except ApiError as exc:
            if exc.code != STREAM_NAME_IN_USE:  # left by a creation cut short: reused
                raise

    async def _last(self, scope: str) -> Msg | None:
        return await self.conn.get_last(self.stream, self.subject(scope))

    async def add(self, scope: str, wrapped: bytes) -> bytes:
        headers = {EXPECT: "0", SCOPE: scope.encode().hex()}
        while True:
            try:
                await self.conn.publish(self.subject(scope), wrapped, dict(headers))
                return wrapped
            except ApiError as exc:
                if exc.code not in CONFLICTS:
                    raise
            last = await self._last(scope)
            if last is not None:
                return bytes(last.data)

    async def read(self, scopes: list[str] | None) -> dict[str, bytes]:
        if scopes is not None:
            found: dict[str, bytes] = {}
            for scope in scopes:
                last = await self._last(scope)
                if last is not None:
                    found[scope] = bytes(last.data)
            return found
        keys: dict[str, bytes] = {}
        for msg in await self._all():
            keys[_scope_of(msg)] = bytes(msg.data)  # in order: the last of a subject wins
        return keys

    async def _all(self, subject: str | None = None) -> list[Msg]:
        msgs: list[Msg] = []
        start = 1
        while True:
            page = await self.conn.get_batch(
                self.stream,
                {"seq": start, "batch": _PAGE, "next_by_subj": subject or f"{self.base}.*"},
            )
            msgs.extend(page)
            if len(page) < _PAGE:
                return msgs
            start = seq_of(page[-1]) + 1

    async def _erase_before(self, scope: str, seq: int) -> None:
        """Securely delete every message of ``scope``'s subject before ``seq``."""
        for msg in await self._all(self.subject(scope)):
            old = seq_of(msg)
            if old < seq:
                await self._erase(old)

    async def _erase(self, seq: int) -> None:
        body: dict[str, Any] = {"seq": seq}  # no "no_erase": the server overwrites the bytes
        try:
            await self.conn.api(f"STREAM.MSG.DELETE.{self.stream}", body)
        except ApiError as exc:
            if exc.code != 10057:  # deleted already (by a forget cut short, retried)
                raise

    async def _put(self, scope: str, data: bytes, after: int) -> int | None:
        """Store ``data`` as the scope's message if ``after`` is still its last; its seq."""
        headers = {EXPECT: str(after), SCOPE: scope.encode().hex()}
        try:
            ack = await self.conn.publish(self.subject(scope), data, headers)
        except ApiError as exc:
            if exc.code in CONFLICTS:
                return None
            raise
        return int(ack["seq"])

    async def replace(self, wrapped: dict[str, bytes]) -> None:
        for scope, key in wrapped.items():
            while True:
                last = await self._last(scope)
                if last is None or not last.data:
                    break  # no key, or forgotten meanwhile
                seq = await self._put(scope, key, seq_of(last))
                if seq is not None:
                    await self._erase_before(scope, seq)
                    break

    async def destroy(self, scope: str) -> bool:
        while True:
            last = await self._last(scope)
            if last is None:
                return False
            if not last.data:  # forgotten: finish a forget that was cut short
                await self._erase_before(scope, seq_of(last))
                return False
            seq = await self._put(scope, b"", seq_of(last))
            if seq is not None:
                await self._erase_before(scope, seq)
                return True


def _scope_of(msg: Msg) -> str:
    hexed = (msg.headers or {}).get(SCOPE, "")
    return bytes.fromhex(hexed).decode()
