"""GEPA without review, for the tests that compare it with the package
(``tests/test_gepa_parity.py``) and check its search: a ``StepOps`` whose
reflection goes straight into a candidate, as the package's one call per
iteration does.  The product reviews both (``core.step.loop``)."""
from __future__ import annotations

from typing import Sequence

from reflectloop.core.evaluation.evaluate import evaluate
from reflectloop.core.events import Event
from reflectloop.core.methods.base import StepContext
from reflectloop.core.methods.parsing import Draft
from reflectloop.core.methods.context import rollouts
from reflectloop.core.methods.gepa import GEPA, ParetoSelection
from reflectloop.core.step.selection import Focus, StepOutcome
from reflectloop.core.types import Evaluation, Params, Prompt, ProposalId


class DirectOps:
    """``StepOps`` with nobody reviewing: each reflection goes straight into a
    candidate, as in the package.  The parity check drives GEPA through it, so
    each iteration is exactly the package's one call; the product's loop lends
    its own, reviewed operations."""

    def __init__(self, method: GEPA, target, params: Params):
        self.method = method
        self.target = target
        self.params = params
        self.step = 0
        self.prompts: dict[str, Prompt] = {}
        self.dev: dict[str, Evaluation] = {}
        self.notes: list[str] = []
        self.events: list[Event] = []
        self._examples = {e.id: e for e in method.task.dev}

    def kept(self) -> list[Prompt]:
        return list(self.prompts.values())

    async def evolve(self, focus: Focus) -> list[Prompt]:
        parent = self.prompts[focus.parent_id]
        minibatch = rollouts(self.dev[parent.id], self._examples, focus.examples or ())
        ctx = StepContext(self.step, parent, (), minibatch=minibatch, iteration=focus.iteration or 0)
        draft = await mutate(self.method, ctx)
        if draft is None:
            return []
        text = draft.text.strip()
        if any(_same(text, p.instruction) for p in self.prompts.values()):
            self.note(f"{parent.id}: the new candidate duplicates an existing prompt, dropped")
            return []
        child = Prompt(str(ProposalId(self.step, parent.id, "candidate", focus.tag, 0)), text, None, parent.id,
                       self.step, "llm")
        self.prompts[child.id] = child
        return [child]

    async def score(self, prompts: Sequence[Prompt], examples: Sequence[str] | None = None) -> dict[str, Evaluation]:
        chosen = self.method.task.dev if examples is None else [self._examples[i] for i in examples]
        out = {}
        for p in prompts:
            out[p.id] = await evaluate(self.target, p, chosen, split="dev", params=self.params,
                                       scorer=self.method.task.scorer)
            if examples is None:
                self.dev[p.id] = out[p.id]
        return out

    def note(self, text: str) -> None:
        self.notes.append(text)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    async def start(self, selection: ParetoSelection, prompts: Sequence[Prompt]) -> StepOutcome:
        """Step 0 without review: the given prompts, scored on the whole dev set."""
        for p in prompts:
            self.prompts[p.id] = p
        scored = await self.score(prompts)
        return selection.start([scored[p.id] for p in prompts])

    async def run_step(self, selection: ParetoSelection, step: int) -> StepOutcome:
        self.step = step
        return await selection.run_step(step, self)


async def mutate(method: GEPA, ctx: StepContext) -> Draft | None:
    """Reflection straight into a new candidate, with no review between: the package's path."""
    feedback = [d.text for d in await method.reflect(ctx) if d.text.strip()]
    drafts = [d for d in await method.refine(ctx, feedback) if d.text.strip()]
    return drafts[0] if drafts else None


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
