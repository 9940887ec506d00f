"""APO: reasons for the errors (the "gradient"), then improved prompts."""
from __future__ import annotations

from typing import Sequence

from core.methods.base import Draft, Method, StepContext, fill, format_errors, parse_at_most

NUM_REASONS = 3
REFINE_ERRORS = 2  # the refine call sees only the first two errors, as in the study


class APO(Method):
    name = "apo"

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        raw = await self.ask(
            fill("apo_reflect", prompt=ctx.parent.instruction, errors=format_errors(ctx.errors), num_reasons=NUM_REASONS),
            purpose="reflect",
        )
        return parse_at_most(raw, NUM_REASONS)

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        n = self.config.n_per_parent
        raw = await self.ask(
            fill(
                "apo_refine",
                prompt=ctx.parent.instruction,
                errors=format_errors(ctx.errors[:REFINE_ERRORS]),
                feedback="\n".join(f"- {f}" for f in feedback),
                num_prompts=n,
            ),
            purpose="refine",
        )
        return parse_at_most(raw, n)
