"""A task file's data: JSONL, CSV or Parquet rows with named columns, read
into ``TaskExample``s (input fields, target, split), and split into
ini/dev/test — by the data's own split column, else the seeded split every
loader uses; or any existing task spec (``bbh:snarks``), whose examples have
the one field ``input``."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from reflectloop.core.metrics.base import TaskExample
from reflectloop.core.tasks import csv, jsonl
from reflectloop.core.tasks.base import SPLITS, TaskError, cap, seeded_split
from reflectloop.core.tasks.tabular import split_name
from reflectloop.core.types import Task

FORMATS = ("jsonl", "csv", "parquet")
SPEC_FIELD, SPEC_TARGET = "input", "target"
# Loads any task spec: ``core.tasks.load_task``, handed down by the registry.  A task
# file's data spec may name any task, a task file included, so the loading recurses
# through the registry; taking it as a value keeps the registry the only module that
# imports the loaders.
SpecLoader = Callable[..., Task]


@dataclass(frozen=True)
class DataSource:
    inputs: tuple[str, ...]  # the columns that fill the template's slots
    target: str | None = None  # None: no gold answer (a judge or a function needs none)
    path: Path | None = None
    format: str = ""
    spec: str | None = None  # any task spec instead of a file
    split: str | None = None  # a column naming each row's split
    id: str | None = None  # a column of example ids (default: line or row numbers)
    target_separator: str = ""  # splits a text target into several accepted answers

    @property
    def label(self) -> str:
        if self.spec:
            return self.spec
        assert self.path is not None, "a data source names a spec or a file"
        return self.path.name


# ------------------------------------------------------------------ reading
def read_examples(source: DataSource) -> tuple[TaskExample, ...]:
    """Every row of a data file as an example; each problem names its row."""
    assert source.path is not None, "a spec source is loaded as a task, not read here"
    examples: list[TaskExample] = []
    seen: dict[str, str] = {}
    for number, where, record in _records(source.path, source.format):
        example = _example(record, number, where, source)
        if example.id in seen:
            raise TaskError(f"{where}: duplicate id {example.id!r} (also at {seen[example.id]})")
        seen[example.id] = where
        examples.append(example)
    if not examples:
        raise TaskError(f"{source.path.name}: no examples")
    return tuple(examples)


def _records(path: Path, fmt: str) -> Iterator[tuple[int, str, dict]]:
    if fmt == "jsonl":
        yield from jsonl.read_records(path)
    elif fmt == "csv":
        yield from csv.read_records(path)[1]
    else:
        yield from _parquet(path)


def csv_target(cell: Any) -> Any:
    """A CSV target cell: a JSON list or object when it holds one, else the
    text (so a dyck answer "[ ]" stays text)."""
    if not isinstance(cell, str):
        return cell
    text = cell.strip()
    if text[:1] in "[{":
        try:
            value = json.loads(text)
        except ValueError:
            return cell
        if isinstance(value, (list, dict)):
            return value
    return cell


def _parquet(path: Path) -> Iterator[tuple[int, str, dict]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise TaskError(f"{path.name}: reading Parquet needs the 'pyarrow' package: pip install pyarrow") from None
    if not path.is_file():
        raise TaskError(f"{path.name}: file not found ({path})")
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises its own error types for every kind of bad file
        raise TaskError(f"{path.name}: not a readable Parquet file: {exc}") from None
    for number, record in enumerate(rows, start=1):
        yield number, f"{path.name} row {number}", record


# ----------------------------------------------------------------- examples
def _example(record: dict, number: int, where: str, source: DataSource) -> TaskExample:
    def column(name: str) -> Any:
        if name not in record:
            raise TaskError(f"{where}: missing column {name!r} (columns: {', '.join(record) or 'none'})")
        return record[name]

    fields = {name: field_text(column(name), where, name) for name in source.inputs}
    targets: tuple[str, ...] = ()
    target: Any = None
    if source.target is not None:
        value = column(source.target)
        value = csv_target(value) if source.format == "csv" else value
        targets, target = parse_target(value, where, source.target_separator)
    ex_id = record.get(source.id) if source.id else None
    if source.id and (ex_id is None or not str(ex_id).strip()):
        raise TaskError(f"{where}: empty id in column {source.id!r}")
    split = split_name(column(source.split), where) if source.split else None
    return TaskExample(str(ex_id).strip() if ex_id is not None else str(number), fields, targets, target, split)


def field_text(value: Any, where: str, name: str) -> str:
    """A field as the template shows it: text as is, numbers and booleans
    as written, lists and objects as JSON."""
    if value is None:
        raise TaskError(f"{where}: column {name!r} is empty")
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def parse_target(value: Any, where: str, separator: str = "") -> tuple[tuple[str, ...], Any]:
    """(accepted gold strings, the target as written).  A JSON object is kept
    whole for field matching; its canonical text is the one gold string."""
    if isinstance(value, dict):
        if not value:
            raise TaskError(f"{where}: the target object is empty")
        return (json.dumps(value, ensure_ascii=False, sort_keys=True),), value
    items = value if isinstance(value, list) else [value]
    texts = []
    for item in items:
        if item is None or isinstance(item, (list, dict)):
            raise TaskError(f"{where}: target {item!r} is not a string or number")
        text = str(item).strip()
        texts += [t.strip() for t in text.split(separator)] if separator else [text]
    targets = tuple(dict.fromkeys(t for t in texts if t))
    if not targets:
        raise TaskError(f"{where}: no accepted answer (empty target)")
    return targets, value


# ---------------------------------------------------------------- splitting
def split_examples(
    examples: tuple[TaskExample, ...], *, label: str, seed: int, ini_size: int, dev_size: int, test_size: int
) -> dict[str, tuple[TaskExample, ...]]:
    """The data's own split when its rows name one (all must), else seeded."""
    if not any(e.split for e in examples):
        return seeded_split(examples, label=label, seed=seed, ini_size=ini_size, dev_size=dev_size, test_size=test_size)
    unnamed = next((e for e in examples if e.split is None), None)
    if unnamed is not None:
        raise TaskError(f"{label}: example {unnamed.id!r} has no split, but other rows have one")
    sizes = dict(zip(SPLITS, (ini_size, dev_size, test_size)))
    groups = {s: [e for e in examples if e.split == s] for s in SPLITS}
    for split in ("dev", "test"):
        if sizes[split] > 0 and not groups[split]:
            raise TaskError(f"{label}: the split column names no {split!r} examples")
    return {s: cap(groups[s], sizes[s], seed=seed, purpose=f"file:{s}") for s in SPLITS}


def spec_examples(task: Task) -> dict[str, tuple[TaskExample, ...]]:
    """A loaded task's splits as TaskExamples with the one field ``input``."""
    return {
        split: tuple(
            TaskExample(e.id, {SPEC_FIELD: e.input}, e.targets, list(e.targets), split) for e in getattr(task, split)
        )
        for split in SPLITS
    }
