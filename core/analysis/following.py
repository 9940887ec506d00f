"""Instruction following (the study's finding 2): does the target do what the
prompt asks, and does a revision change what it does at all?

Per prompt, on its dev evaluation:
* **format compliance** — share of scored outputs that answered in the
  asked JSON form (``ExampleResult.followed_format``);
* for step-by-step prompts (ABO: a demonstration, or an instruction with at
  least two numbered steps) **step adherence** — share of outputs whose step
  markers ("Step 2", or "2." / "2)" at the start of a line) go through all
  the instruction's steps in order — and the looser share that mentions any
  of its steps.

Per revision (a child prompt and its parent, both evaluated on dev): the
paired score comparison, and the share of examples on which the target's
output — and its extracted answer — stayed exactly the same.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from reflectloop.core.analysis.data import AuditData
from reflectloop.core.analysis.stats import RESAMPLES, SEED, Comparison, compare, mean
from reflectloop.core.types import Evaluation, Prompt

_INSTRUCTION_STEP = re.compile(r"^\s*(?:[-*#]+\s*)?(?:\*\*)?(?:step\s*(\d+)\b|(\d+)\s*[.):])", re.I | re.M)
_OUTPUT_STEP = re.compile(r"\bstep\s*(\d+)\b|^\s*(?:[-*#]+\s*)?(?:\*\*)?(\d+)\s*[.)]\s", re.I | re.M)


def numbered_steps(text: str) -> int:
    """How many consecutively numbered steps (1, 2, … k) the text lists, one per line."""
    numbers = [int(a or b) for a, b in _INSTRUCTION_STEP.findall(text or "")]
    k = 0
    for n in numbers:
        if n == k + 1:
            k = n
    return k


def step_markers(output: str) -> list[int]:
    """Step numbers the output marks, in the order they appear."""
    return [int(a or b) for a, b in _OUTPUT_STEP.findall(output or "")]


def follows_steps(output: str, k: int) -> bool:
    """All of steps 1..k marked, their first marks in increasing order."""
    marks = step_markers(output)
    first: dict[int, int] = {}
    for pos, n in enumerate(marks):
        first.setdefault(n, pos)
    if any(s not in first for s in range(1, k + 1)):
        return False
    positions = [first[s] for s in range(1, k + 1)]
    return positions == sorted(positions)


def mentions_steps(output: str, k: int) -> bool:
    return any(1 <= n <= k for n in step_markers(output))


def prompt_steps(prompt: Prompt) -> int:
    k = numbered_steps(prompt.instruction)
    if k < 2 and prompt.demonstration:
        k = max(k, numbered_steps(prompt.demonstration))
    return k


def is_stepwise(prompt: Prompt) -> bool:
    return bool(prompt.demonstration) or numbered_steps(prompt.instruction) >= 2


@dataclass(frozen=True)
class PromptFollowing:
    prompt_id: str
    step: int
    origin: str
    n: int  # scored dev outputs
    score: float | None  # None: no example was scored
    format_rate: float
    stepwise: bool
    steps: int  # numbered steps in the instruction (0: none)
    step_adherence: float | None  # all steps in order
    step_mentions: float | None  # any step marked

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Revision:
    parent_id: str
    child_id: str
    step: int
    comparison: Comparison  # a = parent, b = child
    same_outputs: float  # share of paired examples with the identical output
    same_answers: float

    @property
    def unchanged(self) -> bool:
        return self.comparison.n > 0 and self.same_outputs == 1.0

    def to_dict(self) -> dict:
        return {
            "parent_id": self.parent_id, "child_id": self.child_id, "step": self.step,
            "comparison": self.comparison.to_dict(), "same_outputs": self.same_outputs,
            "same_answers": self.same_answers, "unchanged": self.unchanged,
        }


@dataclass
class Following:
    prompts: list[PromptFollowing] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)

    @property
    def format_rate(self) -> float:
        return mean(p.format_rate for p in self.prompts if p.n)

    @property
    def step_adherence(self) -> float:
        return mean(p.step_adherence for p in self.prompts if p.step_adherence is not None)

    @property
    def unchanged_share(self) -> float:
        rs = [r for r in self.revisions if r.comparison.n]
        return sum(r.unchanged for r in rs) / len(rs) if rs else math.nan

    @property
    def same_outputs(self) -> float:
        return mean(r.same_outputs for r in self.revisions if r.comparison.n)

    def to_dict(self) -> dict:
        f = lambda x: None if math.isnan(x) else x
        return {
            "format_rate": f(self.format_rate), "step_adherence": f(self.step_adherence),
            "unchanged_revisions": f(self.unchanged_share), "same_outputs": f(self.same_outputs),
            "prompts": [p.to_dict() for p in self.prompts], "revisions": [r.to_dict() for r in self.revisions],
        }


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def prompt_following(prompt: Prompt, ev: Evaluation) -> PromptFollowing:
    scored = ev.scored
    n = len(scored)
    fmt = sum(r.followed_format for r in scored) / n if n else math.nan
    stepwise = is_stepwise(prompt)
    k = prompt_steps(prompt) if stepwise else 0
    adherence = mentions = None
    if stepwise and k >= 1 and n:
        adherence = sum(follows_steps(r.output, k) for r in scored) / n
        mentions = sum(mentions_steps(r.output, k) for r in scored) / n
    return PromptFollowing(prompt.id, prompt.step, prompt.origin, n, ev.score, fmt, stepwise, k, adherence, mentions)


def revision(parent: Evaluation, child: Evaluation, step: int, *, resamples: int = RESAMPLES, seed: int = SEED) -> Revision:
    comparison = compare(parent, child, resamples=resamples, seed=seed)
    by_id = {r.example_id: r for r in child.scored}
    shared = [(r, by_id[r.example_id]) for r in parent.scored if r.example_id in by_id]
    n = len(shared)
    same_out = sum(_norm(a.output) == _norm(b.output) for a, b in shared) / n if n else math.nan
    same_ans = sum(_norm(a.answer) == _norm(b.answer) for a, b in shared) / n if n else math.nan
    return Revision(parent.prompt_id, child.prompt_id, step, comparison, same_out, same_ans)


def following(data: AuditData, *, resamples: int = RESAMPLES, seed: int = SEED) -> Following:
    out = Following()
    for pid, prompt in data.prompts.items():
        ev = data.dev.get(pid)
        if ev is not None:
            out.prompts.append(prompt_following(prompt, ev))
    for pid, prompt in data.prompts.items():
        parent = data.dev.get(prompt.parent_id or "")
        child = data.dev.get(pid)
        if parent is not None and child is not None:
            out.revisions.append(revision(parent, child, prompt.step, resamples=resamples, seed=seed))
    return out
