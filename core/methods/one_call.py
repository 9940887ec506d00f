"""Methods whose one call per sample both analyses the errors and revises
the prompt (APO-Sum, ABO).  The analysis is the feedback proposal; the
revision written with it is its candidate.  An accepted analysis keeps its
own revision; an edited or human one is sent back for a fresh revision.

Under ``--protocol study`` every ``<START>…<END>`` span of the answer is a
revision, "Instruction N:" unwrapped, as the study's code reads these answers
(AutoPrompter.py:573,974 with utils.py:87-112); otherwise the first one."""
from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Sequence

from reflectloop.core.methods.base import Method, StepContext, draw_of, fill, format_errors

from reflectloop.core.methods.parsing import Draft, Reply, parse_spans, parse_tagged, untag, unwrap_numbered

_ANALYSIS = re.compile(r"<ANALYSIS>(.*?)(?:</ANALYSIS>|<START>|$)", re.S)


def split_output(raw: str, truncated: bool = False, protocol: str = "reflectloop") -> tuple[Draft, list[Draft]]:
    """(analysis, revisions) of one combined answer: the first revision, or
    under ``study`` every one, unwrapped."""
    match = _ANALYSIS.search(raw)
    revisions = parse_tagged(raw, truncated=truncated)
    if protocol != "study":
        revisions = revisions[:1]
    elif not revisions[0].parse_error:
        revisions = [replace(d, text=unwrap_numbered(d.text)) for d in revisions]
    if match and match.group(1).strip():
        analysis = Draft(match.group(1).strip(), raw, truncated=truncated)
    else:
        before = raw.split("<START>", 1)[0] if "<START>" in raw else raw
        text = untag(before) or untag(raw)
        analysis = Draft(text, raw, "no <ANALYSIS> tags: the text before the revision was taken", truncated)
    return analysis, revisions


class OneCallMethod(Method):
    """A method whose one call per sample writes the analysis and its revision."""

    combined = ""  # template of the one call: analysis and revision
    revise = ""  # template of a revision from a given (edited or human) analysis

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Revisions written together with an analysis, by (step, parent, analysis text).
        self._paired: dict[tuple[int, str, str], list[Draft]] = {}

    @classmethod
    def calls_per_parent(cls, requests: int, protocol: str) -> tuple[int, int]:
        return requests, 0  # each call both reflects and revises

    def _errors(self, errors) -> str:
        return format_errors(errors, protocol=self.protocol)

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        request = self.about_errors(ctx, lambda errors: fill(
            self.combined, prompt=ctx.parent.instruction, errors=self._errors(errors)))
        samples, _ = self.sampling()
        replies = await self.ask_samples(request, purpose="reflect", draw=draw_of(ctx), n=samples)
        return [self._pair(ctx, reply) for reply in replies]

    def _pair(self, ctx: StepContext, reply: Reply) -> Draft:
        if reply.failure is not None:
            return reply.failed()  # no analysis, so no revision to keep with it
        analysis, revisions = split_output(reply.text, reply.truncated, self.protocol)
        analysis, *revisions = reply.marked([analysis, *revisions])
        self._paired[(ctx.step, ctx.parent.id, analysis.text)] = revisions
        return analysis

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        groups = await asyncio.gather(*(self._revisions(ctx, f, k) for k, f in enumerate(feedback)))
        return [d for group in groups for d in group]

    async def _revisions(self, ctx: StepContext, analysis: str, sample: int) -> list[Draft]:
        paired = self._paired.get((ctx.step, ctx.parent.id, analysis))
        if paired is not None:
            return paired
        request = self.about_errors(ctx, lambda errors: fill(
            self.revise, prompt=ctx.parent.instruction, errors=self._errors(errors), feedback=analysis))
        reply = await self.ask(request, purpose="refine", draw=draw_of(ctx), sample=sample)
        return parse_spans(reply, 1, self.protocol)
