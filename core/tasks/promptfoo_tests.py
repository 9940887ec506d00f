"""A promptfoo suite's tests: inline, or read from ``file://`` YAML, JSON or
CSV (a glob such as ``file://tests/*.csv`` too), each as a plain dict with
``vars``, ``assert`` and the rest of what the file says.

A CSV row's columns are its vars, except ``__expected`` (and
``__expected1``, ``__expected2``…), each one assertion written as promptfoo
writes it there (``contains: yes``, ``similar(0.8): a cat``, a bare value
meaning ``equals``), and ``__description``.  Other ``__`` columns are refused
by name.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from reflectloop.core.tasks.base import TaskError, read_text

_EXPECTED = re.compile(r"__expected\d*")
_THRESHOLD = re.compile(r"^([a-z-]+)\((\d*\.?\d+)\)$")  # similar(0.8)
CSV_COLUMNS = ("__expected", "__expected1, __expected2, ...", "__description")
# A CSV cell's ``TYPE:`` prefix as promptfoo's shorthand names it -> the assertion type.
CSV_PREFIXES = {"grader": "llm-rubric", "fn": "javascript", "eval": "javascript"}


def load_yaml(text: str, where: str) -> Any:
    import yaml  # PyYAML: promptfoo's configs and test files are YAML

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TaskError(f"{where}: not valid YAML: {exc}") from None


def file_ref(value: Any) -> str | None:
    """The path of a ``file://`` reference, else None."""
    if isinstance(value, str) and value.startswith("file://"):
        return value[len("file://") :]
    return None


def resolve(base: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else base / path


def read_tests(value: Any, base: Path, where: str) -> tuple[list[dict], list[Path]]:
    """Every test ``value`` names (in order) and the files they came from."""
    if value is None:
        raise TaskError(f"{where}: no tests: a suite needs tests (inline, or file:// YAML or CSV)")
    items = value if isinstance(value, list) else [value]
    tests: list[dict] = []
    files: list[Path] = []
    for number, item in enumerate(items, 1):
        ref = file_ref(item)
        if ref is not None:
            paths = _expand(base, ref, where)
            files += paths
            for path in paths:
                tests += _read_file(path)
        elif isinstance(item, dict):
            tests.append(item)
        else:
            raise TaskError(f"{where}: test {number} must be a mapping (vars, assert) or a file:// path, got {item!r}")
    if not tests:
        raise TaskError(f"{where}: the tests are empty")
    return tests, files


def _expand(base: Path, ref: str, where: str) -> list[Path]:
    if any(c in ref for c in "*?["):
        found = sorted(p for p in base.glob(ref) if p.is_file())
        if not found:
            raise TaskError(f"{where}: no test file matches file://{ref} (in {base})")
        return found
    return [resolve(base, ref)]


def _read_file(path: Path) -> list[dict]:
    suffix = path.suffix.casefold()
    if suffix == ".csv":
        return _csv_tests(path)
    if suffix not in (".yaml", ".yml", ".json"):
        raise TaskError(f"{path.name}: tests are read from .yaml, .yml, .json or .csv files")
    data = load_yaml(read_text(path, path.name), path.name)
    data = data if isinstance(data, list) else [data]
    if not all(isinstance(t, dict) for t in data):
        raise TaskError(f"{path.name}: a test file holds a list of tests (mappings with vars and assert)")
    return data


def _csv_tests(path: Path) -> list[dict]:
    text = read_text(path, path.name, encoding="utf-8-sig")
    tests = []
    for number, row in enumerate(csv.DictReader(io.StringIO(text)), 2):
        where = f"{path.name}, line {number}"
        test: dict[str, Any] = {"vars": {}, "assert": []}
        for column, cell in row.items():
            if column is None:
                raise TaskError(f"{where}: more cells than columns")
            cell = cell or ""
            if _EXPECTED.fullmatch(column):
                if cell.strip():
                    test["assert"].append(csv_assertion(cell, where))
            elif column == "__description":
                test["description"] = cell
            elif column.startswith("__"):
                raise TaskError(f"{where}: the column {column!r} is not supported "
                                f"(special columns: {', '.join(CSV_COLUMNS)})")
            else:
                test["vars"][column] = cell
        tests.append(test)
    return tests


def csv_assertion(cell: str, where: str) -> dict:
    """One ``__expected`` cell as an assertion: ``TYPE: value`` with a
    promptfoo type (``similar(0.8): value`` with its threshold; a type
    reflectloop does not support is refused where assertions are read),
    a bare value-less type (``is-json``), else ``equals`` the whole cell."""
    from reflectloop.core.metrics.promptfoo_asserts import ALL_TYPES, OTHER_TYPES

    if cell.strip() in ALL_TYPES:
        return {"type": cell.strip()}
    head, colon, rest = cell.partition(":")
    name, threshold = head.strip(), None
    match = _THRESHOLD.match(name)
    if match:
        name, threshold = match.group(1), float(match.group(2))
    kind = CSV_PREFIXES.get(name, name)
    if not colon or (kind not in ALL_TYPES and kind not in OTHER_TYPES):
        return {"type": "equals", "value": cell}
    out: dict[str, Any] = {"type": kind, "value": rest.strip()}
    if threshold is not None:
        out["threshold"] = threshold
    return out
