"""The suite's task file: add two numbers, with a Python metric.

Several test modules need the same small task file (rows of A and B with their
sum, a system message holding the prompt, a Python grader beside it); this is
its one home.  Each module passes what differs: the prompts, whether rows carry
an ``id`` field, the metric block and the grader's source.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

PYTHON_METRIC = """
[metric]
kind = "python"
function = "grade.py:grade"
threshold = 1.0
"""


def adder_rows(n: int, *, ids: bool = True) -> list[dict]:
    """n rows whose sum is 2i+1; without ``ids`` the rows are named by line number."""
    return [{**({"id": f"r{i}"} if ids else {}), "a": str(i), "b": str(i + 1), "sum": str(2 * i + 1)}
            for i in range(n)]


def adder_toml(prompts: tuple[str, ...] = ("Add the two numbers.",), *, ids: bool = True,
               metric: str = PYTHON_METRIC) -> str:
    """The task file's text: the data, the messages, a raw output and ``metric``."""
    listed = ", ".join(json.dumps(p) for p in prompts)
    id_line = 'id = "id"\n' if ids else ""
    head = (f"prompts = [{listed}]\n\n"
            '[data]\npath = "rows.jsonl"\ninputs = ["a", "b"]\ntarget = "sum"\n' + id_line +
            '\n[messages]\nsystem = "{prompt}"\nuser = "A={a} B={b}"\n\n[output]\nkind = "raw"\n')
    return head + textwrap.dedent(metric)


def write_adder_task(folder: Path, *, rows: list[dict], grade: str, toml: str) -> Path:
    """rows.jsonl, grade.py and task.toml in ``folder``; the task file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "grade.py").write_text(grade)
    path = folder / "task.toml"
    path.write_text(toml)
    return path
