"""Generic JSON Lines: one object per line with ``input`` and ``target``.

``target`` is a string, a number or a list of accepted answers; optional keys
are ``id`` and ``split`` (ini/dev/test).  Blank lines are skipped; example ids
are line numbers unless an ``id`` is given.
"""
from __future__ import annotations

import json
from pathlib import Path

from core.tasks import tabular
from core.tasks.base import TaskError, as_targets, read_text


def read_rows(path: Path) -> list[tabular.Row]:
    text = read_text(path, path.name, encoding="utf-8-sig")
    return [
        _row(json_line, number, f"{path.name} line {number}")
        for number, json_line in enumerate(text.splitlines(), start=1)
        if json_line.strip()
    ]


def _row(line: str, number: int, where: str) -> tabular.Row:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise TaskError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise TaskError(f"{where}: expected a JSON object, got {type(obj).__name__}")
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
