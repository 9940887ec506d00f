"""The loop's selection hook: the study's beam as a selection of its own,
and a loop that drives any selection without knowing which."""
from __future__ import annotations

import pytest

from reflectloop.core.methods.base import Method
from reflectloop.core.step.selection import BeamSelection, Focus, Selection, StepOutcome
from reflectloop.core.types import Evaluation, ExampleResult, Prompt
from tests.test_loop import make_loop

DEV = ("d0", "d1", "d2", "d3")


def evaluation(prompt_id: str, right: int) -> Evaluation:
    """Right on the first ``right`` dev examples."""
    return Evaluation(prompt_id, "dev", tuple(ExampleResult(i, "", None, k < right, True) for k, i in enumerate(DEV)))


class Ops:
    """Parents with given scores; each evolve returns the children scripted for that parent."""

    evaluation, adaptive_z = "full", 1.0

    def __init__(self, parents: dict[str, int], children: dict[str, dict[str, int]]):
        self.parents = [Prompt(p, p) for p in parents]
        self.right = {**parents, **{c: n for kids in children.values() for c, n in kids.items()}}
        self.children = children
        self.notes: list[str] = []
        self.focuses: list[Focus] = []

    def kept(self):
        return self.parents

    async def evolve(self, focus):
        self.focuses.append(focus)
        return [Prompt(c, c, parent_id=focus.parent_id) for c in self.children.get(focus.parent_id, {})]

    async def score(self, prompts, examples=None):
        assert examples is None  # the beam scores on the whole dev set only
        return {p.id: evaluation(p.id, self.right[p.id]) for p in prompts}

    def note(self, text):
        self.notes.append(text)

    def emit(self, event):
        raise AssertionError(f"the beam emits nothing of its own: {event}")


async def test_pool_keeps_the_best_of_parents_and_children_children_only_the_children():
    ops = lambda: Ops({"a": 3, "b": 1}, {"a": {"a1": 2}, "b": {"b1": 0, "b2": 4}})  # noqa: E731
    pool = await BeamSelection(2, "pool", 0, True).run_step(1, ops())
    assert (pool.kept, pool.best) == (("b2", "a"), "b2")
    children = await BeamSelection(2, "children", 0, True).run_step(1, ops())
    assert (children.kept, children.best) == (("b2", "a1"), "b2")


async def test_each_parent_is_evolved_on_its_sampled_errors():
    ops = Ops({"a": 3, "b": 1}, {})
    await BeamSelection(2, "pool", 0, True).run_step(1, ops)
    assert ops.focuses == [Focus("a"), Focus("b")]  # no minibatch, no round tag: the study's ids


async def test_no_errors_left_or_no_child_keeps_the_parents_and_says_why():
    perfect = Ops({"a": 4, "b": 4}, {"a": {"a1": 4}})
    out = await BeamSelection(2, "children", 0, True).run_step(1, perfect)
    assert set(out.kept) == {"a", "b"} and perfect.focuses == []
    assert perfect.notes == ["no errors left on the dev set: the beam is kept"]
    # A method that writes no feedback (APE) paraphrases even a perfect beam.
    paraphrased = Ops({"a": 4}, {})
    await BeamSelection(2, "children", 0, False).run_step(1, paraphrased)
    assert paraphrased.focuses == [Focus("a")]
    assert paraphrased.notes == ["no child survived review: the parents are kept"]


def test_ties_are_broken_by_the_seed_and_step_and_the_beam_is_cut():
    tied = [evaluation(p, 2) for p in "abcdef"]
    picks = {BeamSelection(2, "pool", seed, True).start(tied).kept for seed in range(12)}
    assert len(picks) > 1 and all(len(p) == 2 for p in picks)
    assert BeamSelection(2, "pool", 5, True).start(tied) == BeamSelection(2, "pool", 5, True).start(tied)
    assert len(BeamSelection(9, "pool", 5, True).start(tied).kept) == 6  # a smaller pool is kept whole


class KeepFirst(Selection):
    """A selection the loop has never heard of: it keeps step 0's first prompt and evolves nothing
    (and offers none of the optional hooks: the protocol's defaults stand)."""

    def start(self, scored):
        return StepOutcome((scored[0].prompt_id,), scored[0].prompt_id)

    async def run_step(self, step, ops):
        ops.note("kept as it was")
        first = ops.kept()[0].id
        await ops.score(ops.kept())
        return StepOutcome((first,), first)

    def to_dict(self):
        return {"kept": True}

    def restore(self, data):
        assert data == {"kept": True}


async def test_the_loop_drives_whatever_selection_the_method_returns(monkeypatch):
    monkeypatch.setattr(Method, "selection", lambda self: KeepFirst())
    loop, events, tp, op = make_loop(steps=2)
    records = await loop.run(2)
    assert records[1].beam == records[0].beam == ("s0/task/candidate/0",)  # the first initial prompt
    assert records[1].notes == ("kept as it was",) and records[1].method_state == {"kept": True}
    assert not any("reasons why" in p for p in op.prompts)  # it evolved nothing: no reflection was asked
    with pytest.raises(AssertionError):
        KeepFirst().restore({})


async def test_adaptive_falls_back_to_full_for_a_metric_of_the_whole_set():
    class Aggregated(Ops):
        evaluation = "adaptive"

        async def score(self, prompts, examples=None):
            assert examples is None  # macro-F1 of a few examples says nothing of the whole set's
            evs = await super().score(prompts)
            return {i: Evaluation(i, "dev", ev.results, aggregate=self.right[i] / 8) for i, ev in evs.items()}

    ops = Aggregated({"a": 3, "b": 1}, {"a": {"a1": 2}, "b": {"b2": 4}})
    out = await BeamSelection(2, "pool", 0, True).run_step(1, ops)
    assert (out.kept, out.evaluation, out.calls_saved) == (("b2", "a"), "full", 0)
    assert ops.notes == ["the metric scores the whole dev set at once: candidates are evaluated in full"]
