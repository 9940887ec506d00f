"""The step loop with scripted models: proposals, decisions, beam selection, cache."""
from __future__ import annotations

import pytest

from reflectloop.core.settings.config import RunConfig, from_dict
from reflectloop.core.events import DecisionMade, Note, ProposalMade
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.step.loop import Loop
from reflectloop.core.methods import make_method
from reflectloop.core.review import AutoReviewer
from reflectloop.core.types import Decision
from reflectloop.sessions.service import open_run
from reflectloop.sessions.store import SessionStore
from tests.scripted import ScriptedReviewer, optimizer_by_rules, scripted_llm, toy_target, toy_task

INIT = "Write one clear instruction"
REFLECT = "reasons why the instruction"
REFINE = "improved instructions"
PARAPHRASE = "Write a variation"


def init_answers(texts):
    """Initial prompt k is texts[k] (by the sample index)."""
    return lambda text, params: f"<START>{texts[params.sample % len(texts)]}<END>"


def loop_config(method="apo", **config) -> RunConfig:
    base = dict(method=method, steps=2, beam=2, init_prompts=3, dev_size=6, test_size=4, seed=1)
    return from_dict({**base, **config})  # flat names: a method's own settings too


def scripted_models(rules=None, cache=None):
    """The toy target and an optimizer answering by ``rules`` (by default: a run that improves)."""
    rules = rules or {
        INIT: init_answers(["Answer.", "Answer HALF.", "Reply."]),
        REFLECT: "<START>it ignores the number<END><START>too vague<END><START>no format<END>",
        REFINE: "<START>Answer GOOD.<END><START>Answer HALF again.<END>",
        PARAPHRASE: lambda text, params: f"<START>Variant {params.sample} HALF.<END>",
    }
    cache = cache if cache is not None else MemoryCache()
    target, tp = scripted_llm("fake:target", toy_target, role="target", cache=cache)
    optimizer, op = scripted_llm("fake:opt", optimizer_by_rules(rules), role="optimizer", cache=cache)
    return target, tp, optimizer, op


def make_loop(method="apo", rules=None, reviewer=None, cache=None, **config):
    cfg = loop_config(method, **config)
    target, tp, optimizer, op = scripted_models(rules, cache)
    events = []
    task = toy_task()
    loop = Loop(
        task=task, config=cfg, method=make_method(method, optimizer, task, cfg), target=target,
        optimizer=optimizer, reviewer=reviewer or AutoReviewer(), emit=events.append,
    )
    return loop, events, tp, op


async def test_step0_writes_initial_prompts_and_keeps_the_best():
    loop, events, tp, op = make_loop()
    rec = await loop.run_step()
    assert rec.step == 0
    assert sum(INIT in p for p in op.prompts) == 3
    # The rest is step 1's reflections and (the auto-reviewer keeping all) refinements, read ahead
    # during the test evaluation (``core.step.readahead``).
    assert sum(REFLECT in p for p in op.prompts) == sum(REFINE in p for p in op.prompts) == 2
    assert len(op.prompts) == 3 + 2 + 2
    # "Answer HALF." is right on the even questions 0, 2, 4 of six.
    assert rec.dev_best == pytest.approx(0.5)
    assert loop.state.prompts[rec.best_id].instruction == "Answer HALF."
    assert len(rec.beam) == 2
    assert rec.test == pytest.approx(0.5)  # test questions 100..103: 100 and 102 right


async def test_apo_step_reflects_refines_and_selects():
    reviewer = ScriptedReviewer()
    loop, events, tp, op = make_loop(reviewer=reviewer)
    await loop.run(2)
    rec = loop.state.records[-1]
    assert rec.dev_best == 1.0
    assert loop.state.prompts[rec.best_id].instruction == "Answer GOOD."
    kinds = [r.kind for r in reviewer.requests]
    # Step 0's candidates, then per parent (concurrently) its feedback before its candidates.
    assert kinds[0] == "candidate" and sorted(kinds[1:]) == ["candidate"] * 2 + ["feedback"] * 2
    for parent in {r.parent.id for r in reviewer.requests[1:]}:
        assert [r.kind for r in reviewer.requests[1:] if r.parent.id == parent] == ["feedback", "candidate"]
    feedback = [r for r in reviewer.requests if r.kind == "feedback"][0]
    assert [p.text for p in feedback.proposals] == ["it ignores the number", "too vague", "no format"]
    # The reflect call saw the parent's errors with gold answers and outputs.
    reflect_prompt = next(p for p in op.prompts if REFLECT in p)
    assert feedback.errors and all(e.input in reflect_prompt for e in feedback.errors)
    assert '{"answer": "wrong"}' in reflect_prompt
    # The refine call saw the accepted reasons.
    assert "- too vague" in next(p for p in op.prompts if REFINE in p)


async def test_edits_are_applied_and_rejects_honoured():
    def decide(p):
        if p.kind == "feedback":
            return Decision(p.id, "edit", "EDITED REASON", by="script") if p.id.endswith("/0") else Decision(p.id, "reject")
        if p.step == 1 and p.id.endswith("/1"):
            return Decision(p.id, "reject", by="script")
        if p.step == 1:
            return Decision(p.id, "edit", "Answer GOOD, edited.", by="script")
        return Decision(p.id, "accept", by="script")

    loop, events, tp, op = make_loop(reviewer=ScriptedReviewer(decide), beam=1)
    await loop.run(2)
    refine_prompt = next(p for p in op.prompts if REFINE in p)
    assert "- EDITED REASON" in refine_prompt and "too vague" not in refine_prompt
    step1 = [p for p in loop.state.prompts.values() if p.step == 1]
    assert [(p.instruction, p.origin) for p in step1] == [("Answer GOOD, edited.", "edited")]
    # The rejected candidate was never evaluated; every decision was reported.
    assert all("HALF again" not in t for t in tp.prompts)
    decided = {e.decision.proposal_id: e.decision.kind for e in events if isinstance(e, DecisionMade)}
    assert sum(k == "reject" for k in decided.values()) == 3


async def test_human_reflection_is_refined_separately():
    reviewer = ScriptedReviewer(own_reflection=("count the number carefully",))
    refine = lambda text, _: "<START>Careful GOOD.<END>" if "carefully" in text else "<START>Answer HALF again.<END>"
    rules = {INIT: init_answers(["Answer.", "Reply."]), REFLECT: "<START>too vague<END>", REFINE: refine}
    loop, events, tp, op = make_loop(rules=rules, reviewer=reviewer, beam=1, init_prompts=2)
    await loop.run(2)
    refines = [p for p in op.prompts if REFINE in p]
    assert len(refines) == 2  # one from the LLM's feedback, one from the person's
    assert any("- count the number carefully" in p and "too vague" not in p for p in refines)
    human = [e.proposal for e in events if isinstance(e, ProposalMade) and e.proposal.author == "human"]
    assert [p.text for p in human] == ["count the number carefully"]
    from_human = [p for p in loop.state.prompts.values() if p.feedback_ids == (human[0].id,)]
    assert [p.instruction for p in from_human] == ["Careful GOOD."]
    assert all("/hf" in p.id for p in from_human)


async def test_own_texts_are_stored_with_the_runs_annotator(tmp_path):
    target, _, optimizer, _ = scripted_models()
    reviewer = ScriptedReviewer(own_reflection=("count the number carefully",),
                                add=lambda r: ("My own GOOD prompt",) if r.kind == "candidate" and r.step == 1 else ())
    path = tmp_path / "ann.session"
    run = open_run(loop_config(beam=1, annotator="ann"), reviewer, session=path, injected=(toy_task(), target, optimizer))
    try:
        await run.drive()
    finally:
        await run.close()
    with SessionStore.open(path, read_only=True) as store:
        log = store.decision_log()
    added = {d.text: d.annotator for d in log if d.kind == "add"}
    assert added == {"count the number carefully": "ann", "My own GOOD prompt": "ann"}
    assert all(d.by == "human" for d in log if d.kind == "add")
    # The scripted reviewer's decisions on the LLM's proposals keep their own (empty) annotator.
    assert {d.annotator for d in log if d.kind != "add"} == {""}


async def test_a_run_freezes_what_it_holds_after_each_step_and_hands_it_back(tmp_path):
    import gc

    target, _, optimizer, _ = scripted_models()
    run = open_run(loop_config(beam=1), AutoReviewer(), session=tmp_path / "s.session",
                   injected=(toy_task(), target, optimizer))
    try:
        await run.step()
        # Left to the collector, a full collection would walk it all again at the next step's start.
        assert gc.get_freeze_count() > 0
    finally:
        await run.close()
    assert gc.get_freeze_count() == 0


async def test_reviewer_adds_own_candidate():
    add = lambda r: ("My own GOOD prompt",) if r.kind == "candidate" and r.step == 1 else ()
    loop, events, tp, op = make_loop(reviewer=ScriptedReviewer(add=add), beam=1)
    await loop.run(2)
    own = [p for p in loop.state.prompts.values() if p.origin == "human"]
    assert [p.instruction for p in own] == ["My own GOOD prompt"]
    assert loop.state.dev[own[0].id].score == 1.0


async def test_beam_selection_is_seeded_on_ties():
    same = {INIT: init_answers(["A HALF", "B HALF", "C HALF", "D HALF", "E HALF"])}
    picks = []
    for _ in range(2):
        loop, *_ = make_loop(rules=same, init_prompts=5, beam=2, steps=1)
        picks.append((await loop.run_step()).beam)
    assert picks[0] == picks[1]
    other = set()
    for seed in range(2, 12):
        loop, *_ = make_loop(rules=same, init_prompts=5, beam=2, steps=1, seed=seed)
        other.add((await loop.run_step()).beam)
    assert len(other) > 1  # ties really are broken at random, by the seed


async def test_a_rerun_from_the_cache_makes_no_calls():
    cache = MemoryCache()
    first, _, tp1, op1 = make_loop(cache=cache)
    await first.run(2)
    assert tp1.calls > 0 and op1.calls > 0
    again, _, tp2, op2 = make_loop(cache=cache)
    records = await again.run(2)
    assert tp2.calls == 0 and op2.calls == 0
    assert [r.dev_scores for r in records] == [r.dev_scores for r in first.state.records]
    assert records[-1].calls == 0


async def test_no_errors_left_keeps_the_beam():
    rules = {INIT: init_answers(["GOOD one", "GOOD two"])}
    loop, events, tp, op = make_loop(rules=rules, init_prompts=2)
    await loop.run(2)
    assert loop.state.records[1].beam == loop.state.records[0].beam
    assert any(isinstance(e, Note) and "no errors left" in e.text for e in events)
    assert not any(REFLECT in p for p in op.prompts)


async def test_unparsable_output_is_recorded_and_shown():
    rules = {
        INIT: init_answers(["Answer.", "Reply."]),
        REFLECT: "I think the prompt is fine.",
        REFINE: "",
    }
    reviewer = ScriptedReviewer()
    loop, events, tp, op = make_loop(rules=rules, reviewer=reviewer, init_prompts=2, beam=1)
    await loop.run(2)
    feedback = [r for r in reviewer.requests if r.kind == "feedback"][0].proposals
    assert feedback[0].text == "I think the prompt is fine." and "no <START>" in feedback[0].parse_error
    candidate = [r for r in reviewer.requests if r.kind == "candidate"][-1].proposals
    assert candidate[0].parse_error == "the optimizer returned nothing" and candidate[0].raw == ""
    made = [e.proposal for e in events if isinstance(e, ProposalMade)]
    assert {p.id for p in feedback} | {p.id for p in candidate} <= {p.id for p in made}


async def test_ape_paraphrases_without_errors():
    loop, events, tp, op = make_loop(method="ape", beam=1)
    await loop.run(2)
    paraphrases = [p for p in op.prompts if PARAPHRASE in p]
    assert len(paraphrases) == 5  # APE: 5 candidates per parent, one sample each
    assert not any(REFLECT in p for p in op.prompts)
    assert all("Input:" not in p for p in paraphrases)  # never sees errors
    assert len({p.instruction for p in loop.state.prompts.values() if p.step == 1}) == 5


async def test_duplicate_candidates_are_dropped_with_a_note():
    rules = {
        INIT: init_answers(["Answer.", "Reply."]),
        REFLECT: "<START>x<END>",
        REFINE: "<START>Answer.<END><START>Reply HALF<END><START>reply   half<END>",
    }
    loop, events, tp, op = make_loop(rules=rules, init_prompts=2, beam=1, per_parent=3)
    await loop.run(2)
    step1 = [p.instruction for p in loop.state.prompts.values() if p.step == 1]
    assert step1 == ["Reply HALF"]
    assert sum(isinstance(e, Note) and "duplicate" in e.text for e in events) == 2
