"""assign -> two annotators -> merge -> agreement, on real session files."""
from __future__ import annotations

import math

import pytest

from reflectloop.core.analysis.text import TfIdfSimilarity
from reflectloop.core.types import Decision, ErrorCase, Evaluation, ExampleResult, Prompt, Proposal
from reflectloop.sessions.decisions import decision_log
from reflectloop.sessions.packets import BlindError, PacketError, PacketReview, assign, merge, merged_agreement
from reflectloop.sessions.store import SessionStore

ERR = (ErrorCase("e1", "Take 2 steps forward, 2 back. Home?", ("Yes",), '{"answer": "No"}', "No"),)


def make_source(path):
    """Step 1 of an APO run: three feedback cards and one candidate on parent p0,
    all accepted by the auto-reviewer (which the packets must not carry)."""
    with SessionStore.create(path, {"task": "gen:navigate", "method": "apo"}) as s:
        s.add_prompt(Prompt("p0", "Answer the question."))
        s.add_evaluation(0, Evaluation("p0", "dev", (ExampleResult("e1", "No", "No", False, True),)))
        texts = ["The prompt ignores backward steps.", "Count net displacement.", "Be more careful."]
        for k, text in enumerate(texts):
            s.add_proposal(Proposal(f"s1/p0/feedback/{k}", 1, "feedback", "p0", text, ERR))
        s.add_proposal(Proposal("s1/p0/candidate/0", 1, "candidate", "p0", "Add up steps, signed.", ERR))
        for p in s.proposals():
            s.add_decision(Decision(p.id, "accept", by="auto"))
        s.add_proposal(Proposal("s1/p0/feedback/h0", 1, "feedback", "p0", "the source person's text", ERR,
                                author="human"))
    return path


def test_packets_are_blind_and_carry_no_source_decisions(tmp_path):
    ann, bob = assign(make_source(tmp_path / "run.session"), ["ann", "bob"], tmp_path / "packets")
    assert ann.name == "run-ann.packet" and bob.name == "run-bob.packet"
    with PacketReview.open(ann) as review:
        assert review.annotator == "ann"
        assert decision_log(review.store) == []
        assert all(p.author == "llm" for p in review.store.proposals())
        (es,) = review.error_sets
        with pytest.raises(BlindError):
            review.visible(es)
        with pytest.raises(BlindError):
            review.decide("s1/p0/feedback/0", "accept")
        assert decision_log(review.store) == []  # the refused decision left nothing
        review.reflect(es, "Backward steps are not subtracted.")
        assert len(review.visible(es)) == 4
        assert review.remaining() == 4


def test_assign_refuses_what_it_cannot_do(tmp_path):
    source = make_source(tmp_path / "run.session")
    with pytest.raises(PacketError, match="distinct"):
        assign(source, ["ann", "ann"], tmp_path / "p")
    with pytest.raises(ValueError, match="letters, digits"):
        assign(source, ["ann", "b,ob"], tmp_path / "p")
    assign(source, ["ann"], tmp_path / "p")
    with pytest.raises(PacketError, match="not overwritten"):
        assign(source, ["ann"], tmp_path / "p")


def test_undo_supersedes_and_keeps_history(tmp_path):
    (ann,) = assign(make_source(tmp_path / "run.session"), ["ann"], tmp_path / "p")
    with PacketReview.open(ann) as review:
        review.reflect(review.error_sets[0], "mine")
        review.decide("s1/p0/feedback/0", "reject", labels=("wrong",), rationale="not what happened")
        review.undo("s1/p0/feedback/0")
        assert "s1/p0/feedback/0" not in review.decisions()
        with pytest.raises(PacketError, match="nothing to undo"):
            review.undo("s1/p0/feedback/0")
        review.decide("s1/p0/feedback/0", "accept", labels=("grounded",))
        assert review.decisions()["s1/p0/feedback/0"].kind == "accept"
        kinds = [d.kind for d in decision_log(review.store) if d.proposal_id == "s1/p0/feedback/0"]
        assert kinds == ["reject", "undo", "accept"]
        with pytest.raises(ValueError, match="not in rubric"):
            review.decide("s1/p0/candidate/0", "accept", labels=("grounded",))


def annotate(path, reflection, decisions):
    with PacketReview.open(path) as review:
        review.reflect(review.error_sets[0], reflection)
        for pid, (kind, labels) in decisions.items():
            review.decide(pid, kind, labels=labels)


def test_assign_two_annotators_merge_and_agreement(tmp_path):
    ann, bob = assign(make_source(tmp_path / "run.session"), ["ann", "bob"], tmp_path / "p")
    fb = [f"s1/p0/feedback/{k}" for k in range(3)]
    # ann changes her mind on fb[2] (reject -> undo -> accept): only "accept" counts.
    annotate(ann, "backward steps are not subtracted from the count", {
        fb[0]: ("accept", ("grounded", "actionable")), fb[1]: ("accept", ("actionable",)),
        fb[2]: ("reject", ("generic",)), "s1/p0/candidate/0": ("accept", ("follows_feedback",))})
    with PacketReview.open(ann) as review:
        review.undo(fb[2])
        review.decide(fb[2], "accept", labels=("generic",))
    annotate(bob, "steps back are not subtracted", {
        fb[0]: ("accept", ("grounded",)), fb[1]: ("reject", ("actionable",)),
        fb[2]: ("reject", ("generic",)), "s1/p0/candidate/0": ("accept", ())})
    merged = merge([ann, bob], tmp_path / "merged.session")
    with SessionStore.open(merged, read_only=True) as store:
        assert len(decision_log(store)) == 2 + 6 + 4  # two reflections, ann: 4 + undo + redecision, bob: 4
        result = merged_agreement(store, TfIdfSimilarity())
    by = {r.measure: r for r in result.rows}
    # Decisions on 4 cards: ann A A A A, bob A R R A.
    #   p_o = 2/4; p_e = (4*2 + 0*2)/16 = 1/2 -> kappa = 0 / (1/2) = 0.
    assert by["decision"].cohen == pytest.approx(0.0)
    # "grounded" on the 3 feedback cards: ann Y N N, bob Y N N: perfect.
    #   p_o = 1, p_e = (1*1 + 2*2)/9 = 5/9 -> kappa = 1.
    assert by["label:grounded"].cohen == pytest.approx(1.0)
    # "actionable": ann Y Y N, bob N Y N.  p_o = 2/3.  ann: Y2 N1, bob: Y1 N2.
    #   p_e = (2*1 + 1*2)/9 = 4/9 -> kappa = (2/3 - 4/9)/(5/9) = 2/5.
    # alpha: o_YY = 2, o_NN = 2, o_YN = o_NY = 1; n_Y = 3, n_N = 3, n = 6.
    #   alpha = 1 - 5 * 2 / (3*3 + 3*3) = 1 - 10/18 = 4/9.
    assert by["label:actionable"].cohen == pytest.approx(0.4)
    assert by["label:actionable"].alpha == pytest.approx(4 / 9)
    # "follows_feedback" on the one candidate: ann Y, bob N.  p_o = 0;
    #   p_e = P(ann Y)P(bob Y) + P(ann N)P(bob N) = 1*0 + 0*1 = 0 -> kappa = 0.
    assert by["label:follows_feedback"].cohen == pytest.approx(0.0)
    # "wrong": nobody ticked it on any feedback card: chance agreement is total, undefined.
    assert math.isnan(by["label:wrong"].cohen)
    assert result.annotators == ["ann", "bob"]
    (row,) = result.reflections.per_set
    assert row["humans"] == 2 and row["human_human"] > row["llm_human"]


def test_merge_refuses_mixed_or_repeated_packets(tmp_path):
    (ann,) = assign(make_source(tmp_path / "a.session"), ["ann"], tmp_path / "p")
    other = tmp_path / "b.session"
    make_source(other)
    with SessionStore.open(other) as s:
        s.add_proposal(Proposal("s1/p0/feedback/9", 1, "feedback", "p0", "extra", ERR))
    (bob,) = assign(other, ["bob"], tmp_path / "p")
    with pytest.raises(PacketError, match="not assigned from the same session"):
        merge([ann, bob], tmp_path / "m.session")
    with pytest.raises(PacketError, match="same annotator"):
        merge([ann, ann], tmp_path / "m2.session")
    assert not (tmp_path / "m.session").exists()
    with pytest.raises(PacketError, match="not an annotation packet"):
        merge([ann, other], tmp_path / "m3.session")


def test_each_gepa_iteration_is_an_error_set_of_its_own(tmp_path):
    """GEPA reflects on one parent several times a step: a packet must not merge its iterations."""
    path = tmp_path / "gepa.session"
    with SessionStore.create(path, {"task": "gen:navigate", "method": "gepa"}) as s:
        s.add_prompt(Prompt("p0", "Answer the question."))
        for it in (0, 1):
            s.add_proposal(Proposal(f"s1/p0/feedback/i{it}.0", 1, "feedback", "p0", f"reason {it}", ERR))
            s.add_proposal(Proposal(f"s1/p0/candidate/i{it}.0", 1, "candidate", "p0", f"prompt {it}", ERR))
    (packet,) = assign(path, ["ann.lee"], tmp_path / "packets")
    with PacketReview.open(packet) as review:
        first, second = review.error_sets
        assert (first.key, second.key) == ("s1/p0/i0.", "s1/p0/i1.")
        assert [p.id for p in first.proposals] == ["s1/p0/feedback/i0.0", "s1/p0/candidate/i0.0"]
        review.reflect(first, "mine on iteration 0")
        assert review.reflection(first) == "mine on iteration 0" and review.reflection(second) is None
        with pytest.raises(BlindError):
            review.visible(second)
