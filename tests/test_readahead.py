"""Read-ahead (``core.step.readahead``): the next step's first optimizer calls are
asked during a step's test evaluation (with the auto-reviewer, the
refinements too), taken by the next step instead of asking again, and change
nothing else: not the requests, not the records.
Scripted models, real loop, no response cache (so every ask reaches the model)."""
from __future__ import annotations

from collections import Counter

import pytest

from reflectloop.core.llm.cache import NullCache
from reflectloop.core.step.loop import Loop
from reflectloop.core.methods.base import StepContext
from reflectloop.core.methods.parsing import Draft
from reflectloop.core.step.readahead import ReadAhead
from reflectloop.core.types import Prompt
from tests.scripted import ScriptedReviewer
from tests.test_loop import INIT, PARAPHRASE, REFINE, REFLECT, init_answers, make_loop

OPRO = "would score higher"
RULES = {
    INIT: init_answers(["Answer.", "Answer HALF.", "Reply."]),
    REFLECT: "<START>it ignores the number<END><START>too vague<END>",
    REFINE: "<START>Answer GOOD.<END><START>Answer HALF again.<END>",
    PARAPHRASE: lambda text, params: f"<START>Variant {params.sample} HALF.<END>",
    OPRO: lambda text, params: f"<INS>New {params.sample} HALF</INS>",
}


def asked(op, key: str) -> int:
    return sum(key in p for p in op.prompts)


async def test_the_next_steps_reflections_are_asked_with_the_test_evaluation_and_taken():
    loop, events, tp, op = make_loop(rules=RULES, cache=NullCache(), steps=3)
    await loop.run_step()
    assert asked(op, REFLECT) == 2  # step 1's, one per beam member, before step 1 began
    # The auto-reviewer keeps what it is shown: the refinements from its decisions were asked too.
    assert asked(op, REFINE) == 2
    await loop.run_step()
    with_errors = sum(1 for i in loop.state.beam if loop.state.dev[i].errors)  # the others do not reflect
    assert with_errors == 1
    # Step 1 took them (no second ask) and read step 2's ahead.
    assert asked(op, REFLECT) == asked(op, REFINE) == 2 + with_errors
    await loop.run_step()
    assert any(loop.state.dev[i].errors for i in loop.state.beam)  # so a next step would reflect
    assert asked(op, REFLECT) == asked(op, REFINE) == 2 + with_errors  # the last step reads nothing ahead


async def test_a_reviewer_who_is_asked_gets_only_the_reflections_read_ahead():
    reviewer = ScriptedReviewer()  # accepts everything, but only once asked: no ``foresee``
    loop, events, tp, op = make_loop(rules=RULES, reviewer=reviewer, cache=NullCache(), steps=2)
    await loop.run_step()
    assert (asked(op, REFLECT), asked(op, REFINE)) == (2, 0)
    await loop.run_step()
    assert (asked(op, REFLECT), asked(op, REFINE)) == (2, 2)
    assert [r.kind for r in reviewer.requests].count("feedback") == 2  # the reviews themselves were not skipped


async def test_a_method_without_feedback_reads_its_first_refinement_ahead():
    loop, events, tp, op = make_loop("ape", rules=RULES, cache=NullCache(), steps=2)
    await loop.run_step()
    after_step0 = asked(op, PARAPHRASE)
    assert after_step0 > 0
    await loop.run_step()
    assert asked(op, PARAPHRASE) == after_step0  # taken, not asked again


def without_read_ahead(monkeypatch) -> None:
    monkeypatch.setattr(Loop, "_read_ahead", lambda self, step, outcome: None)


@pytest.mark.parametrize("method", ["apo", "ape", "opro"])
async def test_records_and_requests_are_the_same_as_without_read_ahead(method, monkeypatch):
    loop, _, tp, op = make_loop(method, rules=RULES, cache=NullCache(), steps=3)
    with_ahead = await loop.run()
    requests = Counter(op.prompts), Counter(tp.prompts)
    without_read_ahead(monkeypatch)
    loop, _, tp, op = make_loop(method, rules=RULES, cache=NullCache(), steps=3)
    plain = await loop.run()
    # Every field, the spending included: what was read ahead is counted in the step it was for.
    assert with_ahead == plain
    assert (Counter(op.prompts), Counter(tp.prompts)) == requests
    assert sum(r.calls for r in plain) == tp.calls + op.calls


async def test_a_failed_read_ahead_is_asked_again_where_it_belongs():
    failures = []

    def reflect(text, params):
        if not failures:
            failures.append(text)
            raise RuntimeError("the optimizer fell over")
        return "<START>too vague<END>"

    loop, events, tp, op = make_loop(rules={**RULES, REFLECT: reflect}, cache=NullCache(), steps=2, beam=1)
    step0 = await loop.run_step()  # the failure is the next step's, not this one's
    assert failures and step0.step == 0
    step1 = await loop.run_step()
    assert asked(op, REFLECT) == 2 and step1.best_id in loop.state.prompts


def context(step: int, errors=()) -> StepContext:
    return StepContext(step, Prompt("p0", "Answer."), tuple(errors))


async def test_an_answer_is_taken_once_and_only_for_the_very_context():
    ahead = ReadAhead()

    async def answer():
        return [Draft("reason", "<START>reason<END>")]

    key = ("", "reflect", ())
    ahead.ask(context(1), key, answer)
    await ahead.settle()
    assert await ahead.take(context(2), key) is None  # another step's context
    assert await ahead.take(context(1), ("g1", "reflect", ())) is None  # another focus
    assert await ahead.take(context(1), ("", "refine", ("reason",))) is None  # another call
    assert await ahead.take(context(1), key) == [Draft("reason", "<START>reason<END>")]
    assert await ahead.take(context(1), key) is None  # once


async def test_a_cancelled_read_ahead_gives_nothing():
    ahead = ReadAhead()

    async def never():
        import asyncio

        await asyncio.Event().wait()

    ahead.ask(context(1), ("", "reflect", ()), never)
    ahead.cancel()
    assert len(ahead) == 0 and await ahead.take(context(1), ("", "reflect", ())) is None


async def test_blind_mode_reads_nothing_ahead():
    class Blind(ScriptedReviewer):
        asks_first = True  # the person writes their reflection before the LLM's exists

    reviewer = Blind(own_reflection=("count the number",))
    loop, events, tp, op = make_loop(rules=RULES, reviewer=reviewer, cache=NullCache(), steps=2)
    await loop.run_step()
    assert (asked(op, REFLECT), asked(op, REFINE)) == (0, 0)
    await loop.run_step()
    assert asked(op, REFLECT) == len(reviewer.reflections) == 2  # each asked after the person's own
