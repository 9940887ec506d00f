"""OPRO: no feedback text.  The optimizer sees the best past prompts with
their dev scores in ascending order (the trajectory, shown to the reviewer as
the implicit reflection) and problems drawn from a beam member's errors
(inputs and gold answers), and writes a new prompt.  Every beam member is
evolved, so a step's candidates come from several members' problems, as the
study's code intends (about 10 per step with a beam of 5)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from reflectloop.core.methods.base import Method, StepContext, fill, format_examples

from reflectloop.core.methods.parsing import Draft
from reflectloop.core.methods.facts import MethodFacts, setting
from reflectloop.core.types import Example


def scored_trajectory(ctx: StepContext, size: int) -> str:
    best: dict[str, float] = {}
    for prompt, score in ctx.history:  # one entry per distinct text, its best score
        if score is None:
            continue  # a prompt with no scored example has no score to show
        key = prompt.instruction.strip()
        best[key] = max(score, best.get(key, score))
    top = sorted(best.items(), key=lambda kv: kv[1])[-size:]
    return "\n\n".join(f"text:\n{text}\nscore:\n{round(score * 100)}" for text, score in top)


@dataclass(frozen=True)
class OproOptions:
    history: int = setting(20, "past prompts with their scores shown to OPRO")


class OPRO(Method):
    name = "opro"
    defaults = MethodFacts(errors=4, per_parent=2, samples=2, reflects=False)
    # As released: one request per beam member with n=4 (AutoPrompter.py:106,791,822-830).
    released_defaults = MethodFacts(errors=4, per_parent=4, samples=4, reflects=False)
    options_class = OproOptions

    def implicit_reflection(self, ctx: StepContext) -> str:
        return scored_trajectory(ctx, self.config.options_of(OproOptions).history)

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        # A member with no errors left still gets problems: example ones from dev.
        problems = [Example(e.example_id, e.input, e.gold) for e in ctx.errors] or list(ctx.examples)
        text = fill("opro", trajectory=self.implicit_reflection(ctx), examples=format_examples(problems))
        return await self.candidates(text, ctx, tag="INS")
