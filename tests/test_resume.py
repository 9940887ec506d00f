"""Resuming a session mid-step: recorded decisions are replayed, LLM calls
come from the cache, and only the undecided cards are asked again."""
from __future__ import annotations

import json

import pytest

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.types import Decision
from reflectloop.sessions.storage import LOG_NAME
from reflectloop.sessions.store import SessionStore
from tests.scripted import ScriptedReviewer
from tests.test_export import injected
from reflectloop.sessions.service import open_run


class Quit(Exception):
    pass


def decision_writes(path) -> int:
    """Decision records written to the session's log, superseded ones included."""
    lines = [json.loads(line) for line in (path / LOG_NAME).read_bytes().splitlines()]
    return sum(len(line.get("put", {}).get("decisions", {})) for line in lines)


async def test_resume_continues_a_half_reviewed_step(tmp_path):
    path, cache = tmp_path / "s.session", MemoryCache()
    config = RunConfig(task="toy", method="apo", steps=2, beam=1, init_prompts=2, dev_size=6, test_size=4)

    def first_decide(p):
        if p.kind == "candidate" and p.step == 1:
            raise Quit  # the person quits with the candidate cards open
        return Decision(p.id, "edit", "EDITED " + p.text, by="human") if p.kind == "feedback" else Decision(p.id, "accept", by="human")

    inj, _ = injected(cache)
    run = open_run(config, ScriptedReviewer(first_decide, own_reflection=("mine",)), session=path, injected=inj)
    with pytest.raises(Quit):
        await run.drive()
    await run.close()
    with SessionStore.open(path, read_only=True) as store:
        decided = store.decisions()
        assert [r.step for r in store.steps()] == [0]
        assert sum(d.kind == "edit" for d in decided.values()) == 2
    written = decision_writes(path)

    inj, provider = injected(cache)
    reviewer = ScriptedReviewer()
    run = open_run(None, reviewer, session=path, injected=inj)
    assert run.resumed and run.mid_step and run.next_step == 1
    await run.drive()
    await run.close()
    # Calls made before the quit came back from the cache; the one new call is
    # the refinement of the person's reflection, which the quit cut off.
    assert provider.calls == 1 and "- mine" in provider.prompts[0]
    assert reviewer.reflections == []  # the blind reflection was already written
    assert {r.kind for r in reviewer.requests} == {"candidate"}  # feedback was not asked again
    with SessionStore.open(path, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1]
        refine_fed = [p for p in store.prompts().values() if p.step == 1]
        assert refine_fed and all(p.feedback_ids for p in refine_fed)
        human = [p for p in store.proposals() if p.author == "human"]
        assert [p.text for p in human] == ["mine"]  # not duplicated by the resume
        final = store.decisions()
    # The replayed decisions are not written again: only the new ones were, and kept their time.
    assert decision_writes(path) - written == len(final) - len(decided)
    assert all(final[i] == d for i, d in decided.items())


async def test_own_candidates_of_both_groups_of_a_parent_are_kept_apart_and_replayed(tmp_path):
    """A person adds a candidate in the review of the LLM's group and in the review of the
    group refined from their own feedback: two prompts, and a resume gives each back to its review."""
    path, cache = tmp_path / "own.session", MemoryCache()
    config = RunConfig(task="toy", method="apo", steps=2, beam=1, init_prompts=2, dev_size=6, test_size=0)

    def add(request):
        if request.kind != "candidate" or request.step != 1:
            return ()
        group = "theirs" if request.proposals[0].id.rsplit("/", 1)[-1].startswith("hf") else "llm"
        return (f"Mine, in the {group} group.",)

    inj, _ = injected(cache)
    reviewer = ScriptedReviewer(own_reflection=("mine",), add=add)
    run = open_run(config, reviewer, session=path, injected=inj)
    await run.drive()
    await run.close()
    with SessionStore.open(path, read_only=True) as store:
        own = {p.id: p.instruction for p in store.prompts().values() if p.origin == "human" and p.step == 1}
        first = store.steps()
    assert sorted(own.values()) == ["Mine, in the llm group.", "Mine, in the theirs group."]
    assert len(own) == 2  # distinct ids: neither overwrote the other

    fork = tmp_path / "again.session"  # the same step replayed from the recorded decisions
    from reflectloop.sessions.fork import fork as fork_session
    fork_session(path, 0, fork)
    with SessionStore.open(path, read_only=True) as src, SessionStore.open(fork) as dst:
        for p in src.proposals():
            if p.step == 1:
                dst.add_proposal(p)
        for pid, d in src.decisions().items():
            if pid.startswith("s1/"):
                dst.add_decision(d)
    inj, provider = injected(cache)
    silent = ScriptedReviewer(decide=lambda p: None)  # would add nothing, decide nothing
    run = open_run(None, silent, session=fork, injected=inj)
    await run.drive()
    await run.close()
    assert silent.requests == [] and provider.calls == 0
    with SessionStore.open(fork, read_only=True) as store:
        replayed = {p.id: p.instruction for p in store.prompts().values() if p.origin == "human" and p.step == 1}
        assert replayed == own
        assert [r.dev_scores for r in store.steps()] == [r.dev_scores for r in first]
