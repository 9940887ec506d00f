"""Grounding: does a feedback text refer to the error examples it was given?

For every error in the set, its **distinctive features** are the words and
word n-grams (2 and 3 words, stop words left out) of its input, the model's
output and the gold answers that are *not* also in the other errors of the
set, not in the instruction being reflected on, not in the words every
reflection template uses, and — when the session has enough examples to
tell — not in the task's common vocabulary (words found in more than half of
all the error examples the session showed).  A feedback text refers to an
error when the features it shares with that error weigh at least
``THRESHOLD`` (a word counts 1, a 2-gram 2, a 3-gram 3), or when it names
the error by its number ("Example 2", "the second example") as the
meta-prompts number them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Collection, Iterable, Sequence

from reflectloop.core.analysis.data import AuditData, Feedback
from reflectloop.core.analysis.text import tokens
from reflectloop.core.types import ErrorCase

THRESHOLD = 2
COMMON_SHARE = 0.5  # a word in more than this share of the session's error examples is task vocabulary
MIN_EXAMPLES_FOR_COMMON = 4
GENERIC = frozenset(
    """input inputs output outputs answer answers correct incorrect model model's models example examples instruction
    instructions prompt prompts json wrong error errors mistake mistakes gold final response responses question
    questions task tasks true false reason reasons""".split()
)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8}
_NAMED = re.compile(r"\b(?:example|input|error|case|question|problem)\s*(?:#|no\.?\s*)?(\d+)\b", re.I)
_ORDINAL = re.compile(r"\b(" + "|".join(_ORDINALS) + r")\s+(?:example|input|error|case|question|problem)\b", re.I)


def features(text: str) -> set[str]:
    """Words (one-letter ones left out), 2-grams and 3-grams of the content words."""
    words = tokens(text)
    grams = {w for w in words if len(w) > 1 or w.isdigit()}
    grams |= {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
    grams |= {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}
    return grams


def weight(feature: str) -> int:
    return feature.count(" ") + 1


def error_text(e: ErrorCase) -> str:
    return "\n".join([e.input, e.output, *e.gold, e.answer or ""])


def named_errors(text: str, n: int) -> set[int]:
    """0-based indices of the errors the text names by number."""
    found = {int(m.group(1)) for m in _NAMED.finditer(text)}
    found |= {_ORDINALS[m.group(1).lower()] for m in _ORDINAL.finditer(text)}
    return {k - 1 for k in found if 1 <= k <= n}


@dataclass(frozen=True)
class FeedbackGrounding:
    feedback_id: str
    step: int
    parent_id: str
    author: str
    n_errors: int
    refers: tuple[int, ...]  # 0-based indices into the feedback's error set
    refers_ids: tuple[str, ...]  # their example ids
    scores: tuple[int, ...]  # overlap weight per error
    matched: tuple[tuple[str, ...], ...]  # the shared distinctive features per error (for showing why)

    @property
    def grounded(self) -> bool:
        return bool(self.refers)

    def to_dict(self) -> dict:
        return {
            "feedback_id": self.feedback_id, "step": self.step, "parent_id": self.parent_id, "author": self.author,
            "errors": self.n_errors, "refers": list(self.refers_ids), "scores": list(self.scores),
            "grounded": self.grounded, "matched": [list(m[:8]) for m in self.matched],
        }


@dataclass
class Grounding:
    items: list[FeedbackGrounding] = field(default_factory=list)

    def of(self, author: str | None = None) -> list[FeedbackGrounding]:
        return [g for g in self.items if author is None or g.author == author]

    def ungrounded_share(self, author: str | None = "llm") -> float | None:
        """Share of feedback (with a non-empty error set) that refers to no error."""
        items = [g for g in self.of(author) if g.n_errors]
        return sum(not g.grounded for g in items) / len(items) if items else None

    def coverage(self, author: str | None = "llm") -> float | None:
        """Mean share of its errors a feedback refers to."""
        items = [g for g in self.of(author) if g.n_errors]
        return sum(len(g.refers) / g.n_errors for g in items) / len(items) if items else None

    def to_dict(self) -> dict:
        return {
            "threshold": THRESHOLD,
            "summary": {a: {"feedback": len([g for g in self.of(a) if g.n_errors]),
                            "ungrounded_share": self.ungrounded_share(a), "coverage": self.coverage(a)}
                        for a in ("llm", "human")},
            "items": [g.to_dict() for g in self.items],
        }


def common_vocabulary(examples: Iterable[ErrorCase]) -> set[str]:
    """Words found in more than COMMON_SHARE of the distinct error examples."""
    seen: dict[str, set[str]] = {}
    for e in examples:
        seen.setdefault(e.example_id, set()).update(w for w in features(error_text(e)) if " " not in w)
    if len(seen) < MIN_EXAMPLES_FOR_COMMON:
        return set()
    counts: dict[str, int] = {}
    for words in seen.values():
        for w in words:
            counts[w] = counts.get(w, 0) + 1
    return {w for w, c in counts.items() if c / len(seen) > COMMON_SHARE}


def distinctive(errors: Sequence[ErrorCase], background: set[str]) -> list[set[str]]:
    feats = [features(error_text(e)) for e in errors]
    out = []
    for i, f in enumerate(feats):
        others = set().union(*(feats[:i] + feats[i + 1 :])) if len(feats) > 1 else set()
        keep = f - others - background
        # An n-gram made only of background words says nothing distinctive either.
        keep = {g for g in keep if not all(w in background for w in g.split())}
        out.append(keep)
    return out


def ground(
    text: str, errors: Sequence[ErrorCase], *, instruction: str = "", common: Collection[str] = frozenset()
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[str, ...], ...]]:
    """(indices referred to, score per error, matched features per error)."""
    background = set(GENERIC) | set(common) | {w for w in features(instruction) if " " not in w}
    background |= {g for g in features(instruction) if " " in g}
    mine = features(text)
    named = named_errors(text, len(errors))
    refers, scores, matched = [], [], []
    for i, d in enumerate(distinctive(errors, background)):
        shared = sorted(mine & d, key=lambda g: (-weight(g), g))
        score = sum(weight(g) for g in shared)
        scores.append(score)
        matched.append(tuple(shared))
        if score >= THRESHOLD or i in named:
            refers.append(i)
    return tuple(refers), tuple(scores), tuple(matched)


def grounding(data: AuditData) -> Grounding:
    items = [f for f in data.feedback() if f.text.strip()]
    common = common_vocabulary(e for f in items for e in f.errors)
    out = Grounding()
    for f in items:
        out.items.append(ground_feedback(f, data, common))
    return out


def ground_feedback(f: Feedback, data: AuditData, common: Collection[str] = frozenset()) -> FeedbackGrounding:
    parent = data.prompts.get(f.parent_id)
    instruction = parent.instruction if parent else ""
    refers, scores, matched = ground(f.text, f.errors, instruction=instruction, common=common)
    return FeedbackGrounding(
        f.id, f.step, f.parent_id, f.author, len(f.errors), refers,
        tuple(f.errors[i].example_id for i in refers), scores, matched,
    )
