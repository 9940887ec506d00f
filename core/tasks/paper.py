"""The study's own task format (Ma et al. 2024).

A root folder holds ``ini/``, ``induce/`` and ``execute/`` (and optionally
``initial_prompts/``), each with ``NAME.json``:
``{"task_desc": str, "examples": {"1": {"input": str, "output": [gold, ...]}}}``.
``ini`` seeds the initial prompts, ``induce`` is the dev set, ``execute`` the
test set.
"""
from __future__ import annotations

from pathlib import Path

from reflectloop.core.tasks.base import TaskError, as_targets, build_task, cap, example_input, read_json
from reflectloop.core.types import Example, Task

# Our split name → the study's folder name.
FOLDERS = {"ini": "ini", "dev": "induce", "test": "execute"}


def is_paper_root(path: Path) -> bool:
    return all((path / folder).is_dir() for folder in FOLDERS.values())


def task_names(root: Path) -> list[str]:
    """Names present in every split folder (a task missing a split is unusable)."""
    sets = [{p.stem for p in (root / f).glob("*.json")} for f in FOLDERS.values()]
    return sorted(set.intersection(*sets))


def load(
    root: Path, name: str, *, spec: str, seed: int, ini_size: int, dev_size: int, test_size: int
) -> Task:
    sizes = {"ini": ini_size, "dev": dev_size, "test": test_size}
    splits, description = {}, ""
    for split, folder in FOLDERS.items():
        label = f"{folder}/{name}.json"
        data = read_json(root / folder / f"{name}.json", label)
        examples = _examples(data, label, folder)
        splits[split] = cap(examples, sizes[split], seed=seed, purpose=f"paper:{split}")
        description = description or _description(data)
    prompts = _initial_prompts(root / "initial_prompts" / f"{name}.json", f"initial_prompts/{name}.json")
    return build_task(spec, description or f"The task '{name}'.", splits, initial_prompts=prompts)


def _examples(data: object, label: str, folder: str) -> list[Example]:
    if not isinstance(data, dict):
        raise TaskError(f"{label}: expected a JSON object with 'examples', got {type(data).__name__}")
    raw = data.get("examples")
    if isinstance(raw, list):  # tolerated: a list instead of the numbered mapping
        raw = {str(i + 1): ex for i, ex in enumerate(raw)}
    if not isinstance(raw, dict):
        raise TaskError(f"{label}: missing 'examples' (a mapping of id → example)")
    if not raw:
        raise TaskError(f"{label}: no examples")
    return [_example(key, ex, label, folder) for key, ex in raw.items()]


def _example(key: str, ex: object, label: str, folder: str) -> Example:
    where = f"{label}: example '{key}'"
    text = example_input(ex, where)
    assert isinstance(ex, dict)  # example_input refused anything else
    output = ex.get("output")
    if not isinstance(output, list):
        raise TaskError(f"{where} has no 'output' list")
    return Example(id=f"{folder}/{key}", input=text, targets=as_targets(output, where))


def _description(data: object) -> str:
    desc = data.get("task_desc") if isinstance(data, dict) else None
    return desc.strip() if isinstance(desc, str) else ""


def _initial_prompts(path: Path, label: str) -> tuple[str, ...]:
    """The study's given initial prompts; absent is fine, malformed is not."""
    if not path.exists():
        return ()
    data = read_json(path, label)
    if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
        raise TaskError(f"{label}: expected a JSON list of prompt strings")
    return tuple(p for p in data if p.strip())
