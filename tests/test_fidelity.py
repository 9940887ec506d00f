"""Faithful to the study: fresh samples every step (with replays that cost
nothing), and the study's children-only beam selection.  Scripted models,
the real loop, a real TinyDB session through the service layer."""
from __future__ import annotations

import itertools

import pytest

from reflectloop.core.settings.config import from_dict
from reflectloop.core.events import Note, PhaseStarted
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.review import AutoReviewer
from reflectloop.core.types import Decision
from reflectloop.sessions.service import open_run
from tests.scripted import ScriptedReviewer, optimizer_by_rules, scripted_llm, toy_target, toy_task
from tests.test_loop import INIT, PARAPHRASE, init_answers, make_loop


def sampler():
    """A paraphraser that, like a model at temperature 1, never writes the
    same text twice: only the response cache can make two answers equal."""
    counter = itertools.count()
    return {
        INIT: init_answers(["Answer GOOD.", "Reply."]),
        PARAPHRASE: lambda text, params: f"<START>Variant {next(counter)} HALF<END>",
    }


class Interrupt(Exception):
    pass


def interrupt_at(step: int, phase: str):
    def listen(event):
        if isinstance(event, PhaseStarted) and (event.step, event.phase) == (step, phase):
            raise Interrupt(f"killed at step {step} {phase}")
    return listen


def parts(cache):
    task = toy_task(n_test=0)  # no test split: every call of a step is made before its selection
    target, tp = scripted_llm("fake:target", toy_target, role="target", cache=cache)
    optimizer, op = scripted_llm("fake:opt", optimizer_by_rules(sampler()), role="optimizer", cache=cache)
    return (task, target, optimizer), tp, op


APE5 = dict(steps=5, beam=1, init_prompts=2, per_parent=2, dev_size=6, test_size=0, seed=3)


async def test_a_surviving_ape_parent_gets_new_children_every_step_and_a_resume_replays_free(tmp_path):
    config = from_dict({"method": "ape", **APE5})
    session = tmp_path / "ape.session"
    cache = MemoryCache()
    injected, tp, op = parts(cache)
    run = open_run(config, AutoReviewer(), session=session, injected=injected, listeners=[interrupt_at(4, "select")])
    with pytest.raises(Interrupt):
        await run.drive()
    await run.close()
    assert run.next_step == 4 and op.calls == 2 + 4 * 2  # 2 initial prompts, then 2 fresh paraphrases per step

    injected, tp2, op2 = parts(cache)  # a new process: fresh models, the same response cache
    resumed = open_run(config, AutoReviewer(), session=session, injected=injected)
    assert resumed.resumed and resumed.mid_step
    await resumed.drive()
    await resumed.close()
    assert tp2.calls == 0 and op2.calls == 0  # the half-done step 4 replayed from the cache
    records = resumed.records
    assert [r.step for r in records] == [0, 1, 2, 3, 4] and records[4].calls == 0

    parent = records[0].beam[0]
    prompts = resumed.loop.state.prompts
    assert prompts[parent].instruction == "Answer GOOD." and all(r.beam == (parent,) for r in records)
    for step in range(1, 5):
        children = [p for p in prompts.values() if p.step == step]
        assert len(children) == 2 and all(c.parent_id == parent for c in children)
        assert not any("duplicate" in note for note in records[step].notes)
    assert len({p.instruction for p in prompts.values()}) == len(prompts)


async def test_a_rerun_of_the_same_steps_makes_no_calls():
    cache = MemoryCache()
    first, _, tp, op = make_loop("ape", rules=sampler(), cache=cache, **{**APE5, "test_size": 4})
    await first.run(4)
    again, _, tp2, op2 = make_loop("ape", rules=sampler(), cache=cache, **{**APE5, "test_size": 4})
    await again.run(4)
    assert op.calls > 0 and tp2.calls == 0 and op2.calls == 0
    assert [r.dev_scores for r in again.state.records] == [r.dev_scores for r in first.state.records]


def halves():
    """Initial "Answer HALF." (0.5 on dev); every paraphrase scores 0."""
    counter = itertools.count()
    return {INIT: init_answers(["Answer HALF.", "Reply."]),
            PARAPHRASE: lambda text, params: f"<START>Variant {next(counter)}<END>"}


async def test_children_selection_can_lower_the_dev_best_pool_cannot():
    children, *_ = make_loop("ape", rules=halves(), selection="children", beam=1, init_prompts=2, per_parent=2)
    await children.run(2)
    pool, *_ = make_loop("ape", rules=halves(), selection="pool", beam=1, init_prompts=2, per_parent=2)
    await pool.run(2)
    assert children.state.records[0].dev_best == pytest.approx(0.5)
    assert children.state.records[1].dev_best < children.state.records[0].dev_best
    assert children.state.prompts[children.state.records[1].best_id].step == 1  # a child, not the parent
    assert pool.state.records[1].dev_best == pytest.approx(0.5)
    # The record still scores the parents, so the curve shows what was given up.
    parent = children.state.records[0].best_id
    assert children.state.records[1].dev_scores[parent] == pytest.approx(0.5)


async def test_children_selection_keeps_the_parents_when_no_child_survives_review():
    reject = lambda p: Decision(p.id, "reject") if p.step == 1 else Decision(p.id, "accept")
    loop, events, *_ = make_loop("ape", rules=halves(), selection="children", beam=1, init_prompts=2,
                                 per_parent=2, reviewer=ScriptedReviewer(reject))
    await loop.run(2)
    assert loop.state.records[1].beam == loop.state.records[0].beam
    assert any("no child survived review: the parents are kept" in n for n in loop.state.records[1].notes)
    assert any(isinstance(e, Note) and "parents are kept" in e.text for e in events)
