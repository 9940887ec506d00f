"""A short, human description of how a task's answers look ("A letter: "A" or
"B"", "An integer"), derived from the gold answers themselves so it works for
any data set, not only the ones we know."""
from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from reflectloop.core.types import Example

_LETTER = re.compile(r"\(?([A-Z])\)?")
_INTEGER = re.compile(r"-?\d+")
# A style must describe this share of the examples to be the hint; a handful
# of odd gold answers (BBH movie_recommendation has one) should not hide it.
_DOMINANT = 0.9
_MAX_CHOICES = 5


def answer_hint(examples: Sequence[Example]) -> str:
    canon = [e.targets[0] for e in examples if e.targets]
    if not canon:
        return ""
    letters = [t for t in canon if _LETTER.fullmatch(t)]
    if len(letters) >= _DOMINANT * len(canon):
        return _letter_hint(letters)
    if sum(bool(_INTEGER.fullmatch(t)) for t in canon) >= _DOMINANT * len(canon):
        return "An integer"
    choices = _closed_set(canon)
    if choices:
        return "One of: " + ", ".join(f'"{c}"' for c in choices)
    sample = min(canon, key=len)
    return f'Free text, e.g. "{sample[:60]}"'


def _letter_hint(letters: list[str]) -> str:
    found = sorted({m.group(1) for t in letters if (m := _LETTER.fullmatch(t))})  # every one matches: the caller picked them so
    parens = sum(t.startswith("(") for t in letters) * 2 > len(letters)
    show = (lambda c: f'"({c})"') if parens else (lambda c: f'"{c}"')
    if len(found) == 1:
        return f"A letter: {show(found[0])}"
    if len(found) == 2:
        return f"A letter: {show(found[0])} or {show(found[1])}"
    return f"A letter from {show(found[0])} to {show(found[-1])}"


def _closed_set(canon: list[str]) -> list[str] | None:
    """The few distinct short answers a classification task uses, most
    common first, when the task is one (case-insensitively)."""
    counts = Counter(t.casefold() for t in canon)
    if len(counts) > _MAX_CHOICES or any(len(t.split()) > 3 for t in counts):
        return None
    first_spelling: dict[str, str] = {}
    for t in canon:
        first_spelling.setdefault(t.casefold(), t)
    return [first_spelling[k] for k, _ in counts.most_common()]
