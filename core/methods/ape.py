"""Iterative-APE: paraphrase the prompt, keeping its meaning; never sees errors."""
from __future__ import annotations

import asyncio
from typing import Sequence

from core.methods.base import Draft, Method, StepContext, fill, parse_tagged


class IterativeAPE(Method):
    name = "ape"
    reflects = False

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        text = fill("ape_paraphrase", prompt=ctx.parent.instruction)
        raws = await asyncio.gather(
            *(self.ask(text, purpose="refine", sample=k) for k in range(self.config.n_per_parent))
        )
        # One paraphrase per sample: the first tagged span of each.
        return [parse_tagged(raw)[0] for raw in raws]
