"""Generic CSV with a header row: columns ``input`` and ``target``.

``target`` holds one answer, several separated by ``|``, or a JSON list
(``["14", "fourteen"]``).  Optional columns: ``id`` and ``split``
(ini/dev/test).  Example ids are the row's line number unless an ``id`` is given.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from reflectloop.core.tasks import tabular
from reflectloop.core.tasks.base import TaskError, as_targets

REQUIRED = ("input", "target")


def read_rows(path: Path) -> list[tabular.Row]:
    columns, records = read_records(path)
    for column in REQUIRED:
        if column not in columns:
            raise TaskError(f"{path.name}: missing column '{column}' (columns: {', '.join(columns)})")
    return [_row(record, line, where) for line, where, record in records]


def read_records(path: Path) -> tuple[list[str], list[tuple[int, str, dict]]]:
    """(the header's columns, (line, "file line N", record) of every row);
    headers are stripped (" target" is "target"), cells past the header dropped."""
    try:
        # newline="" lets the csv module handle quoted fields that span lines.
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            reader.fieldnames = [c.strip() for c in reader.fieldnames or []]
            if not reader.fieldnames:
                raise TaskError(f"{path.name}: empty file")
            rows = [(reader.line_num, record) for record in reader]
    except FileNotFoundError:
        raise TaskError(f"{path.name}: file not found ({path})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{path.name}: cannot read: {exc}") from None
    except csv.Error as exc:
        raise TaskError(f"{path.name}: not valid CSV: {exc}") from None
    records = [(line, f"{path.name} line {line}", {k: v for k, v in r.items() if k is not None}) for line, r in rows]
    return reader.fieldnames, records


def _row(record: dict, line: int, where: str) -> tabular.Row:
    text = record.get("input")
    if not text or not text.strip():
        raise TaskError(f"{where}: empty 'input'")
    ex_id = (record.get("id") or "").strip()
    return tabular.Row(
        where=where,
        line=line,
        id=ex_id or None,
        input=text,
        targets=as_targets(parse_target(record.get("target") or ""), where),
        split=tabular.split_name(record.get("split"), where),
    )


def parse_target(cell: str) -> list:
    """A JSON list when the cell looks like one, else ``|``-separated answers."""
    cell = cell.strip()
    if cell.startswith("["):
        try:
            value = json.loads(cell)
        except ValueError:
            value = None  # e.g. a dyck answer "[ ]": plain text after all
        if isinstance(value, list):
            return value
    return cell.split("|")
