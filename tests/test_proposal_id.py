"""Proposal ids as a value: every shape the code makes reads back to the same
parts and writes the same string, so sessions and caches written before keep
working; and the one rule of what a decision keeps."""
from __future__ import annotations

import pytest

from reflectloop.core.analysis.data import reflection_round
from reflectloop.core.events import ProposalMade
from reflectloop.core.review import ReplayReviewer, ReviewRequest
from reflectloop.core.types import Decision, Prompt, Proposal, ProposalId
from reflectloop.sessions.packets import ErrorSet
from tests.scripted import ScriptedReviewer
from tests.test_gepa_loop import RULES as GEPA_RULES
from tests.test_loop import make_loop

SHAPES = {
    # the LLM's proposals: feedback, candidates, a demonstration for its candidate
    "s1/p0/feedback/2": ProposalId(1, "p0", "feedback", "", 2),
    "s0/task/candidate/0": ProposalId(0, "task", "candidate", "", 0),
    "s2/s1/p0/candidate/1/demonstration/0": ProposalId(2, "s1/p0/candidate/1", "demonstration", "", 0),
    # candidates refined from a person's feedback, and the person's own texts in either group
    "s1/p0/candidate/hf1": ProposalId(1, "p0", "candidate", "hf", 1),
    "s1/p0/feedback/h0": ProposalId(1, "p0", "feedback", "", 0, human=True),
    "s1/p0/candidate/hfh3": ProposalId(1, "p0", "candidate", "hf", 3, human=True),
    # GEPA's iterations, alone and with a person's feedback
    "s3/s2/s1/task/candidate/0/candidate/0/feedback/i12.0": ProposalId(
        3, "s2/s1/task/candidate/0/candidate/0", "feedback", "i12.", 0),
    "s1/p0/candidate/i3.hfh0": ProposalId(1, "p0", "candidate", "i3.hf", 0, human=True),
    # an annotator's own reflection on a packet's error set; an audit line; the desk's empty group
    "s1/p0/feedback/i3.h@ana.b": ProposalId(1, "p0", "feedback", "i3.", human=True, annotator="ana.b"),
    "s1/p0/feedback/h@ana": ProposalId(1, "p0", "feedback", "", human=True, annotator="ana"),
    "s2/task/candidate/line14": ProposalId(2, "task", "candidate", "line", 14),
    "s1/p0/candidate/empty2": ProposalId(1, "p0", "candidate", "empty", 2),
}


@pytest.mark.parametrize("text", list(SHAPES))
def test_every_id_shape_reads_back_to_its_parts_and_writes_the_same_string(text):
    pid = ProposalId.parse(text)
    assert pid == SHAPES[text]
    assert str(pid) == text


@pytest.mark.parametrize("text", ["", "p0", "s1/p0/feedback", "x1/p0/feedback/0", "s1/p0/review/0", "s1/p0/feedback/",
                                  "s1//feedback/0", "sx/p0/candidate/0"])
def test_what_is_not_an_id_is_refused(text):
    with pytest.raises(ValueError, match="not a proposal id"):
        ProposalId.parse(text)


def test_the_group_and_the_round():
    pid = ProposalId.parse("s1/p0/candidate/i3.hfh2")
    assert pid.group == "s1/p0/candidate/i3.hfh" and pid.round == "i3."
    assert ProposalId.parse("s1/p0/candidate/hf0").round == ""
    assert reflection_round("s1/p0/feedback/i3.h@ana") == "i3." and reflection_round("imported-7") == ""
    assert ErrorSet("s1/p0/i3.", 1, "p0", None, (), (), "i3.").own_id("ana") == "s1/p0/feedback/i3.h@ana"


async def test_the_ids_a_run_makes_read_back_to_the_proposals_parts():
    added = lambda r: ("my own",) if r.kind == "feedback" else ()  # the person's texts in both groups
    runs = {"apo": {}, "gepa": dict(rules=GEPA_RULES, gepa_iterations=3, init_prompts=2, errors=2)}
    for method, settings in runs.items():
        loop, events, _, _ = make_loop(method, reviewer=ScriptedReviewer(add=added), steps=2, **settings)
        await loop.run()
        proposals = [e.proposal for e in events if isinstance(e, ProposalMade)]
        assert proposals
        for p in proposals:
            pid = ProposalId.parse(p.id)
            assert str(pid) == p.id
            assert (pid.step, pid.parent, pid.kind, pid.human) == (
                p.step, p.for_candidate or p.parent_id, p.kind, p.author == "human")
        tags = {ProposalId.parse(p.id).tag for p in proposals}
        assert "hf" in tags if method == "apo" else {"i1.", "i1.hf"} <= tags


async def test_a_resumed_review_gets_back_the_person_s_texts_of_its_own_group():
    parent = Prompt("p0", "Answer.")
    llm = Proposal("s1/p0/candidate/hf0", 1, "candidate", "p0", "x")
    decided = {llm.id: Decision(llm.id, "accept")}
    human = {(1, "p0", "candidate"): [("", ("first group's",)), ("hf", ("second group's",))]}
    replay = ReplayReviewer(ScriptedReviewer(), decided, human)
    result = await replay.review(ReviewRequest(1, "candidate", parent, (), (llm,), True))
    assert result.added == ("second group's",)


PROPOSAL = Proposal("s1/p0/candidate/0", 1, "candidate", "p0", "Answer GOOD.")


@pytest.mark.parametrize("decision,kept", [
    (Decision(PROPOSAL.id, "accept"), "Answer GOOD."),
    (Decision(PROPOSAL.id, "edit", "Answer better."), "Answer better."),
    (Decision(PROPOSAL.id, "edit", "  "), None),  # an empty edit keeps nothing
    (Decision(PROPOSAL.id, "edit"), None),
    (Decision(PROPOSAL.id, "reject"), None),
    (Decision(PROPOSAL.id, "undo"), None),
])
def test_what_a_decision_keeps(decision, kept):
    assert decision.keeps(PROPOSAL) == kept


def test_an_accepted_blank_proposal_keeps_nothing():
    assert Decision("s1/p0/candidate/1", "accept").keeps(Proposal("s1/p0/candidate/1", 1, "candidate", "p0", " ")) is None
