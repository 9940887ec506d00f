"""What changed since the last write, found in O(changed) rather than O(all).

TinyDB's ``Table`` hands the storage the complete data on every write.  To
append only the difference without comparing every document, the storage
keeps its in-memory documents as :class:`TrackedDoc` objects, which note
their id in a per-table "touched" set whenever they are mutated (TinyDB's
updates mutate the stored document in place: ``doc.update(fields)`` or an
operation such as ``increment`` that assigns a key).  Inserted documents are
plain dicts that TinyDB appends at the end of the table it rebuilt from ours
(it preserves the order), so they are found by walking the table backwards
until a known id shows up; a count check proves nothing was removed in
between.  Anything unusual falls back to a full comparison, which is only
correct-but-slower, never wrong.

Known limit: an update *callable* that mutates a nested value in place
(``doc["tags"].append(x)``) does not touch the document itself; reassign the
field (``doc["tags"] = doc["tags"] + [x]``) to have it recorded.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

# One encoder instance: json.dumps with options builds a new encoder per call.
# ensure_ascii keeps every Python str (even a lone surrogate) round-trippable.
encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def encoded_size(doc: dict) -> int:
    return len(encode(doc))


class TrackedDoc(dict):
    """A stored document that reports its own mutation.

    ``size`` is the length of its last written JSON (-1 while unknown, e.g.
    right after a replay); it is captured before the first mutation so the
    storage can keep an exact count of live bytes without re-encoding.
    """

    __slots__ = ("_touched", "_id", "size")

    def __init__(self, data=(), touched: set | None = None, doc_id: str | None = None, size: int = -1):
        dict.__init__(self, data)
        self._touched = touched
        self._id = doc_id
        self.size = size

    def __reduce__(self):  # copies (copy, pickle) become plain dicts, detached from the storage
        return dict, (dict(self),)

    def _touch(self) -> None:
        if self._touched is not None:
            if self.size < 0:
                self.size = encoded_size(self)
            self._touched.add(self._id)

    def __setitem__(self, key, value):
        self._touch()
        dict.__setitem__(self, key, value)

    def __delitem__(self, key):
        self._touch()
        dict.__delitem__(self, key)

    def __ior__(self, other):
        self._touch()
        return dict.__ior__(self, other)

    def update(self, *args, **kwargs):
        self._touch()
        dict.update(self, *args, **kwargs)

    def pop(self, *args):
        self._touch()
        return dict.pop(self, *args)

    def popitem(self):
        self._touch()
        return dict.popitem(self)

    def clear(self):
        self._touch()
        dict.clear(self)

    def setdefault(self, key, default=None):
        self._touch()
        return dict.setdefault(self, key, default)


@dataclass
class TableDiff:
    table: dict  # the table dict to keep in memory from now on
    put: dict[str, dict] = field(default_factory=dict)  # new or changed documents by id
    delete: list[str] = field(default_factory=list)
    created: bool = False

    def __bool__(self) -> bool:
        return bool(self.put or self.delete or self.created)


@dataclass
class Changes:
    tables: dict[str, TableDiff] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.drop) or any(self.tables.values())


def diff(old: dict[str, dict], new: dict[str, dict], touched: dict[str, set], *, trusted: bool) -> Changes:
    """Changes from ``old`` (what was last written) to ``new`` (what TinyDB passed).

    ``trusted`` means ``new`` is the very dict the storage handed out in its
    last ``read()``, modified by TinyDB's ``Table`` (the fast path applies).
    """
    changes = Changes(drop=[name for name in old if name not in new])
    for name, after in new.items():
        before = old.get(name)
        if before is None:
            table = dict(after)  # a new table: every document is new
            changes.tables[name] = TableDiff(table, put=dict(table), created=True)
        else:
            changes.tables[name] = _table_diff(before, after, touched.get(name, ()), trusted)
    return changes


def _table_diff(before: dict, after: dict, touched, trusted: bool) -> TableDiff:
    if after is before:
        result = TableDiff(before)
    else:
        added = appended_ids(before, after) if trusted else None
        if added is None:
            return _full_diff(before, after, touched)
        result = TableDiff(after, put={i: after[i] for i in added})
    for doc_id in touched:
        if doc_id in result.table:
            result.put[doc_id] = result.table[doc_id]
    return result


def appended_ids(before: dict, after: dict) -> list[str] | None:
    """Ids TinyDB appended to ``after``, or None when more than appending happened."""
    added = []
    boundary = None
    for doc_id in reversed(after):
        if doc_id in before:
            boundary = doc_id
            break
        added.append(doc_id)
    if len(after) - len(added) != len(before):
        return None  # something was removed
    if before and boundary != next(reversed(before)):
        return None  # not a plain append at the end: compare everything
    added.reverse()
    return added


def _full_diff(before: dict, after: dict, touched) -> TableDiff:
    """O(n) comparison for writes that did not come from TinyDB's read-modify-write."""
    result = TableDiff({})
    for doc_id, doc in after.items():
        prev = before.get(doc_id)
        if prev is not None and (doc is prev or doc == prev):
            result.table[doc_id] = prev  # keep our tracked copy, not the caller's object
            if doc_id in touched:
                result.put[doc_id] = prev
        else:
            result.table[doc_id] = doc
            result.put[doc_id] = doc
    result.delete = [doc_id for doc_id in before if doc_id not in after]
    return result
