"""A database's document calls: their checks, before the storage's documents part is asked."""

from __future__ import annotations

from typing import Any

import msgspec

from ._documents import (
    DocumentPage,
    DocumentQuery,
    check_collection,
    check_documents,
    check_fields,
)
from ._exceptions import InvalidDocumentQuery, NotSupported, UnknownDocumentIndex
from ._keyring import KeyHolder
from .storage.base import Storage
from .storage.documents import DocumentRow, DocumentStorage

__all__ = ["Documents"]


class Documents:
    """The documents of one database (``db``) of a ``storage``."""

    def __init__(self, storage: Storage, db: str, keys: KeyHolder) -> None:
        self.storage = storage
        self.db = db
        self._keys = keys
        # fields known to be declared: declarations only ever add, so what was seen once
        # stays true, and a query of known fields reads no declaration
        self._declared: dict[str, frozenset[str]] = {}

    @property
    def supported(self) -> bool:
        # documents are kept in plaintext, so an encrypted database keeps none
        return isinstance(self.storage, DocumentStorage) and self._keys.get() is None

    def _storage(self) -> DocumentStorage:
        storage = self.storage
        if not isinstance(storage, DocumentStorage):
            raise NotSupported(f"{type(storage).__name__} does not keep documents")
        if self._keys.get() is not None:
            raise NotSupported(
                f"database {self.db!r} is encrypted: documents (and their indexes) would be "
                "kept in plaintext, so it keeps none"
            )
        return storage

    def rows(self, documents: object) -> list[DocumentRow]:
        """Checked rows of ``append_batch(documents=...)``, before anything is written."""
        rows = check_documents(documents)
        if rows:
            self._storage()
        return rows

    def declare(self, collection: str, fields: object) -> None:
        check_collection(collection)
        found = check_fields(fields)
        if not found:
            raise InvalidDocumentQuery("declare at least one field")
        self._storage().declare_document_index(self.db, collection, found)

    def fields(self, collection: str) -> tuple[str, ...]:
        check_collection(collection)
        storage = self.storage
        if not self.supported or not isinstance(storage, DocumentStorage):
            return ()
        return storage.document_fields(self.db, collection)

    def get(self, collection: str, key: str) -> Any:
        check_collection(collection)
        if not isinstance(key, str) or not key:
            raise InvalidDocumentQuery(f"a document key is a non-empty string, not {key!r}")
        body = self._storage().get_document(self.db, collection, key)
        return None if body is None else msgspec.json.decode(body)

    def _checked(self, collection: str, query: DocumentQuery) -> DocumentStorage:
        check_collection(collection)
        storage = self._storage()
        declared = self._declared.get(collection, frozenset())
        if not query.fields <= declared:
            declared = frozenset(storage.document_fields(self.db, collection))
            self._declared[collection] = declared
        unknown = sorted(query.fields - declared)
        if unknown:
            raise UnknownDocumentIndex(
                f"collection {collection!r} has no index on {', '.join(unknown)} "
                f"(declared: {sorted(declared) or 'none'})"
            )
        return storage

    def query(self, collection: str, query: DocumentQuery) -> DocumentPage:
        rows = self._checked(collection, query).query_documents(self.db, collection, query)
        return query.page([(k, msgspec.json.decode(b)) for k, b in rows])

    def count(self, collection: str, query: DocumentQuery) -> int:
        return self._checked(collection, query).count_documents(self.db, collection, query)
