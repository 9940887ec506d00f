"""Resuming a session mid-step: recorded decisions are replayed, LLM calls
come from the cache, and only the undecided cards are asked again."""
from __future__ import annotations

import json

import pytest

from core.config import RunConfig
from core.llm.cache import MemoryCache
from core.types import Decision
from sessions.storage import LOG_NAME
from sessions.store import SessionStore
from tests.scripted import ScriptedReviewer
from tests.test_export import injected
from sessions.service import open_run


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
