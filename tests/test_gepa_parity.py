"""Parity with the reference: reflectloop's GEPA and ``gepa.optimize`` on the
same dev set, the same seed and the same deterministic scripted models make
the same decision at every iteration (parent, minibatch, skip / accept /
reject) and end with the same pool and the same best candidate — both with
nobody reviewing (``DirectOps``: the package's one call per iteration) and
through the real loop with the auto-reviewer accepting every card.

The scripted world: each dev example is of one "kind"; the target answers an
example right only when the instruction lists its kind, and otherwise says
which kind it was not told about.  The scripted optimizer adds the kinds its
prompt shows were missed, and keeps the two most recent (an instruction holds
two kinds), so candidates trade examples against each other: the Pareto front
holds several, and the gate sees improvements, ties and losses.
"""
from __future__ import annotations

import json
import re

import pytest

from reflectloop.core.settings.config import RunConfig, from_dict
from reflectloop.core.step.loop import Loop
from reflectloop.core.methods import make_method
from reflectloop.core.methods.gepa import GEPA, GepaSettings, ParetoSelection, exact_match_feedback
from tests.support.gepa_direct import DirectOps
from reflectloop.core.review import AutoReviewer
from reflectloop.core.evaluation.prompting import target_messages
from reflectloop.core.evaluation.scoring import score_output
from reflectloop.core.metrics.task import EXACT_MATCH
from reflectloop.core.types import Example, ExampleResult, Params, Prompt, Task
from tests.scripted import optimizer_by_rules, scripted_llm

gepa = pytest.importorskip("gepa", reason="the reference package `gepa` is not installed (pip install gepa)")
from gepa.core.adapter import EvaluationBatch  # noqa: E402

KINDS = "abcd"
CAPACITY = 2
SEED_TEXT = "Sort each item. Handled kinds: a. (revision 0)"
DEV = tuple(
    Example(f"dev/{i}", f"Item {i}: sort it as kind {KINDS[i % 4]}.", (f"{KINDS[i % 4]}{i}",)) for i in range(8)
)
BUDGET = 220
SEED = 11


# ---------------------------------------------------------- the scripted models
def target_reply(prompt_text: str) -> str:
    handled = re.search(r"Handled kinds: ([a-z, ]*)\.", prompt_text).group(1)
    number, kind = re.search(r"Input:\nItem (\d+): sort it as kind (\w)\.", prompt_text).groups()
    if kind in handled.split(", "):
        return json.dumps({"answer": f"{kind}{number}"})
    return f"I was not told how to handle kind {kind}.\n" + json.dumps({"answer": "unknown"})


def mutation(prompt_text: str, revision: int) -> str:
    """The new instruction: the parent's kinds plus the missed ones, the last two kept."""
    kinds = re.search(r"Handled kinds: ([a-z, ]*)\.", prompt_text).group(1).split(", ")
    for missed in re.findall(r"not told how to handle kind (\w)", prompt_text):
        if missed not in kinds:
            kinds.append(missed)
    return f"Sort each item. Handled kinds: {', '.join(kinds[-CAPACITY:])}. (revision {revision})"


class Revisions:
    """Numbers each new instruction, so no two candidates are the same text."""

    def __init__(self):
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


# ------------------------------------------------------------------ reflectloop
def world(revision=None, dev=DEV):
    """The task and the scripted models; ``revision(prompt)`` numbers a new
    instruction from the optimizer's prompt (default: in call order)."""
    if revision is None:
        counter = Revisions()
        revision = lambda text: counter.next()  # noqa: E731
    rules = {
        "Write one improved instruction": lambda text, p: f"<START>{mutation(text, revision(text))}<END>",
        "Write your analysis": "<START>Some kinds are not handled by the instruction.<END>",
    }
    target, _ = scripted_llm("fake:target", lambda text, p: target_reply(text), role="target")
    optimizer, _ = scripted_llm("fake:optimizer", optimizer_by_rules(rules), role="optimizer")
    return Task("kinds", "sort items by kind", ini=(), dev=dev, test=(), scorer=EXACT_MATCH), target, optimizer


async def run_reflectloop() -> tuple[list[tuple], list[str], str, int]:
    settings = GepaSettings(minibatch=3, iterations=4, max_metric_calls=BUDGET)
    ops, selection, trace = await direct_until_spent(world(), settings, lambda ops, sel, out: decisions(sel, out))
    pool = selection.search.pool
    texts = [ops.prompts[c].instruction for c in pool.ids]
    return trace, texts, ops.prompts[pool.best()].instruction, selection.search.metric_calls


async def direct_until_spent(parts, settings: GepaSettings, decisions,
                             seed: int = SEED) -> tuple[DirectOps, ParetoSelection, list]:
    """GEPA from the seed text without review (``DirectOps``), step after step
    until its budget is spent, each step restarted from its saved state as a
    resumed session would be; each step's ``decisions(ops, selection, outcome)``."""
    task, target, optimizer = parts
    method = GEPA(optimizer, task, RunConfig(method="apo", seed=seed), settings)
    selection = method.selection()
    ops = DirectOps(method, target, Params(temperature=0.0, max_tokens=64))
    await ops.start(selection, [Prompt("s0/task/candidate/0", SEED_TEXT)])
    trace: list[tuple] = []
    step = 1
    while not selection.search.spent:
        outcome = await ops.run_step(selection, step)
        trace += decisions(ops, selection, outcome)
        saved = json.loads(json.dumps(selection.to_dict()))
        selection = ParetoSelection([e.id for e in task.dev], settings, seed)
        selection.restore(saved)
        step += 1
    return ops, selection, trace


def decisions(selection, outcome) -> list[tuple]:
    index = {c: k for k, c in enumerate(selection.search.pool.ids)}
    verdicts = {g.iteration: "accept" if g.accepted else "reject" for g in outcome.gates}
    dev_index = {e.id: k for k, e in enumerate(DEV)}
    return [
        (p.iteration + 1, index[p.parent_id], tuple(dev_index[i] for i in p.minibatch),
         "skip" if p.skipped else verdicts.get(p.iteration, "none"))
        for p in outcome.picks
    ]


async def run_loop(tmp_path) -> tuple[list[tuple], list[str], str, int]:
    """The same search through ``core.step.loop``: every reflection and candidate a card, auto-accepted."""
    loop, trace = await loop_until_spent(tmp_path, world(), dict(seed=SEED, gepa_iterations=4,
                                                                 gepa_max_metric_calls=BUDGET),
                                         lambda loop, record: decisions(loop.selection, record))
    pool = loop.selection.search.pool
    texts = [loop.state.prompts[c].instruction for c in pool.ids]
    return trace, texts, loop.state.prompts[pool.best()].instruction, loop.selection.search.metric_calls


async def loop_until_spent(tmp_path, parts, settings: dict, decisions) -> tuple[Loop, list[tuple]]:
    """GEPA from the seed text through the real loop, the auto-reviewer accepting every card,
    step after step until its budget is spent; each step's ``decisions(loop, record)``."""
    task, target, optimizer = parts
    given = tmp_path / "seed.json"
    given.write_text(json.dumps([SEED_TEXT]))
    config = from_dict(dict(method="gepa", errors=3, initial_prompts=str(given), init_prompts=1, steps=100,
                            test_size=0, **settings))
    loop = Loop(task=task, config=config, method=make_method("gepa", optimizer, task, config), target=target,
                optimizer=optimizer, reviewer=AutoReviewer())
    await loop.run_step()
    trace: list[tuple] = []
    while not loop.selection.search.spent:
        trace += decisions(loop, await loop.run_step())
    return loop, trace


# -------------------------------------------------------------------- the package
class KindsAdapter:
    """The same target and scoring as reflectloop's, behind the package's adapter protocol."""

    propose_new_texts = None

    def evaluate(self, batch, candidate, capture_traces=False):
        outputs, scores, traces = [], [], []
        for ex in batch:
            text = target_reply(target_messages(Prompt("p", candidate["instruction"]), ex)[-1].content)
            answer, correct, followed = score_output(text, ex.targets)
            result = ExampleResult(ex.id, text, answer, correct, followed)
            outputs.append(text)
            scores.append(1.0 if correct else 0.0)
            feedback = exact_match_feedback(result, ex.targets)
            traces.append({"Inputs": ex.input, "Generated Outputs": text, "Feedback": feedback})
        return EvaluationBatch(outputs, scores, traces if capture_traces else None)

    def make_reflective_dataset(self, candidate, eval_batch, components_to_update):
        return {name: list(eval_batch.trajectories) for name in components_to_update}


class Recorder:
    def __init__(self):
        self.trace: dict[int, list] = {}

    def _at(self, event) -> list:
        return self.trace.setdefault(event["iteration"], [None, None, None])

    def on_candidate_selected(self, event):
        self._at(event)[0] = event["candidate_idx"]

    def on_minibatch_sampled(self, event):
        self._at(event)[1] = tuple(event["minibatch_ids"])

    def on_evaluation_skipped(self, event):
        self._at(event)[2] = "skip"

    def on_candidate_accepted(self, event):
        self._at(event)[2] = "accept"

    def on_candidate_rejected(self, event):
        self._at(event)[2] = "reject"


class Quiet:
    def log(self, message: str) -> None:
        pass


def run_package() -> tuple[list[tuple], list[str], str, int]:
    revisions = Revisions()
    recorder = Recorder()
    result = gepa.optimize(
        seed_candidate={"instruction": SEED_TEXT},
        trainset=list(DEV),
        valset=list(DEV),
        adapter=KindsAdapter(),
        reflection_lm=lambda prompt: f"```\n{mutation(prompt, revisions.next())}\n```",
        reflection_minibatch_size=3,
        max_metric_calls=BUDGET,
        seed=SEED,
        callbacks=[recorder],
        logger=Quiet(),
    )
    trace = [(i, *row) for i, row in sorted(recorder.trace.items())]
    texts = [c["instruction"] for c in result.candidates]
    return trace, texts, result.best_candidate["instruction"], result.total_metric_calls


# ------------------------------------------------------------------------ tests
async def test_the_same_decisions_at_every_iteration_and_the_same_best_candidate():
    ours, our_texts, our_best, our_calls = await run_reflectloop()
    theirs, their_texts, their_best, their_calls = run_package()
    assert ours == theirs
    assert our_texts == their_texts
    assert our_best == their_best
    assert our_calls == their_calls


async def test_through_the_loop_with_every_card_accepted_the_decisions_are_the_same(tmp_path):
    assert await run_loop(tmp_path) == run_package()


async def test_the_scripted_world_exercises_every_kind_of_decision():
    # Parity on a run that never rejects or never skips would prove little.
    ours, texts, best, _ = await run_reflectloop()
    kinds = {d[-1] for d in ours}
    assert {"accept", "reject", "skip"} <= kinds
    assert len(texts) >= 3 and best != SEED_TEXT
    assert len({d[1] for d in ours}) >= 2  # more than one parent was drawn from the front
