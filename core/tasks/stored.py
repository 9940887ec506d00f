"""A task as a session stores it: plain JSON-able data, and back.

A session is created with its task as resolved (:func:`dump`): the examples
it uses (ini, dev, test: ids, input, fields, targets and the target as
written), the description, answer hint and initial prompts; for a task file
also its text, message templates, output contract and metric settings (a
schema file inlined), a copy of a Python metric's source, and the sha256 of
every file it read.  :func:`load` rebuilds the ``Task`` (and the task file's
``TaskSpec`` with its scorer) from that data alone, so a session is scored,
shown and continued with what it started with, wherever its files are now.
:func:`changes` compares the files at their original paths with the digests.

Nothing of the environment goes in: the data is what the task files say.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from reflectloop.core.metrics import METRICS, MetricError
from reflectloop.core.metrics.python_source import capture, digest, stored_reference
from reflectloop.core.metrics.scorer import SUITE_METRICS
from reflectloop.core.metrics.task import EXACT_MATCH
from reflectloop.core.tasks.base import SPLITS, TaskError
from reflectloop.core.tasks.filetask import scorer_of
from reflectloop.core.tasks.taskdata import DataSource
from reflectloop.core.tasks.taskfile import TaskSpec, build_scorer
from reflectloop.core.tasks.template import MessageTemplate, TemplateError
from reflectloop.core.types import Example, Task

VERSION = 1
FILE_KINDS = ("jsonl", "csv")  # task specs that read one data file


# ---------------------------------------------------------------------- dump
def dump(task: Task, *, data_dir: str | Path | None = None) -> dict:
    """``task`` as plain data; relative paths are taken as absolute from the
    working directory, where the task was just read."""
    spec = task.taskfile
    stored = {
        "version": VERSION,
        "name": task.name,
        "description": task.description,
        "answer_hint": task.answer_hint,
        "initial_prompts": list(task.initial_prompts),
        "examples": {split: [_example(e) for e in getattr(task, split)] for split in SPLITS},
        "files": _data_files(task.name, data_dir) if spec is None else [],
        "taskfile": None,
    }
    if spec is not None:
        stored["taskfile"], stored["files"] = _taskfile(spec)
    return stored


def _example(e: Example) -> dict:
    return {"id": e.id, "input": e.input, "targets": list(e.targets), "fields": dict(e.fields),
            "target": _plain(e.target)}


def _plain(value: Any) -> Any:
    """JSON data as it is; anything else (a Parquet date) as its text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _data_files(name: str, data_dir) -> list[dict]:
    from reflectloop.core.tasks.registry import data_file  # the registry imports the loaders, this module among its users

    prefix, _, rest = name.partition(":")
    if prefix.strip().casefold() not in FILE_KINDS:
        return []
    return [_file("data file", data_file(rest.strip(), data_dir))]


def _file(role: str, path: Path) -> dict:
    path = Path(path).expanduser().resolve()
    return {"role": role, "path": str(path), "sha256": _digest(path)}


def _digest(path: Path) -> str | None:
    try:
        return digest(path.read_bytes())
    except OSError:
        return None


def _taskfile(spec: TaskSpec) -> tuple[dict, list[dict]]:
    files = [_file("task file", spec.path)]
    if spec.source.path is not None:
        files.append(_file("data file", spec.source.path))
    files += [_file("prompt file", p) for p in spec.prompt_paths]
    files += [_file("data file", p) for p in spec.other_paths]
    output = dict(spec.output_table)
    if output.get("schema_file"):  # the schema itself goes in, the file is only digested
        files.append(_file("schema file", _beside(spec.path, output.pop("schema_file"))))
        output["schema"] = spec.scorer.contract.validator.schema
    source = capture(spec.scorer.metric) if spec.scorer.metric.kind == "python" else None
    if source is not None:
        files.append({"role": "metric source", "path": source["path"], "sha256": source["sha256"]})
    stored = {
        "path": str(spec.path),  # as given: the task's name is file:<this>
        "folder": str(spec.path.expanduser().resolve().parent),
        "text": spec.text,
        "name": spec.name,
        "description": spec.description,
        "template": {"user": spec.template.user, "system": spec.template.system,
                     "few_shot": [list(pair) for pair in spec.template.few_shot]},
        "source": {"inputs": list(spec.source.inputs), "target": spec.source.target,
                   "path": str(spec.source.path.resolve()) if spec.source.path else None,
                   "format": spec.source.format, "spec": spec.source.spec, "split": spec.source.split,
                   "id": spec.source.id, "target_separator": spec.source.target_separator},
        "output": _plain(output),
        "metric": _plain(spec.metric_table),
        "metric_source": source,
        "prompts": list(spec.prompts),
        "warnings": list(spec.warnings),
    }
    return stored, files


def _beside(task_file: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else task_file.expanduser().parent / path


# ---------------------------------------------------------------------- load
def load(stored: Mapping) -> Task:
    """The ``Task`` a session stored; a Python metric runs its stored source."""
    _check_version(stored)
    try:
        return _load(stored)
    except (KeyError, TypeError, AttributeError) as exc:  # a stored task edited by hand
        raise TaskError(f"the session's stored task is damaged: {type(exc).__name__}: {exc}") from None


def _load(stored: Mapping) -> Task:
    splits = {s: tuple(_to_example(e) for e in stored["examples"].get(s, ())) for s in SPLITS}
    spec = _spec(stored["taskfile"]) if stored.get("taskfile") else None
    return Task(
        name=stored["name"],
        description=stored["description"],
        ini=splits["ini"],
        dev=splits["dev"],
        test=splits["test"],
        initial_prompts=tuple(stored["initial_prompts"]),
        answer_hint=stored["answer_hint"],
        taskfile=spec,
        scorer=EXACT_MATCH if spec is None else scorer_of(spec),
    )


def template(stored: Mapping) -> MessageTemplate | None:
    """A stored task file's message template (None for any other task),
    built without loading its metric."""
    _check_version(stored)
    tf = stored.get("taskfile")
    try:
        return _template(tf["template"]) if tf else None
    except (KeyError, TypeError) as exc:
        raise TaskError(f"the session's stored template is damaged: {type(exc).__name__}: {exc}") from None


def _template(t: Mapping) -> MessageTemplate:
    try:
        return MessageTemplate(user=t["user"], system=t["system"], few_shot=tuple(tuple(p) for p in t["few_shot"]))
    except TemplateError as exc:
        raise TaskError(f"the session's stored template is not usable: {exc}") from None


def _check_version(stored: Mapping) -> None:
    if stored.get("version") != VERSION:
        raise TaskError(f"the session stores its task in format {stored.get('version')!r}, "
                        f"which this reflectloop does not read (it reads {VERSION})")


def _to_example(e: Mapping) -> Example:
    return Example(id=e["id"], input=e["input"], targets=tuple(e["targets"]), fields=dict(e["fields"]),
                   target=e["target"])


def _spec(tf: Mapping) -> TaskSpec:
    path = Path(tf["path"])
    metric, base = dict(tf["metric"]), Path(tf["folder"])
    if tf.get("metric_source"):
        metric["function"], base = stored_reference(tf["metric_source"])
    try:
        # Checked when the session was made: a task file's kinds, or a promptfoo suite's own.
        scorer = build_scorer(tf["output"], metric, base, {**METRICS, **SUITE_METRICS})
    except MetricError as exc:
        raise TaskError(f"{path.name} (as the session stored it): {exc}") from None
    s = tf["source"]
    source = DataSource(
        inputs=tuple(s["inputs"]), target=s["target"], path=Path(s["path"]) if s["path"] else None,
        format=s["format"], spec=s["spec"], split=s["split"], id=s["id"], target_separator=s["target_separator"],
    )
    return TaskSpec(
        path=path, name=tf["name"], description=tf["description"], source=source,
        template=_template(tf["template"]), scorer=scorer, prompts=tuple(tf["prompts"]),
        warnings=tuple(tf["warnings"]), text=tf["text"], output_table=dict(tf["output"]),
        metric_table=dict(tf["metric"]),
    )


# ------------------------------------------------------------------- changes
@dataclass(frozen=True)
class FileChange:
    role: str  # "data file", "metric source", "task file", ...
    path: str
    gone: bool  # False: it exists and its content differs

    def describe(self) -> str:
        return f"the {self.role} {self.path} " + ("is gone" if self.gone else "has changed")


def changes(stored: Mapping) -> list[FileChange]:
    """Each file the task was read from that is gone or differs now."""
    _check_version(stored)
    out = []
    for f in stored.get("files", ()):
        path = Path(f["path"])
        if not path.exists():
            out.append(FileChange(f["role"], f["path"], gone=True))
        elif f["sha256"] is not None and _digest(path) != f["sha256"]:
            out.append(FileChange(f["role"], f["path"], gone=False))
    return out

