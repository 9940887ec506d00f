"""Each method's meta-prompts get the right slots; candidates come from the tags;
malformed output is recorded and surfaced.  Scripted optimizer, real loop."""
from __future__ import annotations

import re

import pytest

from reflectloop.core.events import Note, ProposalMade
from reflectloop.core.methods.base import draw_seed
from reflectloop.core.methods.parsing import parse_tagged
from reflectloop.core.types import Decision
from tests.scripted import ScriptedReviewer
from tests.test_loop import INIT, init_answers, make_loop

INITS = init_answers(["Answer.", "Answer HALF."])


def proposals(events, kind=None):
    return [e.proposal for e in events if isinstance(e, ProposalMade) and (kind is None or e.proposal.kind == kind)]


async def test_apo_sum_pairs_each_analysis_with_its_revision():
    out = lambda text, p: f"<ANALYSIS>cause {p.sample}: numbers</ANALYSIS>\n<START>Revised {p.sample} GOOD<END>"
    loop, events, tp, op = make_loop("apo-sum", rules={INIT: INITS, "group the causes": out}, init_prompts=2, beam=1)
    await loop.run(2)
    sent = [p for p in op.prompts if "group the causes" in p]
    assert len(sent) == 2  # n=2 samples of the one combined call, no separate refine call
    assert all("Correct answer:" in p and "Model's output:" in p for p in sent)
    assert [p.text for p in proposals(events, "feedback")] == ["cause 0: numbers", "cause 1: numbers"]
    step1 = sorted(p.instruction for p in loop.state.prompts.values() if p.step == 1)
    assert step1 == ["Revised 0 GOOD", "Revised 1 GOOD"]
    assert not any("Revise the instruction slightly to address this analysis" in p for p in op.prompts)


async def test_apo_sum_edited_analysis_gets_a_fresh_revision():
    out = "<ANALYSIS>cause</ANALYSIS><START>Paired HALF<END>"
    rules = {INIT: INITS, "group the causes": out, "address this analysis": "<START>From edit GOOD<END>"}
    decide = lambda p: Decision(p.id, "edit", "EDITED analysis") if p.kind == "feedback" else Decision(p.id, "accept")
    loop, events, tp, op = make_loop("apo-sum", rules=rules, reviewer=ScriptedReviewer(decide), init_prompts=2, beam=1, per_parent=1)
    await loop.run(2)
    revise = [p for p in op.prompts if "address this analysis" in p]
    assert len(revise) == 1 and "EDITED analysis" in revise[0]
    assert [p.instruction for p in loop.state.prompts.values() if p.step == 1] == ["From edit GOOD"]


async def test_promptagent_update_sees_the_lineage():
    fb = "Example 1: step 1 wrong.\n<START>be precise about numbers<END>"
    update = "<START>Gen A GOOD<END><START>Gen B HALF<END>"
    rules = {INIT: INITS, "explain step by step why": fb, "path of former instructions": update}
    loop, events, tp, op = make_loop("promptagent", rules=rules, init_prompts=2, beam=1, steps=3)
    await loop.run(2)
    first_update = [p for p in op.prompts if "path of former instructions" in p][0]
    path = first_update.split("ending with the current one:\n")[1].split("\n\n")[0]
    assert path == '1. "Answer HALF."'  # an initial prompt has no ancestors
    assert "Example 1: step 1 wrong." in first_update and "be precise about numbers" in first_update
    # Make the HALF child the parent of the next step: its lineage has two entries.
    loop.state.beam = [p.id for p in loop.state.prompts.values() if p.instruction == "Gen B HALF"]
    await loop.run(3)
    second = [p for p in op.prompts if "path of former instructions" in p][-1]
    assert re.search(r'1\. "Answer HALF\."\n2\. "Gen B HALF"', second)


async def test_opro_evolves_every_beam_member_from_its_own_errors():
    seen = []

    def out(text, p):
        seen.append(text)
        return f"<INS>New {p.sample} {len(seen)} GOOD</INS>"

    reviewer = ScriptedReviewer()
    rules = {INIT: init_answers(["Answer.", "Answer HALF.", "Reply."]), "would score higher": out}
    loop, events, tp, op = make_loop("opro", rules=rules, reviewer=reviewer, init_prompts=3, beam=2)
    await loop.run(2)
    assert len(seen) == 4  # 2 samples for each of the 2 beam members
    traj = seen[0].split("Below are example problems")[0]
    scores = [int(s) for s in re.findall(r"score:\n(\d+)", traj)]
    assert scores == sorted(scores) and scores[-1] == 50 and len(scores) == 3
    # The problems are each member's own errors (up to 4), inputs with gold answers only.
    beam = [loop.state.prompts[i] for i in loop.state.records[0].beam]
    for parent in beam:
        wrong = {r.example_id for r in loop.state.dev[parent.id].errors}
        texts = [m[-1].content for m, params in op.requests if params.seed == draw_seed(1, f"s1/{parent.id}")]
        assert len(texts) == 2
        problems = {f"dev/{n}" for n in re.findall(r"Input:\nq(\d+)\nOutput", texts[0])}
        assert problems <= wrong and len(problems) == min(4, len(wrong))
    assert all("Model's output" not in t and t.count("Input:\n") <= 4 for t in seen)
    per_parent = {r.parent.id for r in reviewer.requests if r.kind == "candidate" and r.step == 1}
    assert per_parent == {p.id for p in beam}
    candidate_review = [r for r in reviewer.requests if r.kind == "candidate" and r.step == 1][0]
    assert "score:\n50" in candidate_review.context  # the implicit reflection the person sees
    assert not proposals(events, "feedback")


ABO_ANALYSIS = "at which step of the instruction"
ABO_REVISE = "Analysis of where it fails"


def demo_answer(text, p):
    n = re.search(r"Input:\nq(\d+)", text).group(1)
    return 'Step 1: read the number. Step 2: answer it. {"answer": "%s"}' % n


async def test_abo_one_call_per_sample_analyses_and_rewrites():
    combined = lambda t, p: f"<ANALYSIS>failed at step 2 ({p.sample})</ANALYSIS><START>1. Read. 2. Say GOOD {p.sample}.<END>"
    rules = {INIT: INITS, "Follow the instruction below strictly": demo_answer, ABO_ANALYSIS: combined}
    reviewer = ScriptedReviewer()
    loop, events, tp, op = make_loop("abo", rules=rules, reviewer=reviewer, init_prompts=2, beam=1)
    await loop.run(2)
    init = loop.state.prompts[loop.state.records[0].best_id]
    assert init.demonstration and "Step 1: read the number" in init.demonstration
    analyses = [p for p in op.prompts if ABO_ANALYSIS in p]
    assert len(analyses) == 2  # n=2 samples: two independent analyses, no separate refine call
    assert not any(ABO_REVISE in p for p in op.prompts)
    assert all(init.instruction in a and "Step 1: read the number" not in a for a in analyses)  # no demonstration
    assert analyses[0].count("## Example") == 2  # 2 errors, with the target's full output
    assert [p.text for p in proposals(events, "feedback")] == ["failed at step 2 (0)", "failed at step 2 (1)"]
    kinds = [r.kind for r in reviewer.requests if r.step == 1]
    assert kinds == ["feedback", "candidate", "demonstration", "demonstration"]
    step1 = [p for p in loop.state.prompts.values() if p.step == 1]
    assert sorted(p.instruction for p in step1) == ["1. Read. 2. Say GOOD 0.", "1. Read. 2. Say GOOD 1."]
    assert all(p.demonstration and "Step 2: answer it" in p.demonstration for p in step1)
    # Every demonstration works through the same fixed example.
    demos = [p for p in op.prompts if "Follow the instruction below strictly" in p]
    assert len({p.split("Input:\n")[1] for p in demos}) == 1


async def test_abo_edited_analysis_gets_a_fresh_instruction():
    combined = "<ANALYSIS>step 1</ANALYSIS><START>1. Paired HALF.<END>"
    rules = {INIT: INITS, "Follow the instruction below strictly": demo_answer, ABO_ANALYSIS: combined,
             ABO_REVISE: "<START>1. From edit GOOD.<END>"}
    decide = lambda p: Decision(p.id, "edit", "EDITED: step 3 fails") if p.kind == "feedback" else Decision(p.id, "accept")
    loop, events, tp, op = make_loop("abo", rules=rules, reviewer=ScriptedReviewer(decide), init_prompts=2, beam=1, per_parent=1)
    await loop.run(2)
    revise = [p for p in op.prompts if ABO_REVISE in p]
    assert len(revise) == 1 and "EDITED: step 3 fails" in revise[0]
    assert [p.instruction for p in loop.state.prompts.values() if p.step == 1] == ["1. From edit GOOD."]


async def test_abo_demonstration_can_be_rejected_and_ablation_has_none():
    rules = {
        INIT: INITS,
        "Follow the instruction below strictly": '{"answer": "wrong"}',
        ABO_ANALYSIS: "<ANALYSIS>step 1</ANALYSIS><START>1. Say GOOD.<END>",
    }
    decide = lambda p: Decision(p.id, "reject") if p.kind == "demonstration" and p.step == 1 else Decision(p.id, "accept")
    loop, events, tp, op = make_loop("abo", rules=rules, reviewer=ScriptedReviewer(decide), init_prompts=2, beam=1, per_parent=1)
    await loop.run(2)
    demos = proposals(events, "demonstration")
    assert demos and all("not the gold" in d.parse_error for d in demos)  # a wrong demo is flagged
    assert [p.demonstration for p in loop.state.prompts.values() if p.step == 1] == [None]
    assert any(isinstance(e, Note) and "demonstration rejected" in e.text for e in events)

    loop, events, tp, op = make_loop("abo-ablation", rules=rules, init_prompts=2, beam=1, per_parent=1)
    await loop.run(2)
    assert not proposals(events, "demonstration")
    assert not any("Follow the instruction below strictly" in p for p in op.prompts)


async def test_fewer_errors_than_asked_are_all_used():
    rules = {INIT: init_answers(["Answer HALF."]), "reasons why": "<START>r<END>", "improved": "<START>x<END>"}
    loop, events, tp, op = make_loop("apo", rules=rules, init_prompts=1, beam=1, dev_size=6)
    await loop.run(2)
    reflect = [p for p in op.prompts if "reasons why" in p][0]
    assert reflect.count("## Example") == 3  # only 3 of the asked 4 errors exist


@pytest.mark.parametrize(
    "raw,texts,error",
    [
        ("<START>a<END> <START> b <END>", ["a", "b"], None),
        ("no tags at all", ["no tags at all"], "no <START>"),
        ("<START>cut off at max tok", ["cut off at max tok"], None),
        ("", [""], "returned nothing"),
    ],
)
def test_parse_tagged(raw, texts, error):
    drafts = parse_tagged(raw)
    assert [d.text for d in drafts] == texts
    assert (drafts[0].parse_error is None) if error is None else (error in drafts[0].parse_error)


async def test_a_candidate_longer_than_the_targets_context_is_errored_not_wrong():
    from reflectloop.core.llm.base import ProviderError
    from tests.scripted import toy_target

    def target(text, params):
        if "LONG" in text:
            raise ProviderError("prompt of 9000 tokens exceeds the context of 2048", retryable=False)
        return toy_target(text, params)

    rules = {INIT: init_answers(["Answer."]), "reasons why": "<START>r<END>", "improved": "<START>LONG " + "x " * 50 + "<END>"}
    # Allowed to error on every example: the step goes on (by default it would stop, see test_fault_matrix).
    loop, events, tp, op = make_loop("apo", rules=rules, init_prompts=1, beam=1, per_parent=1, max_errored=1.0)
    loop.target.provider.answer = target
    await loop.run(2)
    long = next(p for p in loop.state.prompts.values() if p.instruction.startswith("LONG"))
    ev = loop.state.dev[long.id]
    assert all(r.errored and "exceeds the context" in r.errored and r.failed_in == "call" for r in ev.results)
    assert not ev.errors  # errored examples are not counted as wrong answers
    assert ev.score is None  # scored on no example: no score, never 0
    record = loop.state.records[1]
    assert record.dev_scores[long.id] is None and long.id not in record.beam  # never kept on the strength of it
    assert any(isinstance(e, Note) and "errored" in e.text and long.id in e.text for e in events)


async def test_a_cut_optimizer_output_is_flagged_on_its_proposal():
    from tests.scripted import cut

    rules = {INIT: init_answers(["Answer."]), "reasons why": "<START>r<END>",
             "improved": cut("<START>Answer GOOD.<END><START>Answer HALF and then the ans")}
    loop, events, tp, op = make_loop("apo", rules=rules, init_prompts=1, beam=1)
    await loop.run(2)
    candidates = proposals(events, "candidate")
    assert [p.truncated for p in candidates if p.step == 1] == [True, True]
    assert not any(p.truncated for p in candidates if p.step == 0) and not any(p.truncated for p in proposals(events, "feedback"))


def test_the_method_classes_are_the_one_source_of_their_facts():
    from reflectloop.core.settings.config import RunConfig
    from reflectloop.core.methods import METHODS

    for name, cls in METHODS.items():
        config = RunConfig(method=name)
        assert config.method_defaults() is cls.facts()
        assert (config.n_errors, config.n_per_parent, config.n_samples) == (cls.defaults.errors, cls.defaults.per_parent, cls.defaults.samples)
        assert cls.reflects == cls.defaults.reflects
    assert [m for m, cls in METHODS.items() if not cls.reflects] == ["ape", "opro"]
    assert [m for m, cls in METHODS.items() if cls.facts().fixes_errors] == ["ape"]


async def test_candidates_per_parent_spread_over_the_methods_samples():
    asked = []

    def refine(text, p):
        asked.append(re.search(r"write (\d+) different", text).group(1))
        return f"<START>A{p.sample} GOOD<END><START>B{p.sample} HALF<END>"

    rules = {INIT: init_answers(["Answer."]), "reasons why": "<START>r<END>", "improved": refine}
    loop, events, tp, op = make_loop("apo", rules=rules, init_prompts=1, beam=1, protocol="study", sampling="intended",
                                     per_parent=3)
    await loop.run(2)
    assert asked == ["2", "2"]  # the study's 2 samples, each asked for 2
    # The study keeps every span of every sample (Prompter/utils.py:87-112): 4, not trimmed to 3.
    assert len([p for p in loop.state.prompts.values() if p.step == 1]) == 4
    asked.clear()
    loop, events, tp, op = make_loop("apo", rules=rules, init_prompts=1, beam=1, per_parent=3, samples=2)
    await loop.run(2)
    assert asked == ["2", "2"]  # 3 spread over 2 samples, each asked for 2
    assert len([p for p in loop.state.prompts.values() if p.step == 1]) == 3  # at most per_parent
