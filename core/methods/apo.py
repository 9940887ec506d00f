"""APO: reasons for the errors (the "gradient"), then improved prompts.

The refinement sees every error the reflection saw, as inputs and gold
answers without the model's outputs: that is what the study's code sends
(its ``[:2]`` slice keeps the inputs and golds of all errors)."""
from __future__ import annotations

from typing import Sequence

from reflectloop.core.methods.base import Method, StepContext, draw_of, fill, format_errors

from reflectloop.core.methods.parsing import Draft, parse_spans
from reflectloop.core.methods.facts import MethodFacts

NUM_REASONS = 3


class APO(Method):
    name = "apo"
    one_per_sample = False
    defaults = MethodFacts(errors=4, per_parent=2, samples=1)
    # The study's code: n=2 samples of a request for 2 improved prompts.
    study_defaults = MethodFacts(errors=4, per_parent=4, samples=2)
    # As released: one refine request per parent with n=4, each choice asked for 2 (AutoPrompter.py:106,474,509-513).
    released_defaults = MethodFacts(errors=4, per_parent=8, samples=4)

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        request = self.about_errors(ctx, lambda errors: fill(
            "apo_reflect", prompt=ctx.parent.instruction, errors=format_errors(errors, protocol=self.protocol),
            num_reasons=NUM_REASONS))
        reply = await self.ask(request, purpose="reflect", draw=draw_of(ctx), choices=self.unread_choices())
        return parse_spans(reply, NUM_REASONS, self.protocol)

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        request = self.about_errors(ctx, lambda errors: fill(
            "apo_refine",
            prompt=ctx.parent.instruction,
            errors=format_errors(errors, with_output=False, protocol=self.protocol),
            feedback="\n".join(f"- {f}" for f in feedback),
            num_prompts=self.sampling()[1],
        ))
        return await self.candidates(request, ctx)
