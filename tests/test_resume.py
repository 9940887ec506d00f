"""Resuming a session mid-step: recorded decisions are replayed, LLM calls
come from the cache, and only the undecided cards are asked again."""
from __future__ import annotations

import pytest

from core.config import RunConfig
from core.llm.cache import MemoryCache
from core.types import Decision
from sessions.store import SessionStore
from tests.scripted import ScriptedReviewer
from tests.test_export import injected
from tui.runner import resume_run, start_run


class Quit(Exception):
    pass


async def test_resume_continues_a_half_reviewed_step(tmp_path):
    path, cache = tmp_path / "s.session", MemoryCache()
    config = RunConfig(task="toy", method="apo", steps=2, beam=1, init_prompts=2, dev_size=6, test_size=4)

    def first_decide(p):
        if p.kind == "candidate" and p.step == 1:
            raise Quit  # the person quits with the candidate cards open
        return Decision(p.id, "edit", "EDITED " + p.text, by="human") if p.kind == "feedback" else Decision(p.id, "accept", by="human")

    inj, _ = injected(cache)
    run = start_run(config, ScriptedReviewer(first_decide, own_reflection=("mine",)), session=path, injected=inj)
    with pytest.raises(Quit):
        await run.loop.run(2)
    await run.close()
    with SessionStore.open(path, read_only=True) as store:
        decided = store.decisions()
        assert [r.step for r in store.steps()] == [0]
        assert sum(d.kind == "edit" for d in decided.values()) == 2

    inj, provider = injected(cache)
    reviewer = ScriptedReviewer()
    run = resume_run(path, reviewer, injected=inj)
    assert run.loop.next_step == 1
    await run.loop.run(2)
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
