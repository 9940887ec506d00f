"""OPRO: no feedback text.  The optimizer sees the best past prompts with
their dev scores in ascending order (the trajectory, shown to the reviewer as
the implicit reflection) and problems drawn from a beam member's errors
(inputs and gold answers), and writes a new prompt.  Every beam member is
evolved, so a step's candidates come from several members' problems, as the
study's code intends (about 10 per step with a beam of 5)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from reflectloop.core.methods.base import Method, StepContext, answer_object, fill, format_examples

from reflectloop.core.methods.parsing import Draft
from reflectloop.core.methods.facts import MethodFacts, setting
from reflectloop.core.types import Example


def scored_trajectory(ctx: StepContext, size: int, protocol: str = "reflectloop") -> str:
    if protocol == "study":
        return study_trajectory(ctx, size)
    best: dict[str, float] = {}
    for prompt, score in ctx.history:  # one entry per distinct text, its best score
        if score is None:
            continue  # a prompt with no scored example has no score to show
        key = prompt.instruction.strip()
        best[key] = max(score, best.get(key, score))
    top = sorted(best.items(), key=lambda kv: kv[1])[-size:]
    return "\n\n".join(f"text:\n{text}\nscore:\n{round(score * 100)}" for text, score in top)


def study_trajectory(ctx: StepContext, size: int) -> str:
    """The trajectory as the study's code builds it (AutoPrompter.py:807-814,
    template.py:147-160): every evaluation so far ranked by score, best first,
    ties in evaluation order (a stable sort); the top ``size`` taken *before*
    equal texts are merged; then walked from the lowest rank up, so the list
    is ascending, tied scores in reverse evaluation order, and a text ranked
    twice sits where its lower copy was, with its higher copy's score.
    Entries are laid out and separated as the study's are (two blank lines);
    the study's run of separators after the last entry (its counter never
    moves) is a defect not reproduced, and its truncated scores
    (``int(score*100)``) are rounded."""
    scored = [(p.instruction.strip(), s) for p, s in ctx.history if s is not None]
    ranked = sorted(scored, key=lambda entry: entry[1], reverse=True)[:size]
    shown: dict[str, float] = {}
    for text, score in reversed(ranked):
        shown[text] = score  # an existing key keeps its place, takes the higher-ranked score
    return "\n\n".join(f"text: {text}\nscore: {round(score * 100)}\n" for text, score in shown.items())


def study_problems(examples: Sequence[Example]) -> str:
    """Problems as the study's OPRO request shows them (template.py:60-113):
    ``<INS>`` where the instruction goes, before each input; the gold as an
    answer object; numbered headers only when there is more than one."""
    blocks = [f"Input:\n<INS>{e.input}\nOutput: {answer_object(e.targets[0] if e.targets else '')}"
              for e in examples]
    if len(blocks) > 1:
        blocks = [f"## Problem {i}\n{b}" for i, b in enumerate(blocks, 1)]
    return "\n\n".join(blocks)


# Under study each problem's input carries the ``<INS>`` mark: say what it is.
STUDY_MARKS = "\n<INS> marks where the instruction is placed in each problem."


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
        return scored_trajectory(ctx, self.config.options_of(OproOptions).history, self.protocol)

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        # A member with no errors left still gets problems: example ones from dev.
        problems = [Example(e.example_id, e.input, e.gold) for e in ctx.errors] or list(ctx.examples)
        study = self.protocol == "study"
        text = fill("opro", trajectory=self.implicit_reflection(ctx),
                    examples=study_problems(problems) if study else format_examples(problems),
                    marks=STUDY_MARKS if study else "")
        return await self.candidates(text, ctx, tag="INS")
