"""A TinyDB whose inserts cost O(inserted) on an :class:`AppendStorage`.

Stock ``Table.insert`` rebuilds the whole table dict twice (ids to int and
back) before handing it to the storage: about 2.5 ms per insert at 10,000
documents, which would make every recorded LLM call slower than the last.
:class:`AppendTable` overrides only ``insert``/``insert_multiple`` to pass the
new documents straight to :meth:`AppendStorage.append`; ids still come from
TinyDB's own ``_get_next_id``, so mixing in stock operations stays safe.
Everything else (queries, updates, removals) is TinyDB's code.  The files are
the same either way: plain ``TinyDB(path, storage=AppendStorage)`` reads them.
:meth:`AppendDB.insert_together` inserts into several tables in one write.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import cast

from tinydb import TinyDB
from tinydb.table import Table

from .storage import AppendStorage


class AppendTable(Table):
    def insert(self, document: Mapping) -> int:
        if isinstance(document, self.document_class) or not isinstance(self.storage, AppendStorage):
            return super().insert(document)  # explicit doc_id: keep TinyDB's exact semantics
        return self.insert_multiple([document])[0]

    def insert_multiple(self, documents: Iterable[Mapping]) -> list[int]:
        documents = list(documents)
        explicit_ids = any(isinstance(d, self.document_class) for d in documents)
        if explicit_ids or not isinstance(self.storage, AppendStorage):
            return super().insert_multiple(documents)
        batch = self.with_new_ids(documents)
        self.storage.append({self.name: batch})
        self.clear_cache()
        return [int(doc_id) for doc_id in batch]

    def with_new_ids(self, documents: Sequence[Mapping]) -> dict[str, dict]:
        """Give new documents the ids TinyDB would, ready for :meth:`AppendStorage.append`."""
        for document in documents:
            if not isinstance(document, Mapping):
                raise ValueError("Document is not a Mapping")
        return {str(self._get_next_id()): dict(document) for document in documents}


class AppendDB(TinyDB):
    """TinyDB with :class:`AppendTable`; opened on an :class:`AppendStorage` by default."""

    table_class = AppendTable
    # TinyDB's attribute is inferred as its own JSONStorage; any Storage class is meant.
    default_storage_class = AppendStorage  # type: ignore[assignment]

    def insert_together(self, documents: Mapping[str, Sequence[Mapping]]) -> None:
        """Insert into several tables as one write: one line, one fsync, all or nothing."""
        # table_class and the default storage make these an AppendTable and an AppendStorage.
        batches = {name: cast(AppendTable, self.table(name)).with_new_ids(docs) for name, docs in documents.items() if docs}
        cast(AppendStorage, self.storage).append(batches)
        for name in batches:
            self.table(name).clear_cache()
