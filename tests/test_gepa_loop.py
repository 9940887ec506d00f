"""GEPA through the real loop and a real TinyDB session: every reflection and
candidate is a card, the gate and the front are in the step's record, and a
session stopped mid-step or between steps continues exactly where it stood,
replaying what was done for 0 calls."""
from __future__ import annotations

import asyncio

import pytest

from reflectloop.core.settings.config import from_dict
from reflectloop.core.events import FrontUpdated, GateDecided, IterationStarted
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.review import AutoReviewer
from reflectloop.core.types import Decision, StepRecord
from reflectloop.sessions import codec
from reflectloop.sessions.service import open_run
from reflectloop.sessions.store import SessionStore
from tests.scripted import ScriptedProvider, ScriptedReviewer, optimizer_by_rules, scripted_llm, toy_target, toy_task
from tests.support.fake_answers import unit
from tests.test_fidelity import Interrupt as Stop
from tests.test_fidelity import interrupt_at as stop_at

CONFIG = from_dict(dict(task="toy", method="gepa", steps=3, init_prompts=2, errors=2, gepa_iterations=3,
                        dev_size=6, test_size=0, seed=1))


def candidate(text: str, params) -> str:
    # Some draws write a prompt right everywhere, the others one that is always wrong,
    # so the gate both accepts and rejects.  The text depends on the draw only: a rerun asks the same.
    good = params.seed % 2 == 0
    return f"<START>{'Answer GOOD' if good else 'Reply'} v{params.seed}.<END>"


RULES = {
    "Write one clear instruction": lambda text, p: ["<START>Answer.<END>", "<START>Answer HALF.<END>"][p.sample % 2],
    "Write your analysis": "<START>It should say GOOD.<END>",
    "Write one improved instruction": candidate,
}


def parts(cache):
    target, tp = scripted_llm("fake:target", toy_target, role="target", cache=cache)
    optimizer, op = scripted_llm("fake:opt", optimizer_by_rules(RULES), role="optimizer", cache=cache)
    return (toy_task(n_test=0), target, optimizer), tp, op


async def run_through(path, reviewer, cache=None, listeners=(), config=CONFIG):
    injected, tp, op = parts(cache if cache is not None else MemoryCache())
    run = open_run(config, reviewer, session=path, injected=injected, listeners=listeners)
    try:
        await run.drive()
    finally:
        await run.close()
    return run, tp, op


def what_it_did(record: StepRecord) -> tuple:
    """A record without what it cost (a replay costs nothing)."""
    return (record.step, record.beam, record.best_id, record.dev_scores, record.notes, record.picks,
            record.gates, record.front, record.method_state)


async def test_every_reflection_and_candidate_is_a_card_and_the_gate_is_recorded(tmp_path):
    events = []
    reviewer = ScriptedReviewer()
    run, *_ = await run_through(tmp_path / "g.session", reviewer, listeners=[events.append])
    with SessionStore.open(tmp_path / "g.session", read_only=True) as store:
        records = store.steps()
        proposals = {p.id: p for p in store.proposals()}
        decided = store.decisions()
        dev = {ev.prompt_id: ev for _, ev in store.evaluations() if ev.split == "dev"}
        prompts = store.prompts()
    assert [r.step for r in records] == [0, 1, 2]
    gates = [g for r in records for g in r.gates]
    assert {g.accepted for g in gates} == {True, False}  # the scripted world exercises both
    for r in records[1:]:
        assert len(r.picks) == CONFIG.to_dict()["gepa_iterations"]
        assert set(r.beam) == set(r.front) and r.best_id in dev
        assert r.method_state["iteration"] == r.picks[-1].iteration
    for g in gates:
        # A candidate is scored on the whole dev set exactly when the gate let it through.
        assert (g.candidate_id in dev) == g.accepted
        assert g.candidate_id in prompts and prompts[g.candidate_id].parent_id == g.parent_id
    # Each iteration that was not skipped asked for a feedback card, then a candidate card.
    tried = [p for r in records[1:] for p in r.picks if not p.skipped]
    requests = [(r.kind, r.step) for r in reviewer.requests if r.step > 0]
    assert requests == [(kind, s) for s in (1, 2) for p in tried if p in records[s].picks
                        for kind in ("feedback", "candidate")]
    for r in reviewer.requests[1:]:
        # The card's error set is the minibatch's failures: examples of the minibatch, each answered wrong.
        pick = next(p for p in records[r.step].picks if f"/i{p.iteration}." in r.proposals[0].id)
        assert r.parent.id == pick.parent_id and r.errors
        assert {e.example_id for e in r.errors} <= set(pick.examples)
        assert all(dev[pick.parent_id].results[[x.example_id for x in dev[pick.parent_id].results].index(e.example_id)]
                   .correct is False for e in r.errors)
    assert all(i in decided for i in proposals)  # every card was decided through the seam
    # The events the transcript shows: each pick, each gate, each change of the front.
    assert [e.pick for e in events if isinstance(e, IterationStarted)] == [p for r in records for p in r.picks]
    assert [e.gate for e in events if isinstance(e, GateDecided)] == gates
    assert sum(isinstance(e, FrontUpdated) for e in events) == sum(g.accepted for g in gates)


async def test_a_persons_own_candidate_is_gated_against_the_parent_like_the_llms(tmp_path):
    def add(r):  # one of the person's own per iteration, each a new text
        return (f"Answer GOOD, mine {r.proposals[0].id.rsplit('/', 1)[-1]}",) if r.kind == "candidate" and r.step else ()
    def reject_llm(p):
        return Decision(p.id, "reject" if p.kind == "candidate" and p.step > 0 else "accept", by="human")

    run, *_ = await run_through(tmp_path / "h.session", ScriptedReviewer(reject_llm, add=add),
                                config=CONFIG.replace(steps=2))
    record = run.records[1]
    own = [g for g in record.gates if "/candidate/i" in g.candidate_id and ".h0" in g.candidate_id]
    assert own and len(own) == len(record.gates)  # only the person's candidates reached the gate
    assert all(run.loop.state.prompts[g.candidate_id].origin == "human" for g in own)
    # The ids of several iterations on one parent never collide.
    assert len({g.candidate_id for g in own}) == len(own)
    accepted = {g.candidate_id for g in own if g.accepted}
    assert accepted and record.best_id in accepted  # right everywhere: it beat its parent, and is the best


async def test_a_session_stopped_mid_step_replays_it_for_nothing_and_ends_as_one_never_stopped(tmp_path):
    reference, *_ = await run_through(tmp_path / "ref.session", AutoReviewer())
    cache = MemoryCache()
    path = tmp_path / "stopped.session"
    with pytest.raises(Stop):
        await run_through(path, AutoReviewer(), cache, listeners=[stop_at(2, "select")])
    injected, tp, op = parts(cache)  # a new process: fresh models, the same response cache
    live = ScriptedReviewer()
    run = open_run(None, live, session=path, injected=injected)
    assert run.resumed and run.mid_step and run.next_step == 2
    await run.drive()
    await run.close()
    assert tp.calls == 0 and op.calls == 0 and run.records[2].calls == 0
    assert live.requests == []  # every card of the step was decided before the stop, and replayed
    assert [what_it_did(r) for r in run.records] == [what_it_did(r) for r in reference.records]


async def test_a_session_stopped_at_an_open_card_continues_at_that_card(tmp_path):
    reference, *_ = await run_through(tmp_path / "ref.session", AutoReviewer())
    seen = []

    def quit_at_third_card_of_step_2(p):
        if p.step == 2:
            seen.append(p.id)
            if len(seen) == 3:
                raise Stop("the person quits with a card open")
        return Decision(p.id, "accept", by="human")

    cache = MemoryCache()
    path = tmp_path / "half.session"
    with pytest.raises(Stop):
        await run_through(path, ScriptedReviewer(quit_at_third_card_of_step_2), cache)
    live = ScriptedReviewer()
    run, *_ = await run_through(path, live, cache)
    asked = [p.id for r in live.requests for p in r.proposals]
    assert asked and asked[0] == seen[-1]  # the open card is asked again, the decided ones are not
    assert not set(asked) & set(seen[:-1])
    assert [what_it_did(r) for r in run.records] == [what_it_did(r) for r in reference.records]


async def test_a_session_continued_between_steps_goes_on_from_its_saved_search(tmp_path):
    reference, *_ = await run_through(tmp_path / "ref.session", AutoReviewer())
    path, cache = tmp_path / "two.session", MemoryCache()
    await run_through(path, AutoReviewer(), cache, config=CONFIG.replace(steps=2))
    injected, tp, op = parts(cache)
    run = open_run(None, AutoReviewer(), session=path, overrides={"steps": 3}, injected=injected)
    assert run.resumed and not run.mid_step and run.next_step == 2
    await run.drive()
    await run.close()
    assert [what_it_did(r) for r in run.records] == [what_it_did(r) for r in reference.records]


def test_a_step_record_written_before_gepa_decodes_with_empty_selection_fields():
    old = {"step": 1, "beam": ["a"], "dev_scores": {"a": 0.5}, "best_id": "a", "dev_best": 0.5, "test": None,
           "tokens": 10, "calls": 2, "cost": 0.0, "notes": []}
    record = codec.decode(StepRecord, old)
    assert (record.picks, record.gates, record.front, record.method_state) == ((), (), {}, {})
    again = codec.decode(StepRecord, codec.encode(StepRecord(**{**old, "beam": ("a",), "notes": ()})))
    assert again == record


def test_gepa_settings_are_checked_with_their_reason():
    from reflectloop.core.settings.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match="'gepa' reflects on a minibatch"):
        from_dict({"method": "gepa", "errors": 0})
    with pytest.raises(ConfigError, match="gepa_iterations"):
        from_dict({"method": "gepa", "gepa_iterations": 0})
    with pytest.raises(ConfigError, match="gepa_max_metric_calls"):
        from_dict({"method": "gepa", "gepa_max_metric_calls": 0})


def test_a_methods_own_settings_keep_their_flat_names_in_a_stored_config(tmp_path):
    """A session stores ``gepa_iterations`` and ``opro_history`` as before, and one
    written before the settings moved to their methods opens and resumes with them."""
    from reflectloop.core.methods.gepa import GepaOptions
    from reflectloop.core.methods.opro import OproOptions

    stored = {**CONFIG.to_dict(), "gepa_iterations": 4, "gepa_max_metric_calls": 30, "opro_history": 7}
    config = from_dict(stored)
    assert config.options_of(GepaOptions) == GepaOptions(iterations=4, max_metric_calls=30)
    assert config.options_of(OproOptions).history == 7
    assert config.to_dict() == stored
    assert config.replace(gepa_iterations=2).options_of(GepaOptions).iterations == 2
    path = tmp_path / "old.toml"
    path.write_text("[run]\nmethod = 'gepa'\ngepa_iterations = 5\n")
    from reflectloop.core.settings.config import load_toml

    assert from_dict(load_toml(path)).options_of(GepaOptions).iterations == 5


# ----------------------------------------------------- rounds of several proposals
ROUNDS = CONFIG.replace(gepa_sampling="pxn:2,2", gepa_iterations=2)


class Late(ScriptedProvider):
    """Answers after a delay drawn from the request, so a round's calls come back in another order."""

    async def complete(self, messages, params):
        await asyncio.sleep(0.02 * unit("late", messages[-1].content, params.seed, params.sample))
        return await super().complete(messages, params)


async def test_a_rounds_record_does_not_depend_on_the_order_its_calls_come_back_in(tmp_path):
    reference, *_ = await run_through(tmp_path / "ref.session", AutoReviewer(), config=ROUNDS)
    (task, target, optimizer), *_ = parts(MemoryCache())
    for llm in (target, optimizer):
        llm.provider = Late(llm.provider.spec, llm.provider.answer)
    run = open_run(ROUNDS, AutoReviewer(), session=tmp_path / "late.session", injected=(task, target, optimizer))
    try:
        await run.drive()
    finally:
        await run.close()
    assert target.provider.calls and optimizer.provider.calls  # the late ones answered
    assert [what_it_did(r) for r in run.records] == [what_it_did(r) for r in reference.records]
    picks = [p for r in reference.records for p in r.picks]
    assert len(picks) == 2 * 2 * 4 and {p.task for p in picks} == {0, 1, 2, 3}  # two rounds of 2 x 2 a step


async def test_a_session_of_rounds_stopped_mid_step_replays_it_for_nothing(tmp_path):
    reference, *_ = await run_through(tmp_path / "ref.session", AutoReviewer(), config=ROUNDS)
    cache = MemoryCache()
    path = tmp_path / "stopped.session"
    with pytest.raises(Stop):
        await run_through(path, AutoReviewer(), cache, listeners=[stop_at(2, "select")], config=ROUNDS)
    injected, tp, op = parts(cache)
    run = open_run(None, ScriptedReviewer(), session=path, injected=injected)
    assert run.resumed and run.mid_step
    await run.drive()
    await run.close()
    assert tp.calls == 0 and op.calls == 0
    assert [what_it_did(r) for r in run.records] == [what_it_did(r) for r in reference.records]


def test_a_rounds_sampling_and_selection_are_checked_with_their_reason():
    from reflectloop.core.settings.config import ConfigError, from_dict

    for bad in ("pairs:2", "independent", "independent:0", "pxn:2", "same-parent:x", "single:1"):
        with pytest.raises(ConfigError, match="GEPA sampling .*single \\| same-parent:N"):
            from_dict({"method": "gepa", "gepa_sampling": bad})
    for bad in ("top", "top:0", "best:2", "most"):
        with pytest.raises(ConfigError, match="GEPA selection .*all \\| best \\| top:K"):
            from_dict({"method": "gepa", "gepa_selection": bad})
    assert from_dict({"method": "gepa", "gepa_sampling": "PxN:2,3", "gepa_selection": "top:2"})
