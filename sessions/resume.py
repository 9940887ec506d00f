"""Rebuild the loop's state from a session, so it continues where it stood.

Only completed steps are loaded as state.  A half-done step — interrupted,
or stopped because an evaluation errored beyond ``--max-errored`` — is re-run
from its start: the evaluations it recorded before it stopped are not loaded
(they are of a step that is not done), its LLM answers come back from the
response cache (a failed call never entered it, so what failed is asked
again) and its recorded decisions are replayed, so the person continues at
the first undecided card.
"""
from __future__ import annotations

from reflectloop.core.step.loop import LoopState
from reflectloop.core.review import ReplayReviewer, Reviewer
from reflectloop.core.types import ProposalId
from reflectloop.sessions.decisions import current_decisions


def load_state(store) -> LoopState:
    records = sorted(store.steps(), key=lambda r: r.step)
    done = len(records)
    prompts = {i: p for i, p in store.prompts().items() if p.step < done}
    state = LoopState(prompts=prompts, records=records)
    for step, ev in store.evaluations():
        if step < done and ev.prompt_id in prompts:
            (state.dev if ev.split == "dev" else state.test)[ev.prompt_id] = ev
    state.beam = list(records[-1].beam) if records else []
    return state


def replay_reviewer(store, live: Reviewer) -> ReplayReviewer:
    human: dict[tuple[int, str, str], dict[str, list[str]]] = {}
    for p in store.proposals():
        if p.author == "human":
            groups = human.setdefault((p.step, p.parent_id, p.kind), {})
            groups.setdefault(ProposalId.parse(p.id).tag, []).append(p.text)
    # An undone decision does not stand: its card goes to the live reviewer again.
    texts = {k: [(tag, tuple(t)) for tag, t in groups.items()] for k, groups in human.items()}
    return ReplayReviewer(live, current_decisions(store), texts)
