"""A task file as the loop's ``Task``: its examples with their input fields
and target kept, its starting prompts, the ``TaskSpec`` itself, and its
message template and scorer as the task's scorer (``FileScorer``), which the
evaluation uses instead of the study's request and exact match."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping

from reflectloop.core.metrics.base import TaskExample
from reflectloop.core.metrics.task import FileScorer
from reflectloop.core.tasks.base import SPLITS
from reflectloop.core.tasks.taskdata import SpecLoader
from reflectloop.core.tasks.taskfile import TaskSpec, load_task_file
from reflectloop.core.types import Example, Task


def load(
    path: Path, *, data_dir, load_spec: SpecLoader, seed: int, ini_size: int, dev_size: int, test_size: int
) -> Task:
    """``load_spec`` loads the task a data spec names (the registry's ``load_task``)."""
    spec = load_task_file(path)
    splits = spec.splits(seed=seed, ini_size=ini_size, dev_size=dev_size, test_size=test_size, data_dir=data_dir,
                         load_spec=load_spec)
    return as_task(spec, splits)


def as_task(spec: TaskSpec, splits: Mapping[str, tuple[TaskExample, ...]]) -> Task:
    ini, dev, test = (tuple(as_example(e) for e in splits.get(s, ())) for s in SPLITS)
    return Task(
        name=spec.spec,
        description=spec.description or f"The task '{spec.name}'.",
        ini=ini,
        dev=dev,
        test=test,
        initial_prompts=spec.prompts,
        answer_hint=spec.scorer.contract.describe(),
        taskfile=spec,
        scorer=scorer_of(spec),
    )


def scorer_of(spec: TaskSpec) -> FileScorer:
    """The task file's template and scorer as its task's scorer."""
    return FileScorer(spec.template, spec.scorer, spec.path.name)


def with_spec(task: Task, spec: TaskSpec) -> Task:
    """``task`` with its task file replaced (a judge's model, a metric's
    workers), its scorer with it."""
    return dataclasses.replace(task, taskfile=spec, scorer=scorer_of(spec))


def as_example(example: TaskExample) -> Example:
    return Example(
        id=example.id,
        input=input_text(example.fields),
        targets=example.targets,
        fields=dict(example.fields),
        target=example.target,
    )


def input_text(fields: Mapping[str, str]) -> str:
    """The fields as one text for people and meta-prompts: a lone ``input``
    field as it is, else each field under its name."""
    if list(fields) == ["input"]:
        return fields["input"]
    return "\n".join(f"{name}:\n{value}" if "\n" in value else f"{name}: {value}" for name, value in fields.items())
