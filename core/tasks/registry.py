"""Task specs → Tasks.  A spec is ``PREFIX:NAME`` (or ``PREFIX:PATH``):
``gen:navigate``, ``gen:object_counting``, ``paper:NAME``, ``bbh:NAME``,
``jsonl:PATH``, ``csv:PATH``, ``file:PATH`` (a task file, TOML),
``promptfoo:PATH`` (a promptfoo suite, ``promptfooconfig.yaml``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from reflectloop.core.tasks import bbh, csv, filetask, generators, jsonl, paper, promptfoo, tabular
from reflectloop.core.tasks.base import DEFAULT_INI_SIZE, TaskError, resolve_sizes
from reflectloop.core.tasks.layout import detect
from reflectloop.core.types import Task

SPEC_FORMS = "gen:NAME, paper:NAME, bbh:NAME, jsonl:PATH, csv:PATH, file:PATH, promptfoo:PATH"
# Per collection: how to list its names, how to load one, what its folder looks like.
COLLECTIONS = {
    "paper": (paper.task_names, paper.load, "ini/ induce/ execute/ folders, or a paper/ sub-folder"),
    "bbh": (bbh.task_names, bbh.load, "*.json files with an 'examples' list, or a bbh/ sub-folder"),
}
# Row readers of the file formats; ``tabular.build`` splits the rows into a task.
FILE_READERS = {"jsonl": jsonl.read_rows, "csv": csv.read_rows}


def load_task(
    spec: str,
    *,
    data_dir: str | Path | None = None,
    seed: int = 0,
    dev_size: int | None = None,
    test_size: int | None = None,
    ini_size: int = DEFAULT_INI_SIZE,
) -> Task:
    """Load a task; dev defaults to 50 examples, test to 200 (fewer when the
    data has fewer).  Every problem raises TaskError with a readable message."""
    prefix, _, rest = spec.partition(":")
    prefix, rest = prefix.strip().casefold(), rest.strip()
    if not rest:
        raise TaskError(f"task spec {spec!r} must be one of: {SPEC_FORMS}")
    dev, test = resolve_sizes(dev_size, test_size)
    if ini_size < 0:
        raise TaskError(f"the ini size must not be negative (got {ini_size})")
    sizes: dict[str, Any] = dict(spec=spec, seed=seed, ini_size=ini_size, dev_size=dev, test_size=test)
    if prefix == "gen":
        return generators.build(rest, **sizes)
    if prefix in COLLECTIONS:
        return _load_collection(prefix, rest, data_dir, sizes)
    if prefix == "file":
        del sizes["spec"]  # a task file's name is its path
        return filetask.load(data_file(rest, data_dir), data_dir=data_dir, load_spec=load_task, **sizes)
    if prefix == promptfoo.PREFIX:
        del sizes["spec"]
        return promptfoo.load(data_file(rest, data_dir), **sizes)
    if prefix in FILE_READERS:
        path = data_file(rest, data_dir)
        return tabular.build(FILE_READERS[prefix](path), path, **sizes)
    raise TaskError(
        f"unknown task kind {prefix!r} in {spec!r}; use one of: {SPEC_FORMS}"
        f" (available: {', '.join(list_tasks(data_dir))})"
    )


def list_tasks(data_dir: str | Path | None = None) -> list[str]:
    """Every spec that loads without naming a file: the generators always, the
    paper and BBH tasks found in ``data_dir``, and its task files (``*.toml``
    in it or one folder down, as in ``examples/``) and promptfoo suites
    (``promptfooconfig.yaml``, there too)."""
    specs = [f"gen:{name}" for name in generators.GENERATORS]
    layout = detect(data_dir)
    for prefix, (names, _, _) in COLLECTIONS.items():
        root = getattr(layout, prefix)
        if root is not None:
            specs += [f"{prefix}:{name}" for name in names(root)]
    if data_dir is not None and Path(data_dir).expanduser().is_dir():
        root = Path(data_dir).expanduser()
        specs += [f"file:{p}" for p in sorted([*root.glob("*.toml"), *root.glob("*/*.toml")])]
        suites = [*root.glob("promptfooconfig.y*ml"), *root.glob("*/promptfooconfig.y*ml")]
        specs += [f"{promptfoo.PREFIX}:{p}" for p in sorted(suites)]
    return specs


def _load_collection(prefix: str, name: str, data_dir: str | Path | None, sizes: dict) -> Task:
    names, load, shape = COLLECTIONS[prefix]
    if data_dir is None:
        raise TaskError(f"{prefix}:{name} needs its data: pass --data-dir (a folder with {shape})")
    root = getattr(detect(data_dir), prefix)
    if root is None:
        raise TaskError(f"no {prefix} tasks in {data_dir} (expected {shape})")
    available = names(root)
    if name not in available:
        raise TaskError(
            f"unknown {prefix} task {name!r} in {root} (available: {', '.join(available) or 'none'})"
        )
    return load(root, name, **sizes)


def data_file(path: str, data_dir: str | Path | None) -> Path:
    """A relative path is taken from the working directory, else from data_dir."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute() and not candidate.exists() and data_dir is not None:
        beside = Path(data_dir).expanduser() / candidate
        if beside.exists():
            return beside
    return candidate
