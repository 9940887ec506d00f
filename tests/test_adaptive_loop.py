"""Adaptive evaluation through the loop: scripted models whose accuracies are
known, a real TinyDB session, and a resume of a raced step."""
from __future__ import annotations

import json
import re

import pytest

from reflectloop.core.settings.config import ConfigError, RunConfig
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.review import AutoReviewer
from reflectloop.core.types import Params
from reflectloop.sessions.service import open_run
from reflectloop.sessions.store import SessionStore
from tests.scripted import optimizer_by_rules, scripted_llm, toy_task

DEV = 40
# Parent -> its children; each prompt "RIGHTp" is right on about p% of the dev set.
CHILDREN = {
    "Init RIGHT50.": ["A RIGHT90.", "A RIGHT20.", "A RIGHT60.", "A RIGHT15."],
    "Init RIGHT30.": ["B RIGHT80.", "B RIGHT25.", "B RIGHT5.", "B RIGHT45."],
    "Init RIGHT10.": ["C RIGHT35.", "C RIGHT12.", "C RIGHT3.", "C RIGHT28."],
}
INITIAL = ["Init RIGHT50.", "Init RIGHT30.", "Init RIGHT10."]


class Quit(Exception):
    pass


def graded_target(crash_on_test: list[bool]):
    def answer(text: str, params: Params) -> str:
        n = int(re.search(r"Input:?\nq(\d+)", text).group(1))
        if n >= 100 and crash_on_test[0]:
            raise Quit  # the run dies while testing the step's best prompt, after the race
        p = int(re.search(r"RIGHT(\d+)", text).group(1))
        return json.dumps({"answer": str(n) if (n * 37) % 100 < p else "wrong"})

    return answer


def refine(text: str, params: Params) -> str:
    parent = next(p for p in CHILDREN if p in text)
    return "".join(f"<START>{c}<END>" for c in CHILDREN[parent])


RULES = {
    "Write one clear instruction": lambda text, params: f"<START>{INITIAL[params.sample % 3]}<END>",
    "reasons why the instruction": "<START>it ignores the number<END>",
    "improved instructions": refine,
}


def config(**changes) -> RunConfig:
    base = dict(task="toy", method="apo", steps=2, beam=2, init_prompts=3, per_parent=4, dev_size=DEV,
                test_size=4, seed=3)
    return RunConfig(**{**base, **changes})


def injector(cache, crash_on_test):
    providers = {}

    def inject(cfg):
        target, providers["target"] = scripted_llm("fake:target", graded_target(crash_on_test), role="target",
                                                   cache=cache)
        optimizer, providers["optimizer"] = scripted_llm("fake:opt", optimizer_by_rules(RULES), role="optimizer",
                                                         cache=cache)
        return toy_task(n_dev=DEV), target, optimizer

    return inject, providers


async def run_session(path, cfg, cache=None, crash_on_test=None):
    inject, providers = injector(cache or MemoryCache(), crash_on_test or [False])
    run = open_run(cfg, AutoReviewer(), session=path, injected=inject)
    try:
        await run.drive()
    finally:
        await run.close()
    return providers


def scores(path):
    with SessionStore.open(path, read_only=True) as store:
        return store.steps(), {ev.prompt_id: ev for _, ev in store.evaluations(step=1) if ev.split == "dev"}, store.prompts()


@pytest.mark.parametrize("selection", ["pool", "children"])
@pytest.mark.parametrize("beam", [1, 2, 3])
async def test_adaptive_keeps_the_beam_full_evaluation_keeps_with_fewer_calls(tmp_path, selection, beam):
    full, adaptive = tmp_path / "full.session", tmp_path / "adaptive.session"
    await run_session(full, config(beam=beam, selection=selection))
    await run_session(adaptive, config(beam=beam, selection=selection, evaluation="adaptive"))
    (f0, f1), full_evs, prompts = scores(full)
    (a0, a1), adaptive_evs, _ = scores(adaptive)
    assert a0 == f0  # step 0 is scored in full either way

    # The known answer: the best children (90%, 80%, 60%) in that order.
    named = [prompts[i].instruction for i in a1.beam]
    assert named == ["A RIGHT90.", "B RIGHT80.", "A RIGHT60."][:beam] == [prompts[i].instruction for i in f1.beam]
    assert (a1.beam, a1.best_id, a1.dev_best) == (f1.beam, f1.best_id, f1.dev_best)
    # The beam's scores are full, so the curves of both runs are the same.
    assert all(not adaptive_evs[i].partial and adaptive_evs[i] == full_evs[i] for i in a1.beam)
    assert {a1.dev_scores[i] for i in a1.beam} == {f1.dev_scores[i] for i in f1.beam}

    # What the record says was saved is exactly the target calls not made.
    assert (a1.evaluation, f1.evaluation, f1.calls_saved) == ("adaptive", "full", 0)
    assert a1.calls_saved > 0 and f1.calls - a1.calls == a1.calls_saved
    dropped = [ev for i, ev in adaptive_evs.items() if i not in a1.beam and i in a1.dev_scores]
    assert dropped and all(ev.partial and len(ev.results) < DEV for ev in dropped)
    assert all(len(ev.results) == DEV and not ev.partial for ev in full_evs.values())


async def test_a_raced_step_resumed_after_a_crash_replays_with_no_call(tmp_path):
    cache = MemoryCache()
    whole = tmp_path / "whole.session"
    await run_session(whole, config(evaluation="adaptive"))
    path, crash = tmp_path / "crashed.session", [False]
    inject, providers = injector(cache, crash)
    run = open_run(config(evaluation="adaptive"), AutoReviewer(), session=path, injected=inject)
    await run.drive(1)
    crash[0] = True
    with pytest.raises(Quit):
        await run.drive()
    await run.close()
    with SessionStore.open(path, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0]
        assert any(ev.partial for _, ev in store.evaluations(step=1))  # the race had been recorded

    crash[0] = False
    providers = await run_session(path, None, cache, crash)
    # Nothing of the race ran again: the only calls are the test examples the crash cut off.
    assert providers["optimizer"].calls == 0
    assert providers["target"].calls == 4 and all("q10" in p for p in providers["target"].prompts)
    (_, resumed), _, _ = scores(path)
    (_, uninterrupted), _, _ = scores(whole)
    assert (resumed.beam, resumed.dev_scores, resumed.calls_saved) == (
        uninterrupted.beam, uninterrupted.dev_scores, uninterrupted.calls_saved)


def test_the_evaluation_setting_is_checked():
    assert RunConfig().evaluation == "full"
    with pytest.raises(ConfigError, match="'evaluation' must be one of full, adaptive"):
        config(evaluation="halving").replace()
    with pytest.raises(ConfigError, match="adaptive_z"):
        config(adaptive_z=-1.0).replace()
