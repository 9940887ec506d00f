"""BIG-Bench Hard: ``NAME.json`` = ``{"canary": ..., "examples": [{"input", "target"}]}``.

BBH has no split, so a seeded one is made.  Answer styles differ by task, so
each gold answer is widened with the variants a correct answer may take in
its style — decided from the answer's shape, never from the task's name.
"""
from __future__ import annotations

import re
from pathlib import Path

from reflectloop.core.evaluation.scoring import NUMBER_WORDS, normalize
from reflectloop.core.tasks.base import TaskError, as_targets, build_task, example_input, read_json, seeded_split
from reflectloop.core.types import Example, Task

_OPTION_LETTER = re.compile(r"\(([A-Z])\)")
_OPTION_LINE = re.compile(r"^\(([A-Z])\)\s*(.+?)\s*$", re.MULTILINE)
_INTEGER = re.compile(r"-?\d+")
_TASK_LABEL = re.compile(r"^task description:\s*", re.IGNORECASE)
_SYMBOLS = re.compile(r"[^\w\s]+(?: [^\w\s]+)+")  # e.g. dyck closings "] ) >"


def is_bbh_file(path: Path) -> bool:
    """Cheap sniff (no full parse) so listing a folder stays fast."""
    try:
        with path.open(encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return head.lstrip().startswith("{") and '"examples"' in head


def is_bbh_root(path: Path) -> bool:
    return any(is_bbh_file(p) for p in path.glob("*.json"))


def task_names(root: Path) -> list[str]:
    return sorted(p.stem for p in root.glob("*.json") if is_bbh_file(p))


def load(
    root: Path, name: str, *, spec: str, seed: int, ini_size: int, dev_size: int, test_size: int
) -> Task:
    label = f"{name}.json"
    examples = _examples(read_json(root / label, label), label)
    splits = seeded_split(
        examples, label=label, seed=seed, ini_size=ini_size, dev_size=dev_size, test_size=test_size
    )
    return build_task(spec, description(root, name), splits)


def _examples(data: object, label: str) -> list[Example]:
    raw = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise TaskError(f"{label}: missing 'examples' list")
    if not raw:
        raise TaskError(f"{label}: no examples")
    return [_example(i, ex, label) for i, ex in enumerate(raw)]


def _example(index: int, ex: object, label: str) -> Example:
    where = f"{label}: example {index}"
    text = example_input(ex, where)
    assert isinstance(ex, dict)  # example_input refused anything else
    if "target" not in ex:
        raise TaskError(f"{where} has no 'target'")
    targets = as_targets(ex["target"], where)
    variants = accepted_variants(targets[0], text) + targets[1:]
    return Example(id=str(index), input=text, targets=tuple(dict.fromkeys(variants)))


def accepted_variants(target: str, question: str) -> tuple[str, ...]:
    """The gold answer plus equivalent spellings of it.  Case, quotes and a
    trailing period are left to ``scoring.normalize``."""
    variants = [target]
    letter = _OPTION_LETTER.fullmatch(target)
    if letter:
        variants += [letter.group(1), *_option_text(letter.group(1), question)]
    elif _INTEGER.fullmatch(target) and 0 <= int(target) < len(NUMBER_WORDS):
        variants.append(NUMBER_WORDS[int(target)])
    elif _SYMBOLS.fullmatch(target):
        variants.append(target.replace(" ", ""))
    return tuple(dict.fromkeys(variants))


def _option_text(letter: str, question: str) -> list[str]:
    """"(B) heptagon" in the options makes "heptagon" and "(B) heptagon"
    correct too — unless that text could also mean another option."""
    options = dict(_OPTION_LINE.findall(question))
    text = options.get(letter)
    if not text:
        return []
    others = {normalize(t) for k, t in options.items() if k != letter}
    others |= {k.casefold() for k in options if k != letter}  # a text "B" must not mean (B)
    return [] if normalize(text) in others else [f"({letter}) {text}", text]


def description(root: Path, name: str) -> str:
    """The task line of ``cot-prompts/NAME.txt`` (after the canary and the
    ``-----`` rule), else a generic one."""
    path = root / "cot-prompts" / f"{name}.txt"
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError):
        lines = []
    body = lines[lines.index("-----") + 1 :] if "-----" in lines else lines
    for line in body:
        if line and "canary" not in line.casefold() and not line.startswith("Q:"):
            return _TASK_LABEL.sub("", line)
    return f"BIG-Bench Hard task '{name.replace('_', ' ')}': answer each question."
