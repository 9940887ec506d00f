"""What the JSONL and CSV loaders share once a file is read into rows:
ids, the optional ``split`` column, the seeded split, the sidecar description.

A description sidecar sits beside the data file: ``data.jsonl`` →
``data.description.txt``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from reflectloop.core.tasks.base import SPLITS, TaskError, build_task, cap, seeded_split
from reflectloop.core.types import Example, Task

# The study's folder names are accepted as split names too.
SPLIT_ALIASES = {"ini": "ini", "dev": "dev", "test": "test", "induce": "dev", "execute": "test"}


@dataclass(frozen=True)
class Row:
    where: str  # "data.csv line 7", for error messages
    line: int
    id: str | None
    input: str
    targets: tuple[str, ...]
    split: str | None


def split_name(value: object, where: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    key = str(value).strip().casefold()
    if key not in SPLIT_ALIASES:
        raise TaskError(f"{where}: unknown split {value!r} (use one of: ini, dev, test)")
    return SPLIT_ALIASES[key]


def build(
    rows: Sequence[Row], path: Path, *, spec: str, seed: int, ini_size: int, dev_size: int, test_size: int
) -> Task:
    if not rows:
        raise TaskError(f"{path.name}: no examples")
    examples = _examples(rows, path)
    if any(r.split for r in rows):
        splits = _given_split(rows, examples, path, seed=seed, sizes=(ini_size, dev_size, test_size))
    else:
        splits = seeded_split(
            examples, label=path.name, seed=seed, ini_size=ini_size, dev_size=dev_size, test_size=test_size
        )
    return build_task(spec, description(path), splits)


def _examples(rows: Sequence[Row], path: Path) -> list[Example]:
    seen: dict[str, str] = {}
    examples = []
    for row in rows:
        ex_id = row.id if row.id is not None else str(row.line)
        if ex_id in seen:
            raise TaskError(f"{row.where}: duplicate id {ex_id!r} (also at {seen[ex_id]})")
        seen[ex_id] = row.where
        examples.append(Example(id=ex_id, input=row.input, targets=row.targets))
    return examples


def _given_split(
    rows: Sequence[Row], examples: list[Example], path: Path, *, seed: int, sizes: tuple[int, int, int]
) -> dict[str, tuple[Example, ...]]:
    """Honour the file's own split; a file that splits some rows must split all."""
    missing = next((r for r in rows if r.split is None), None)
    if missing:
        raise TaskError(f"{missing.where}: no 'split' value, but other rows have one")
    groups = {s: [e for e, r in zip(examples, rows) if r.split == s] for s in SPLITS}
    for split, size in zip(("dev", "test"), sizes[1:]):
        if size > 0 and not groups[split]:
            raise TaskError(f"{path.name}: the 'split' column names no '{split}' examples")
    return {s: cap(groups[s], size, seed=seed, purpose=f"file:{s}") for s, size in zip(SPLITS, sizes)}


def description(path: Path) -> str:
    sidecar = path.with_name(path.stem + ".description.txt")
    try:
        text = sidecar.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return text or f"Answer each question of the data set '{path.stem}'."
