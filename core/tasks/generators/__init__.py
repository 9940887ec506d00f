"""Procedural tasks: unlimited, fresh, contamination-free data whose ground
truth is computed, so a fresh install runs with no data download.

Each generator module offers ``NAME``, ``DESCRIPTION`` and
``make_example(rng) -> (input, targets)``.  Every split draws from its own
seeded stream, so a split's first examples never change when its size (or
another split's size) does.
"""
from __future__ import annotations

from types import ModuleType

from reflectloop.core.tasks.base import TaskError, build_task, rng
from reflectloop.core.tasks.generators import navigate, object_counting
from reflectloop.core.types import Example, Task

GENERATORS: dict[str, ModuleType] = {m.NAME: m for m in (navigate, object_counting)}


def build(name: str, *, spec: str, seed: int, ini_size: int, dev_size: int, test_size: int) -> Task:
    module = GENERATORS.get(name)
    if module is None:
        known = ", ".join(f"gen:{n}" for n in GENERATORS)
        raise TaskError(f"unknown generator '{name}' (available: {known})")
    sizes = {"ini": ini_size, "dev": dev_size, "test": test_size}
    splits = {split: _generate(module, name, split, size, seed) for split, size in sizes.items()}
    return build_task(spec, module.DESCRIPTION, splits)


def _generate(module: ModuleType, name: str, split: str, size: int, seed: int) -> tuple[Example, ...]:
    """``size`` examples with distinct inputs (a repeat is drawn again)."""
    stream = rng(seed, f"gen:{name}:{split}")
    seen: set[str] = set()
    examples: list[Example] = []
    while len(examples) < size:
        text, targets = module.make_example(stream)
        if text not in seen:
            seen.add(text)
            examples.append(Example(id=f"{split}/{len(examples)}", input=text, targets=targets))
    return tuple(examples)
