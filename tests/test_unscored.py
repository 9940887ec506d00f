"""A failure is never a score: an example is scored, errored (with its
cause) or absent; a prompt scored on no example has no score, and nothing
keeps, selects or tests it on the strength of one.  Selections, the race,
GEPA's pool, OPRO's history, the scorer's check of a metric's value, and
the loop's stop when an evaluation errored beyond ``max_errored`` — with
scripted models (the loop's logic) and real metrics."""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from reflectloop.core.step.adaptive import race
from reflectloop.core.events import EvaluationDone
from reflectloop.core.step.failures import EvaluationFailed, distinct_causes
from reflectloop.core.llm.base import ProviderError
from reflectloop.core.metrics import MetricResult, Scorer, TaskExample, build_contract, build_metric
from reflectloop.core.metrics.base import SyncMetric, mean_aggregate
from reflectloop.core.methods.base import StepContext
from reflectloop.core.methods.opro import scored_trajectory
from reflectloop.core.methods.pareto import Pool
from reflectloop.core.step.selection import BeamSelection
from reflectloop.core.types import Evaluation, ExampleResult, Prompt
from tests.test_loop import make_loop
from tests.test_selection import DEV, Ops, evaluation


def errored(prompt_id: str, cause: str = "HTTP 500") -> Evaluation:
    return Evaluation(prompt_id, "dev", tuple(ExampleResult(i, "", None, False, False, errored=cause, failed_in="call")
                                               for i in DEV))


# ------------------------------------------------------------------- types
def test_a_prompt_scored_on_no_example_has_no_score_not_0():
    assert errored("p").score is None and errored("p").errors == ()
    # A metric's own summary (macro-F1) of nothing scored is no score either.
    summary = Evaluation("p", "dev", errored("p").results, aggregate=0.0)
    assert summary.score is None
    half = Evaluation("p", "dev", (*evaluation("p", 2).results[:2], *errored("p").results[2:]))
    assert half.score == 1.0 and len(half.errored) == 2  # the errored two are left out, not counted 0
    assert mean_aggregate([MetricResult.errored("x")]).score is None


def test_the_first_distinct_causes_count_a_cause_once_whatever_example_it_names():
    results = tuple(ExampleResult(f"e{i}", "", None, False, False, errored=cause, failed_in="metric")
                    for i, cause in enumerate(["boom (example 'e0')", "boom (example 'e1')", "HTTP 500", "other"]))
    assert distinct_causes(Evaluation("p", "dev", results)) == ["boom (example 'e0')", "HTTP 500", "other"]


# --------------------------------------------------------------- selection
def test_the_beam_never_keeps_a_prompt_without_a_score():
    scored = [evaluation("a", 1), errored("b"), evaluation("c", 0)]
    out = BeamSelection(3, "pool", 0, True).start(scored)
    assert out.kept == ("a", "c") and out.best == "a"  # c scored 0 on four examples: a score; b has none
    with pytest.raises(EvaluationFailed, match="step 0: no prompt has a score"):
        BeamSelection(2, "pool", 0, True).start([errored("x"), errored("y")])


async def test_children_with_no_score_leave_the_parents_in_the_beam():
    class Failing(Ops):
        async def score(self, prompts, examples=None):
            return {p.id: errored(p.id) if p.id.startswith("a") and p.id != "a" else evaluation(p.id, self.right[p.id])
                    for p in prompts}

    ops = Failing({"a": 1}, {"a": {"a1": 4, "a2": 4}})
    out = await BeamSelection(2, "children", 0, True).run_step(1, ops)
    assert out.kept == ("a",)
    assert ops.notes == ["no child has a score (every example errored): the parents are kept"]


async def test_the_race_never_keeps_a_candidate_no_example_was_scored_for():
    async def score(candidate, ids):
        return {} if candidate == "dead" else {i: 1.0 if candidate == "good" else 0.0 for i in ids}

    result = await race(["dead", "good", "poor"], [f"d{i}" for i in range(8)], score, 2, seed=0)
    assert result.beam == ("good", "poor") and "dead" in result.dropped
    assert result.mean("dead") is None
    alone = await race(["dead"], ["d0", "d1"], score, 1, seed=0)
    assert alone.beam == ()


def test_gepa_pool_best_is_never_a_candidate_without_scores():
    pool = Pool(("d0", "d1"))
    pool.add("dead", {})
    pool.add("weak", {"d0": 0.0, "d1": 0.0})
    assert pool.best() == "weak" and "dead" not in pool.wins()
    empty = Pool(("d0",))
    empty.add("dead", {})
    with pytest.raises(ValueError, match="no candidate in the pool has a dev score"):
        empty.best()


def test_opro_shows_no_unscored_prompt_in_its_history():
    history = ((Prompt("a", "Add."), 0.5), (Prompt("b", "Sum."), None), (Prompt("c", "Plus."), 0.25))
    ctx = StepContext(1, Prompt("a", "Add."), (), history=history)
    shown = scored_trajectory(ctx, 20)
    assert "Sum." not in shown and shown.index("Plus.") < shown.index("Add.")


# ---------------------------------------------------------------- scoring
@dataclass(frozen=True)
class Returns(SyncMetric):
    """A metric returning whatever it was given, the way a buggy one would."""

    kind: ClassVar[str] = "returns"
    value: Any = None

    def measure(self, example, value):
        return MetricResult(self.value)


@pytest.mark.parametrize("value, words", [(1.7, "returned 1.7: a score must be in [0, 1]"),
                                          (math.nan, "returned nan"), ("great", "returned 'great'"),
                                          (-0.1, "returned -0.1"), (None, "returned no score")])
def test_a_metric_value_that_is_not_a_score_errors_the_example_never_clipped(value, words):
    scorer = Scorer(build_contract({"kind": "raw"}), Returns(value))
    result = asyncio.run(scorer.score(TaskExample("e", {"input": "x"}, ("y",)), "y"))
    assert result.score is None and words in result.error


def test_a_judge_whose_call_fails_errors_its_example_as_a_call_not_the_metric():
    from tests.scripted import scripted_llm

    def down(text, params):
        raise ProviderError("openai:judge: HTTP 503", retryable=False)

    judge, _ = scripted_llm("openai:judge", down, role="judge")
    metric = build_metric({"kind": "judge", "rubric": "PASS when right."}).with_model(judge)
    result = asyncio.run(metric.score(TaskExample("e", {"input": "x"}, ("y",)), "y"))
    assert result.call_failed and "the judge call failed" in result.error


# ------------------------------------------------------------------- loop
def failing_on(pattern: str):
    import re

    from tests.scripted import toy_target

    def target(text, params):
        if re.search(pattern, text):
            raise ProviderError("fake:target: HTTP 500: down", retryable=False)
        return toy_target(text, params)

    return target


@pytest.mark.parametrize("evaluation_kind", ["full", "adaptive"])
async def test_an_evaluation_errored_beyond_max_errored_stops_its_step_unrecorded(evaluation_kind):
    loop, events, tp, op = make_loop("apo", init_prompts=2, beam=1, evaluation=evaluation_kind)
    loop.target.provider.answer = failing_on("GOOD")  # step 1's first candidate, "Answer GOOD."
    with pytest.raises(EvaluationFailed) as stop:
        await loop.run(2)
    assert stop.value.step == 1 and stop.value.causes == ("fake:target: HTTP 500: down",)
    assert "more than --max-errored 0.1 allows" in str(stop.value)
    assert [r.step for r in loop.state.records] == [0]
    good = [p.id for p in loop.state.prompts.values() if "GOOD" in p.instruction]
    assert good and not any(isinstance(e, EvaluationDone) and e.evaluation.prompt_id in good for e in events)


async def test_gepa_stops_when_a_minibatch_errors_instead_of_gating_on_failures():
    from tests.test_gepa_loop import RULES

    loop, events, tp, op = make_loop("gepa", rules=RULES, init_prompts=2, steps=2, gepa_iterations=2, errors=3)
    loop.target.provider.answer = failing_on(r" v\d+\.")  # every step-1 candidate ("Answer GOOD v7.", "Reply v8.")
    with pytest.raises(EvaluationFailed, match="step 1: 3 of 3 dev examples"):
        await loop.run(2)
    assert [r.step for r in loop.state.records] == [0]


async def test_allowed_to_error_the_step_goes_on_and_the_unscored_is_never_kept():
    loop, events, tp, op = make_loop("apo", init_prompts=2, beam=2, max_errored=1.0)
    loop.target.provider.answer = failing_on("GOOD")
    records = await loop.run(2)
    good = next(p.id for p in loop.state.prompts.values() if p.instruction == "Answer GOOD.")
    assert records[1].dev_scores[good] is None and good not in records[1].beam
    assert all(records[1].dev_scores[i] is not None for i in records[1].beam)
