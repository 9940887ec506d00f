"""Parity with ``gepa.optimize`` 0.1.4 for rounds of several proposals: its
sampling strategies (``IndependentSampling``, ``PxNSampling``,
``SameParentSampling``) and selection strategies (``AllImprovements``,
``BestImprovement``, ``TopKImprovements``) against reflectloop's
``--gepa-sampling`` / ``--gepa-selection``, on the scripted world of
``tests/test_gepa_parity.py``.  The same seed and scripted answers give, for
every proposal of every iteration, the same parent, minibatch and decision
(skipped, accepted, rejected, passed but not selected) and the same candidate
text; the same candidates join the pool in the same order; the same metric
calls are spent — without review (``DirectOps``) and through the real loop
with every card auto-accepted.

Here a round's proposals are asked at once, so the scripted optimizer cannot
number its candidates in call order: a candidate's revision is its parent's
text, the minibatch it saw and how often that pair was seen before, which no
order of calls inside a round changes (a round never repeats a pair: the dev
set holds more minibatches than a round draws).
"""
from __future__ import annotations

import hashlib
import re

import pytest

from reflectloop.core.methods.gepa import GepaSettings
from reflectloop.core.types import Example
from tests.test_gepa_parity import (KINDS, SEED_TEXT, KindsAdapter, Quiet, direct_until_spent, loop_until_spent,
                                    mutation, world)

gepa = pytest.importorskip("gepa", reason="the reference package `gepa` is not installed (pip install gepa)")
from gepa.strategies import proposal_sampling as sampling  # noqa: E402
from gepa.strategies import proposal_selection as selection  # noqa: E402

# 12 examples, minibatches of 3: four per epoch, so a round of four never sees one twice.
DEV = tuple(
    Example(f"dev/{i}", f"Item {i}: sort it as kind {KINDS[i % 4]}.", (f"{KINDS[i % 4]}{i}",)) for i in range(12)
)
BUDGET = 420
SEED = 5

CASES = {
    ("independent:4", "all"): lambda: (sampling.IndependentSampling(4), selection.AllImprovements()),
    ("pxn:2,2", "all"): lambda: (sampling.PxNSampling(2, 2), selection.AllImprovements()),
    ("independent:4", "best"): lambda: (sampling.IndependentSampling(4), selection.BestImprovement()),
    ("same-parent:3", "top:2"): lambda: (sampling.SameParentSampling(3), selection.TopKImprovements(2)),
    ("pxn:2,2", "top:1"): lambda: (sampling.PxNSampling(2, 2), selection.TopKImprovements(1)),
}


class Revisions:
    """A new instruction's revision from what the optimizer was shown: its
    parent's text and the minibatch's items, and how often that pair came before."""

    def __init__(self):
        self.seen: dict[str, int] = {}

    def of(self, prompt_text: str) -> str:
        parent = re.search(r"Handled kinds: [a-z, ]*\. \(revision [^)]*\)", prompt_text).group(0)
        items = sorted(set(re.findall(r"Item (\d+): sort it as kind", prompt_text)), key=int)
        key = hashlib.sha256(f"{parent}|{','.join(items)}".encode()).hexdigest()[:6]
        self.seen[key] = self.seen.get(key, 0) + 1
        return f"{key}.{self.seen[key]}"


# ------------------------------------------------------------------ reflectloop
def decisions(search, outcome, texts) -> list[tuple]:
    """Per proposal: (iteration, parent's pool index, minibatch, decision, candidate text)."""
    index = {c: k for k, c in enumerate(search.pool.ids)}
    gates = {(g.iteration, g.task): g for g in outcome.gates}
    dev_index = {e.id: k for k, e in enumerate(DEV)}
    rows = []
    for p in outcome.picks:
        gate = gates.get((p.iteration, p.task))
        decision = ("skip" if p.skipped else "none" if gate is None else "accept" if gate.accepted
                    else "drop" if gate.dropped else "reject")
        rows.append((p.iteration + 1, index[p.parent_id], tuple(dev_index[i] for i in p.minibatch), decision,
                     texts[gate.candidate_id] if gate else None))
    return rows


async def run_direct(strategy: str, keep: str) -> tuple:
    settings = GepaSettings(minibatch=3, iterations=3, max_metric_calls=BUDGET, sampling=strategy, selection=keep)
    ops, selection_, trace = await direct_until_spent(world(Revisions().of, DEV), settings, lambda ops, sel, out: (
        decisions(sel.search, out, {i: p.instruction for i, p in ops.prompts.items()})), SEED)
    return trace, [ops.prompts[c].instruction for c in selection_.search.pool.ids], selection_.search.metric_calls


async def run_loop(tmp_path, strategy: str, keep: str) -> tuple:
    settings = dict(seed=SEED, gepa_iterations=3, gepa_max_metric_calls=BUDGET, gepa_sampling=strategy,
                    gepa_selection=keep)
    loop, trace = await loop_until_spent(tmp_path, world(Revisions().of, DEV), settings, lambda loop, record: decisions(
        loop.selection.search, record, {i: p.instruction for i, p in loop.state.prompts.items()}))
    search = loop.selection.search
    return trace, [loop.state.prompts[c].instruction for c in search.pool.ids], search.metric_calls


# -------------------------------------------------------------------- the package
class Recorder:
    """The package's state (its trace of every iteration's tasks) and each iteration's new texts in task order."""

    def __init__(self):
        self.state = None
        self.proposed: dict[int, list[str]] = {}

    def on_iteration_start(self, event):
        self.state = event["state"]

    def on_proposal_end(self, event):
        self.proposed.setdefault(event["iteration"], []).append(event["new_instructions"]["instruction"])


def run_package(strategy: str, keep: str) -> tuple:
    revisions = Revisions()
    recorder = Recorder()
    sampler, chooser = CASES[(strategy, keep)]()
    result = gepa.optimize(
        seed_candidate={"instruction": SEED_TEXT}, trainset=list(DEV), valset=list(DEV), adapter=KindsAdapter(),
        reflection_lm=lambda prompt: f"```\n{mutation(prompt, revisions.of(prompt))}\n```",
        reflection_minibatch_size=3, max_metric_calls=BUDGET, seed=SEED, callbacks=[recorder], logger=Quiet(),
        sampling_strategy=sampler, selection_strategy=chooser,
    )
    texts = [c["instruction"] for c in result.candidates]
    dev_index = {e.id: k for k, e in enumerate(DEV)}
    trace = []
    for entry in recorder.state.full_program_trace:
        iteration = entry["i"] + 1
        added = {texts[k] for k in entry.get("new_program_indices", [])}
        proposed = iter(recorder.proposed.get(iteration, []))
        for task in entry.get("tasks", []):
            if "new_subsample_scores" not in task:
                trace.append((iteration, task["parent_idx"], tuple(task["subsample_ids"]),
                              "skip", None))
                continue
            text = next(proposed)
            improved = sum(task["new_subsample_scores"]) > sum(task["subsample_scores"])
            decision = "accept" if text in added else "drop" if improved else "reject"
            trace.append((iteration, task["parent_idx"], tuple(task["subsample_ids"]),
                          decision, text))
    return trace, texts, result.total_metric_calls


# ------------------------------------------------------------------------ tests
@pytest.mark.parametrize("strategy,keep", list(CASES))
async def test_every_proposal_of_every_round_decides_as_the_package(strategy, keep):
    ours, our_pool, our_calls = await run_direct(strategy, keep)
    theirs, their_pool, their_calls = run_package(strategy, keep)
    assert ours == theirs
    assert our_pool == their_pool  # the same candidates joined, in the same order
    assert our_calls == their_calls


@pytest.mark.parametrize("strategy,keep", [("independent:4", "all"), ("pxn:2,2", "all"), ("same-parent:3", "top:2")])
async def test_through_the_loop_with_every_card_accepted_the_rounds_are_the_same(tmp_path, strategy, keep):
    assert await run_loop(tmp_path, strategy, keep) == run_package(strategy, keep)


@pytest.mark.parametrize("strategy,keep", list(CASES))
async def test_the_scripted_world_exercises_the_rounds(strategy, keep):
    # Parity on rounds that never hold several parents, or never drop a passing candidate, would prove little.
    trace, pool, _ = await run_direct(strategy, keep)
    size = {"independent:4": 4, "pxn:2,2": 4, "same-parent:3": 3}[strategy]
    assert len(trace) % size == 0 and len(trace) >= 2 * size
    assert {"accept", "reject"} <= {row[3] for row in trace} and len(pool) >= 3
    rounds = [trace[k : k + size] for k in range(0, len(trace), size)]
    if strategy != "same-parent:3":
        assert any(len({row[1] for row in r}) > 1 for r in rounds)  # several parents in one round
    if keep != "all":
        assert "drop" in {row[3] for row in trace}
