"""ABO, Automatic Behavior Optimization: a prompt is a step-by-step
instruction plus a worked demonstration of following it.

One call per sample reads the target's full outputs on two errors (the
instruction shown without its demonstration), names the step that failed,
suggests how to break it down and writes the new instruction: n=2 samples
are two independent analyses.  The optimizer then works the new instruction
through one fixed example; that demonstration joins the instruction."""
from __future__ import annotations

from reflectloop.core.methods.base import fill

from reflectloop.core.methods.parsing import Draft
from reflectloop.core.methods.facts import MethodFacts
from reflectloop.core.methods.one_call import OneCallMethod
from reflectloop.core.evaluation.scoring import score_output
from reflectloop.core.types import Example


class ABO(OneCallMethod):
    name = "abo"
    uses_demonstration = True
    defaults = MethodFacts(errors=2, per_parent=2, samples=2)
    # As released: the analysis is one request per parent with n=2 (AutoPrompter.py:894,967-971).
    released_defaults = defaults
    # As released, step 0's demonstration comes from the initializer's request, n = GEN_BATCH_SIZE
    # (AutoPrompter.py:104,144,929-933); only its first choice is read.
    released_first_demo_choices = 5
    combined = "abo_reflect"
    revise = "abo_refine"

    async def demonstrate(self, instruction: str, example: Example, draw: str) -> Draft | None:
        reply = await self.ask(fill("abo_demonstrate", prompt=instruction, input=example.input),
                               purpose="demonstrate", draw=draw, choices=self._demo_choices(draw))
        if reply.failure is not None:
            return reply.failed()
        text = reply.text.strip()
        if not text:
            return Draft("", reply.text, "the optimizer returned nothing", reply.truncated)
        answer, correct, _ = score_output(text, example.targets, protocol=self.protocol)
        # A demonstration that reaches a wrong answer teaches the wrong behaviour: say so.
        warning = None if correct else f"the demonstration ends with {answer!r}, not the gold {example.targets[0]!r}"
        return Draft(demonstration_text(example.input, text, self.protocol), reply.text, warning, reply.truncated)

    def _demo_choices(self, draw: str) -> int:
        """The ``n`` of a demonstration request, of which the first choice is read:
        released, step 0's (the loop's draw ``s0/…``) is the initializer's, later ones the analysis's."""
        if self.released and draw.startswith("s0/"):
            return self.released_first_demo_choices
        return self.unread_choices()


def demonstration_text(example_input: str, worked: str, protocol: str) -> str:
    """The demonstration as the target reads it: the example's input, then the
    worked answer, laid out as the protocol's target request lays out an input
    (under study as the study composes it, template.py:647-663: the example's
    empty output, then the worked answer on the next line)."""
    if protocol == "study":
        return f"## Input\n{example_input}\n## Output\n\n{worked}"
    return f"Input:\n{example_input}\n\n{worked}"


class ABOAblation(ABO):
    """ABO without the demonstration."""

    name = "abo-ablation"
    uses_demonstration = False
