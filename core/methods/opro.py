"""OPRO: no feedback text.  The optimizer sees the best past prompts with
their dev scores in ascending order (the trajectory, shown to the reviewer as
the implicit reflection) and two example problems, and writes new prompts."""
from __future__ import annotations

import asyncio
from typing import Sequence

from core.methods.base import Draft, Method, StepContext, fill, format_examples, parse_tagged
from core.types import Example


def scored_trajectory(ctx: StepContext, size: int) -> str:
    best = {}
    for prompt, score in ctx.history:  # one entry per distinct text, its best score
        key = prompt.instruction.strip()
        best[key] = max(score, best.get(key, 0.0))
    top = sorted(best.items(), key=lambda kv: kv[1])[-size:]
    return "\n\n".join(f"text:\n{text}\nscore:\n{round(score * 100)}" for text, score in top)


class OPRO(Method):
    name = "opro"
    reflects = False
    once_per_step = True  # the trajectory is global: one parent, the best, per step

    def implicit_reflection(self, ctx: StepContext) -> str:
        return scored_trajectory(ctx, self.config.opro_history)

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        problems = [Example(e.example_id, e.input, e.gold) for e in ctx.errors] or list(ctx.examples)
        text = fill("opro", trajectory=self.implicit_reflection(ctx), examples=format_examples(problems[:2]))
        raws = await asyncio.gather(
            *(self.ask(text, purpose="refine", sample=k) for k in range(self.config.n_per_parent))
        )
        return [parse_tagged(raw, "INS")[0] for raw in raws]
