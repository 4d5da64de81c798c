"""The documents part of the storage contract (optional): a backend that keeps documents
derives from :class:`DocumentStorage` as well as from :class:`~.base.Storage`.

A document is the current JSON value of a key in a collection of a database. Documents are
written only with an append (:meth:`DocumentStorage.append_documents`), in the same atomic
step as its entries and checkpoint, so a reader never sees a document that disagrees with
the streams it was made from. A collection declares the fields it is queried by
(:meth:`DocumentStorage.declare_document_index`); the backend then answers a checked
:class:`~safe_eventstore._documents.DocumentQuery` on those fields, through real indexes
where it has them (SQLite) or by a scan (memory). A backend never decodes a document to
decide anything but a query's answer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from .._documents import DocumentQuery
from .._model import AppendResult
from .base import Signer, Write

__all__ = ["DocumentRow", "DocumentStorage"]

#: a document written with an append: (collection, key, JSON bytes, or None to delete it)
DocumentRow = tuple[str, str, bytes | None]


class DocumentStorage(ABC):
    """The calls of a backend that keeps documents beside its streams."""

    @abstractmethod
    def append_documents(
        self,
        db: str,
        writes: list[Write],
        blobs: dict[bytes, bytes],
        *,
        documents: list[DocumentRow],
        checkpoint: tuple[str, int] | None = None,
        signer: Signer | None = None,
    ) -> list[AppendResult]:
        """:meth:`Storage.append` (or :meth:`Storage.append_signed` with a ``signer``), and
        store ``documents`` in the same atomic step (a later row of one key wins). When
        every write is an idempotent retry, nothing is stored, documents included."""

    @abstractmethod
    def declare_document_index(self, db: str, collection: str, fields: tuple[str, ...]) -> None:
        """Make ``collection`` queryable by ``fields`` (checked paths), adding to those it
        declared before; idempotent."""

    @abstractmethod
    def document_fields(self, db: str, collection: str) -> tuple[str, ...]:
        """The fields ``collection`` declared, in name order (none: ``()``)."""

    @abstractmethod
    def get_document(self, db: str, collection: str, key: str) -> bytes | None:
        """A document's JSON bytes, or ``None`` when there is none."""

    @abstractmethod
    def query_documents(
        self, db: str, collection: str, query: DocumentQuery
    ) -> list[tuple[str, bytes]]:
        """Up to ``query.limit + 1`` documents ``(key, JSON bytes)`` that the query selects,
        in its order, after its ``after`` mark: :meth:`DocumentQuery.select` is the meaning."""

    @abstractmethod
    def count_documents(self, db: str, collection: str, query: DocumentQuery) -> int:
        """How many documents of ``collection`` pass the query's conditions."""
