"""What every task loader shares: the error type, sizes, seeded splits and caps.

Randomness is always drawn from ``random.Random`` seeded with a string that
names its purpose (``"7:dev"``), so each split has its own stream: changing the
size of one split never reshuffles another.  String seeds are hashed with
SHA-512 by ``random``, so they do not depend on PYTHONHASHSEED.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Mapping, Sequence, TypeVar

from reflectloop.core.metrics.task import EXACT_MATCH
from reflectloop.core.tasks.hints import answer_hint
from reflectloop.core.types import Example, Task

DEFAULT_INI_SIZE = 10
DEFAULT_DEV_SIZE = 50
DEFAULT_TEST_SIZE = 200
SPLITS = ("ini", "dev", "test")
E = TypeVar("E")  # an example: a task's Example, or a task file's TaskExample


class TaskError(Exception):
    """A task that cannot be loaded; the message names the file and the problem."""


def rng(seed: int, purpose: str) -> random.Random:
    return random.Random(f"{seed}:{purpose}")


def cap(examples: Sequence[E], size: int | None, *, seed: int, purpose: str) -> tuple[E, ...]:
    """At most ``size`` examples: a seeded sample when cutting, in the
    original order so ids read naturally."""
    if size is None or size >= len(examples):
        return tuple(examples)
    keep = sorted(rng(seed, purpose).sample(range(len(examples)), max(size, 0)))
    return tuple(examples[i] for i in keep)


def seeded_split(
    examples: Sequence[E], *, label: str, seed: int, ini_size: int, dev_size: int, test_size: int
) -> dict[str, tuple[E, ...]]:
    """Split data that has no split of its own into disjoint ini/dev/test.

    One seeded permutation is cut in order ini → dev → test, so dev never
    changes with the test size; each part keeps the data's original order.
    Data too small to leave any test example is an error, not a silent
    empty test set."""
    if test_size > 0 and len(examples) <= ini_size + dev_size:
        raise TaskError(
            f"{label}: {len(examples)} examples leave none for testing after ini {ini_size} "
            f"+ dev {dev_size}; pass a smaller dev size"
        )
    order = list(range(len(examples)))
    rng(seed, "split").shuffle(order)
    bounds = (ini_size, ini_size + dev_size, ini_size + dev_size + test_size)
    parts = (order[: bounds[0]], order[bounds[0] : bounds[1]], order[bounds[1] : bounds[2]])
    return {name: tuple(examples[i] for i in sorted(part)) for name, part in zip(SPLITS, parts)}


def resolve_sizes(dev_size: int | None, test_size: int | None) -> tuple[int, int]:
    dev = DEFAULT_DEV_SIZE if dev_size is None else dev_size
    test = DEFAULT_TEST_SIZE if test_size is None else test_size
    if dev < 0 or test < 0:
        raise TaskError(f"split sizes must not be negative (dev {dev}, test {test})")
    return dev, test


def read_text(path: Path, label: str, *, encoding: str = "utf-8") -> str:
    """A data file's non-empty text; every failure is a TaskError naming ``label``."""
    try:
        text = path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise TaskError(f"{label}: file not found ({path})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{label}: cannot read: {exc}") from None
    if not text.strip():
        raise TaskError(f"{label}: empty file")
    return text


def read_json(path: Path, label: str) -> object:
    """Parse a JSON file, turning every failure into a TaskError naming ``label``."""
    text = read_text(path, label)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TaskError(f"{label}: not valid JSON: {exc}") from None


def example_input(ex: object, where: str) -> str:
    """The ``input`` text of one example record (a JSON object)."""
    if not isinstance(ex, dict):
        raise TaskError(f"{where} is not an object")
    text = ex.get("input")
    if not isinstance(text, str) or not text.strip():
        raise TaskError(f"{where} has no 'input' text")
    return text


def as_targets(value: object, where: str) -> tuple[str, ...]:
    """Accepted gold strings from a string, number or list of them."""
    items = value if isinstance(value, list) else [value]
    targets = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise TaskError(f"{where}: target {item!r} is not a string or number")
        text = str(item).strip()
        if text:
            targets.append(text)
    if not targets:
        raise TaskError(f"{where}: no accepted answer (empty target)")
    return tuple(dict.fromkeys(targets))  # de-duplicated, order kept


def build_task(
    name: str,
    description: str,
    splits: Mapping[str, Sequence[Example]],
    *,
    initial_prompts: Sequence[str] = (),
) -> Task:
    """The Task, with its answer hint derived from all its gold answers."""
    ini, dev, test = (tuple(splits.get(s, ())) for s in SPLITS)
    return Task(
        name=name,
        description=description,
        ini=ini,
        dev=dev,
        test=test,
        initial_prompts=tuple(initial_prompts),
        answer_hint=answer_hint(ini + dev + test),
        scorer=EXACT_MATCH,
    )
