"""APO-Sum: one call per sample analyses every error, groups the causes into
categories, suggests fixes and slightly revises the prompt.  The analysis is
the feedback proposal; the revision written with it is its candidate."""
from __future__ import annotations

import asyncio
import re
from typing import Sequence

from core.methods.base import Draft, Method, StepContext, fill, format_errors, parse_tagged, untag

_ANALYSIS = re.compile(r"<ANALYSIS>(.*?)(?:</ANALYSIS>|<START>|$)", re.S)


def split_output(raw: str) -> tuple[Draft, Draft]:
    """(analysis, revision) of one APO-Sum answer."""
    match = _ANALYSIS.search(raw)
    revision = parse_tagged(raw)[0]
    if match and match.group(1).strip():
        analysis = Draft(match.group(1).strip(), raw)
    else:
        before = raw.split("<START>", 1)[0] if "<START>" in raw else raw
        text = untag(before) or untag(raw)
        analysis = Draft(text, raw, "no <ANALYSIS> tags: the text before the revision was taken")
    return analysis, revision


class APOSum(Method):
    name = "apo-sum"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Revisions written together with an analysis, by (step, parent, analysis text):
        # an accepted analysis keeps its own revision; an edited or human one gets a new one.
        self._paired: dict[tuple[int, str, str], Draft] = {}

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        text = fill("apo_sum", prompt=ctx.parent.instruction, errors=format_errors(ctx.errors))
        raws = await asyncio.gather(
            *(self.ask(text, purpose="reflect", sample=k) for k in range(self.config.n_per_parent))
        )
        analyses = []
        for raw in raws:
            analysis, revision = split_output(raw)
            self._paired[(ctx.step, ctx.parent.id, analysis.text)] = revision
            analyses.append(analysis)
        return analyses

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        return list(await asyncio.gather(*(self._revision(ctx, f, k) for k, f in enumerate(feedback))))

    async def _revision(self, ctx: StepContext, analysis: str, sample: int) -> Draft:
        paired = self._paired.get((ctx.step, ctx.parent.id, analysis))
        if paired is not None:
            return paired
        raw = await self.ask(
            fill("apo_sum_revise", prompt=ctx.parent.instruction, feedback=analysis), purpose="refine", sample=sample
        )
        return parse_tagged(raw)[0]
