"""Iterative-APE: paraphrase the prompt, keeping its meaning; never sees errors."""
from __future__ import annotations

from typing import Sequence

from reflectloop.core.methods.base import Method, StepContext, fill

from reflectloop.core.methods.parsing import Draft
from reflectloop.core.methods.facts import MethodFacts


class IterativeAPE(Method):
    name = "ape"
    defaults = MethodFacts(errors=0, per_parent=5, samples=5, reflects=False, fixes_errors=True)
    # The study's code asks n=2 paraphrases of each beam member (its args' default).
    study_defaults = MethodFacts(errors=0, per_parent=2, samples=2, reflects=False, fixes_errors=True)
    # As released: one request per beam member with n=4 (AutoPrompter.py:106,863,870-877).
    released_defaults = MethodFacts(errors=0, per_parent=4, samples=4, reflects=False, fixes_errors=True)

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        return await self.candidates(fill("ape_paraphrase", prompt=ctx.parent.instruction), ctx)
