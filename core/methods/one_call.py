"""Methods whose one call per sample both analyses the errors and revises
the prompt (APO-Sum, ABO).  The analysis is the feedback proposal; the
revision written with it is its candidate.  An accepted analysis keeps its
own revision; an edited or human one is sent back for a fresh revision."""
from __future__ import annotations

import asyncio
import re
from typing import Sequence

from reflectloop.core.methods.base import Method, StepContext, draw_of, fill, format_errors

from reflectloop.core.methods.parsing import Draft, Reply, parse_reply, parse_tagged, untag

_ANALYSIS = re.compile(r"<ANALYSIS>(.*?)(?:</ANALYSIS>|<START>|$)", re.S)


def split_output(raw: str, truncated: bool = False) -> tuple[Draft, Draft]:
    """(analysis, revision) of one combined answer."""
    match = _ANALYSIS.search(raw)
    revision = parse_tagged(raw, truncated=truncated)[0]
    if match and match.group(1).strip():
        analysis = Draft(match.group(1).strip(), raw, truncated=truncated)
    else:
        before = raw.split("<START>", 1)[0] if "<START>" in raw else raw
        text = untag(before) or untag(raw)
        analysis = Draft(text, raw, "no <ANALYSIS> tags: the text before the revision was taken", truncated)
    return analysis, revision


class OneCallMethod(Method):
    """A method whose one call per sample writes the analysis and its revision."""

    combined = ""  # template of the one call: analysis and revision
    revise = ""  # template of a revision from a given (edited or human) analysis

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Revisions written together with an analysis, by (step, parent, analysis text).
        self._paired: dict[tuple[int, str, str], Draft] = {}

    @classmethod
    def calls_per_parent(cls, requests: int, protocol: str) -> tuple[int, int]:
        return requests, 0  # each call both reflects and revises

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        request = self.about_errors(ctx, lambda errors: fill(
            self.combined, prompt=ctx.parent.instruction, errors=format_errors(errors)))
        samples, _ = self.sampling()
        replies = await self.ask_samples(request, purpose="reflect", draw=draw_of(ctx), n=samples)
        return [self._pair(ctx, reply) for reply in replies]

    def _pair(self, ctx: StepContext, reply: Reply) -> Draft:
        if reply.failure is not None:
            return reply.failed()  # no analysis, so no revision to keep with it
        analysis, revision = reply.marked(list(split_output(reply.text, reply.truncated)))
        self._paired[(ctx.step, ctx.parent.id, analysis.text)] = revision
        return analysis

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        return list(await asyncio.gather(*(self._revision(ctx, f, k) for k, f in enumerate(feedback))))

    async def _revision(self, ctx: StepContext, analysis: str, sample: int) -> Draft:
        paired = self._paired.get((ctx.step, ctx.parent.id, analysis))
        if paired is not None:
            return paired
        request = self.about_errors(ctx, lambda errors: fill(
            self.revise, prompt=ctx.parent.instruction, errors=format_errors(errors), feedback=analysis))
        return parse_reply(await self.ask(request, purpose="refine", draw=draw_of(ctx), sample=sample))[0]
