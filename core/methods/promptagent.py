"""PromptAgent: per-error step-by-step reasons and a summary of what to
improve; the update sees the path of former prompts that led to the current
one (its lineage, which the study's own code left empty)."""
from __future__ import annotations

from typing import Sequence

from core.methods.base import Draft, Method, StepContext, fill, format_errors, parse_at_most, untag


def trajectory(ctx: StepContext) -> str:
    path = [*ctx.lineage, ctx.parent]
    return "\n".join(f'{i}. "{p.instruction}"' for i, p in enumerate(path, 1))


class PromptAgent(Method):
    name = "promptagent"

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        raw = await self.ask(
            fill("promptagent_feedback", prompt=ctx.parent.instruction, errors=format_errors(ctx.errors)),
            purpose="reflect",
        )
        # The whole analysis is the reflection: the per-error reasons are what
        # a reviewer needs to judge the summary.
        text = untag(raw)
        error = None if text else "the optimizer returned nothing"
        if text and "<START>" not in raw:
            error = "no <START>…<END> summary: the whole output was taken"
        return [Draft(text, raw, error)]

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        n = self.config.n_per_parent
        raw = await self.ask(
            fill(
                "promptagent_update",
                trajectory=trajectory(ctx),
                errors=format_errors(ctx.errors),
                feedback="\n\n".join(feedback),
                num_prompts=n,
            ),
            purpose="refine",
        )
        return parse_at_most(raw, n)
