"""PromptAgent: per-error step-by-step reasons and a summary of what to
improve; the update sees the path of former prompts that led to the current
one (its lineage, which the study's own code never supplied)."""
from __future__ import annotations

import json
import re
from typing import Sequence

from reflectloop.core.methods.base import Method, StepContext, draw_of, fill, format_errors

from reflectloop.core.methods.parsing import Draft, whole
from reflectloop.core.methods.facts import MethodFacts
from reflectloop.core.types import ErrorCase


def trajectory(ctx: StepContext) -> str:
    path = [*ctx.lineage, ctx.parent]
    return "\n".join(f'{i}. "{p.instruction}"' for i, p in enumerate(path, 1))


def template_prediction(output: str) -> str:
    """The prediction the study's PromptAgent error layout extracts itself
    (template.py:450-478), not the evaluator's answer: of every shortest
    ``{…}`` span in turn, a JSON object's ``answer`` (as text, no quote
    repair), or for a span that is not JSON the text after its last ``:`` up
    to ``}``; the last found wins; nothing found: the whole output, a final
    period dropped."""
    found = ""
    for span in re.findall(r"{.*?}", output, re.S):
        try:
            value = json.loads(span)
        except ValueError:
            after = re.findall(r":(.*?)}", span, re.S)
            if after:
                found = after[-1].strip()
            continue
        if isinstance(value, dict) and "answer" in value:
            found = str(value["answer"])
    if found:
        return found
    return output[:-1] if output.endswith(".") else output


def study_errors(errors: Sequence[ErrorCase]) -> str:
    """The errors as the study's PromptAgent requests show them
    (template.py:439-506): per error its number, the input, the full response,
    the gold as plain text and the template's own prediction; a single error
    is numbered too (the study's one-error branch fails: defect 7)."""
    return "\n\n".join(
        f"## Example {i}\nInput:\n{e.input}\nModel's output:\n{e.output}\n"
        f"Correct answer: {e.gold[0] if e.gold else ''}\nModel's answer: {template_prediction(e.output)}"
        for i, e in enumerate(errors, 1))


class PromptAgent(Method):
    name = "promptagent"
    one_per_sample = False
    defaults = MethodFacts(errors=4, per_parent=2, samples=1)
    study_defaults = MethodFacts(errors=4, per_parent=4, samples=2)
    # As released: one update request per parent with n=4, each choice asked for 2 (AutoPrompter.py:106,658,692-697).
    released_defaults = MethodFacts(errors=4, per_parent=8, samples=4)

    def _errors(self, errors: Sequence[ErrorCase]) -> str:
        # Output and the answer read from it, as the study's error layout for this method.
        if self.protocol == "study":
            return study_errors(errors)
        return format_errors(errors, with_answer=True)

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        request = self.about_errors(ctx, lambda errors: fill(
            "promptagent_feedback", prompt=ctx.parent.instruction, errors=self._errors(errors)))
        # The whole analysis is the reflection: the per-error reasons are what
        # a reviewer needs to judge the summary.
        return [whole(await self.ask(request, purpose="reflect", draw=draw_of(ctx), choices=self.unread_choices()))]

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        request = self.about_errors(ctx, lambda errors: fill(
            "promptagent_update",
            trajectory=trajectory(ctx),
            errors=self._errors(errors),
            feedback="\n\n".join(feedback),
            num_prompts=self.sampling()[1],
        ))
        return await self.candidates(request, ctx)
