"""ABO, Automatic Behavior Optimization: a prompt is a step-by-step
instruction plus a worked demonstration of following it.  Reflection sees
the target's full outputs on two errors with the demonstration removed."""
from __future__ import annotations

import asyncio
from typing import Sequence

from core.methods.base import Draft, Method, StepContext, fill, format_errors, parse_tagged, untag
from core.scoring import score_output
from core.types import Example


class ABO(Method):
    name = "abo"
    uses_demonstration = True

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        # ctx.parent.instruction is the instruction alone: the demonstration is left out.
        raw = await self.ask(
            fill("abo_reflect", prompt=ctx.parent.instruction, errors=format_errors(ctx.errors)), purpose="reflect"
        )
        text = untag(raw)
        error = None if "<START>" in raw else ("no <START>…<END> tags: the whole output was taken" if text else "the optimizer returned nothing")
        return [Draft(text, raw, error)]

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        text = fill(
            "abo_refine", prompt=ctx.parent.instruction, errors=format_errors(ctx.errors), feedback="\n\n".join(feedback)
        )
        raws = await asyncio.gather(
            *(self.ask(text, purpose="refine", sample=k) for k in range(self.config.n_per_parent))
        )
        return [parse_tagged(raw)[0] for raw in raws]

    async def demonstrate(self, instruction: str, example: Example) -> Draft | None:
        raw = await self.ask(fill("abo_demonstrate", prompt=instruction, input=example.input), purpose="demonstrate")
        text = raw.strip()
        if not text:
            return Draft("", raw, "the optimizer returned nothing")
        demo = f"Input:\n{example.input}\n\n{text}"
        answer, correct, _ = score_output(text, example.targets)
        # A demonstration that reaches a wrong answer teaches the wrong behaviour: say so.
        warning = None if correct else f"the demonstration ends with {answer!r}, not the gold {example.targets[0]!r}"
        return Draft(demo, raw, warning)


class ABOAblation(ABO):
    """ABO without the demonstration."""

    name = "abo-ablation"
    uses_demonstration = False
