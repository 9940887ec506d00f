"""Generic JSON Lines: one object per line with ``input`` and ``target``.

``target`` is a string, a number or a list of accepted answers; optional keys
are ``id`` and ``split`` (ini/dev/test).  Blank lines are skipped; example ids
are line numbers unless an ``id`` is given.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from reflectloop.core.tasks import tabular
from reflectloop.core.tasks.base import TaskError, as_targets, read_text


def read_rows(path: Path) -> list[tabular.Row]:
    return [_row(obj, number, where) for number, where, obj in read_records(path)]


def read_records(path: Path) -> Iterator[tuple[int, str, dict]]:
    """(line number, "file line N", object) of every non-blank line; a line
    that is not a JSON object is a TaskError naming it."""
    text = read_text(path, path.name, encoding="utf-8-sig")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise TaskError(f"{where}: not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise TaskError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        yield number, where, obj


def _row(obj: dict, number: int, where: str) -> tabular.Row:
    for key in ("input", "target"):
        if key not in obj:
            raise TaskError(f"{where}: missing key '{key}' (keys: {', '.join(obj) or 'none'})")
    if not isinstance(obj["input"], str) or not obj["input"].strip():
        raise TaskError(f"{where}: 'input' is not a non-empty string")
    ex_id = obj.get("id")
    return tabular.Row(
        where=where,
        line=number,
        id=None if ex_id is None else str(ex_id),
        input=obj["input"],
        targets=as_targets(obj["target"], where),
        split=tabular.split_name(obj.get("split"), where),
    )
