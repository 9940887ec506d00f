"""What the overlap starts at a candidate's acceptance is what it reports:
an accepted duplicate starts nothing, so nothing is shown evaluating in the
background for it (the TUI's status bar counts ``EarlyScoring`` events)."""
from __future__ import annotations

from reflectloop.core.events import DecisionMade, EarlyScoring, EvaluationDone
from reflectloop.core.review import Reviewer, ReviewResult
from reflectloop.core.types import Decision, ProposalId
from tests.test_loop import INIT, REFINE, REFLECT, init_answers, make_loop

RULES = {
    INIT: init_answers(["Answer.", "Answer HALF.", "Reply."]),
    REFLECT: "<START>it ignores the number<END>",
    # "Answer HALF." repeats an initial prompt; each parent's "Answer GOOD." repeats the other's
    REFINE: "<START>Answer GOOD.<END><START>Answer HALF.<END>",
}


class CardByCard(Reviewer):
    """Accepts each card through ``request.record``, as the TUI does; then,
    for the texts in ``rejected_after``, changes its mind."""

    def __init__(self, rejected_after: tuple[str, ...] = ()):
        self.rejected_after = rejected_after

    async def reflect_first(self, request):
        return ()

    async def review(self, request):
        decisions = {}
        for p in request.proposals:
            decisions[p.id] = d = Decision(p.id, "accept", by="person")
            request.record(d)
            if p.text in self.rejected_after:
                decisions[p.id] = d = Decision(p.id, "reject", by="person")
                request.record(d)
        return ReviewResult(decisions, ())


def background(events) -> dict[str, list[bool]]:
    """Per prompt: what the overlap reported, in order."""
    out: dict[str, list[bool]] = {}
    for e in events:
        if isinstance(e, EarlyScoring):
            out.setdefault(e.prompt_id, []).append(e.started)
    return out


async def test_an_accepted_duplicate_starts_nothing_and_is_not_reported_running():
    loop, events, _, _ = make_loop(rules=RULES, reviewer=CardByCard(), steps=2, beam=2)
    await loop.run()
    step1 = [e.decision for e in events if isinstance(e, DecisionMade) and e.decision.proposal_id.startswith("s1/")]
    texts = {p.id: p.instruction for p in loop.state.prompts.values()}
    accepted = [d.proposal_id for d in step1 if d.kind == "accept" and ProposalId.parse(d.proposal_id).kind == "candidate"]
    assert len(accepted) == 4  # both parents' two candidates, each accepted
    started = {pid: flags for pid, flags in background(events).items() if pid.startswith("s1/")}
    # Only one "Answer GOOD." started: the other parent's is its twin, and "Answer HALF." an initial prompt.
    assert list(started.values()) == [[True]]
    (good,) = started
    assert texts[good] == "Answer GOOD." and ProposalId.parse(good).index == 0
    # What started is what the step's evaluation took: its result arrived, nothing was stopped.
    assert any(isinstance(e, EvaluationDone) and e.evaluation.prompt_id == good for e in events)
    # Step 0's three distinct initial prompts each started once.
    assert sorted(flags for pid, flags in background(events).items() if pid.startswith("s0/")) == [[True]] * 3


async def test_a_candidate_rejected_after_its_acceptance_is_reported_stopped():
    loop, events, _, _ = make_loop(rules=RULES, reviewer=CardByCard(rejected_after=("Answer GOOD.",)), steps=2)
    await loop.run()
    started = {pid: flags for pid, flags in background(events).items() if pid.startswith("s1/")}
    assert started and all(flags == [True, False] for flags in started.values())
    assert not any(p.step == 1 for p in loop.state.prompts.values())  # nothing was kept
