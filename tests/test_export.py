"""Export, import and fork of real sessions written by a scripted run."""
from __future__ import annotations

import json

import pytest

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.types import Decision
from reflectloop.sessions.export import FIELDS, export, import_records, read_records, records
from reflectloop.sessions.fork import fork
from reflectloop.sessions.store import SessionStore
from tests.scripted import ScriptedReviewer, optimizer_by_rules, scripted_llm, toy_target, toy_task
from tests.test_loop import INIT, REFINE, REFLECT, init_answers
from reflectloop.sessions.service import open_run

RULES = {
    INIT: init_answers(["Answer.", "Answer HALF."]),
    REFLECT: "<START>ignores the number<END><START>too vague<END>",
    REFINE: "<START>Answer GOOD.<END><START>Reply HALF.<END>",
}


def injected(cache):
    target, _ = scripted_llm("fake:target", toy_target, role="target", cache=cache)
    optimizer, provider = scripted_llm("fake:opt", optimizer_by_rules(RULES), role="optimizer", cache=cache)
    return (toy_task(), target, optimizer), provider


def decide(p):
    if p.kind == "feedback" and p.id.endswith("/1"):
        return Decision(p.id, "edit", "EDITED: the number matters", by="human")
    if p.kind == "candidate" and p.text.startswith("Reply"):
        return Decision(p.id, "reject", by="human")
    return Decision(p.id, "accept", by="human")


async def make_session(path, steps=2, cache=None):
    config = RunConfig(task="toy", method="apo", steps=steps, beam=1, init_prompts=2, dev_size=6, test_size=4)
    reviewer = ScriptedReviewer(decide, own_reflection=("my own: read the digits",))
    inj, _ = injected(cache or MemoryCache())
    run = open_run(config, reviewer, session=path, injected=inj)
    await run.drive()
    await run.close()
    return path


async def test_export_has_one_record_per_reviewed_proposal(tmp_path):
    path = await make_session(tmp_path / "s.session")
    with SessionStore.open(path, read_only=True) as store:
        rows = records(store)
        proposals = store.proposals()
    assert len(rows) == len(proposals) and all(set(r) == set(FIELDS) for r in rows)
    edit = next(r for r in rows if r["decision"] == "edit")
    assert edit["llm_text"] == "too vague" and edit["human_text"] == "EDITED: the number matters"
    assert edit["errors"] and {"input", "gold", "output"} <= set(edit["errors"][0])
    assert edit["downstream"] and edit["downstream_dev_best"] == 1.0  # it led to "Answer GOOD."
    own = next(r for r in rows if r["author"] == "human")
    assert own["decision"] == "add" and own["llm_text"] is None and own["human_text"] == "my own: read the digits"
    rejected = next(r for r in rows if r["decision"] == "reject")
    assert rejected["downstream"] == [] and rejected["decided_by"] == "human"


@pytest.mark.parametrize("fmt,name", [("jsonl", "a.jsonl"), ("csv", "a.csv"), ("hf", "hf")])
async def test_export_import_round_trip(tmp_path, fmt, name):
    path = await make_session(tmp_path / "s.session")
    out = tmp_path / name
    with SessionStore.open(path, read_only=True) as store:
        n = export(store, fmt, out)
        original = {p.id: p for p in store.proposals()}
        decided = store.decisions()
    assert n == len(read_records(out))
    with import_records(out, tmp_path / "imported.session") as imported:
        assert imported.read_only
        back = {p.id: p for p in imported.proposals()}
        assert back.keys() == original.keys()
        for pid, p in back.items():
            assert (p.kind, p.step, p.author, p.errors) == (original[pid].kind, original[pid].step, original[pid].author, original[pid].errors)
            assert imported.decisions()[pid].kind == decided[pid].kind
    with pytest.raises(ValueError, match="read-only"):
        open_run(None, ScriptedReviewer(), session=tmp_path / "imported.session")


def test_hf_export_loads_with_datasets(tmp_path):
    datasets = pytest.importorskip("datasets", reason="the datasets package is not installed")
    import asyncio

    path = asyncio.run(make_session(tmp_path / "s.session"))
    with SessionStore.open(path, read_only=True) as store:
        n = export(store, "hf", tmp_path / "hf")
    ds = datasets.load_dataset("json", data_dir=str(tmp_path / "hf" / "data"), split="train")
    assert ds.num_rows == n and "human_text" in ds.column_names


def test_bad_export_files_are_refused_clearly(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"proposal_id": "x", "step": 1, "kind": "feedback", "decision": "accept"}\n{nope\n')
    with pytest.raises(ValueError, match="bad.jsonl line 2: not valid JSON"):
        read_records(bad)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"hello": 1}) + "\n")
    with pytest.raises(ValueError, match="missing proposal_id"):
        read_records(other)


async def test_fork_continues_from_step_k_with_a_link(tmp_path):
    cache = MemoryCache()
    path = await make_session(tmp_path / "s.session", steps=2, cache=cache)
    forked = fork(path, 0, tmp_path / "f.session")
    with SessionStore.open(forked, read_only=True) as store:
        assert store.meta["parent"] == str(path) and store.meta["parent_step"] == 0
        assert [r.step for r in store.steps()] == [0]
    inj, provider = injected(cache)
    run = open_run(None, ScriptedReviewer(), session=forked, injected=inj)
    assert run.loop.next_step == 1
    with SessionStore.open(path, read_only=True) as parent:
        assert run.loop.state.beam == list(parent.steps()[0].beam)
    await run.drive()
    await run.close()
    with SessionStore.open(forked, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1]
    with pytest.raises(ValueError, match="no step 5"):
        fork(path, 5, tmp_path / "g.session")


async def test_human_vs_llm_audit_runs_headless_on_an_export(tmp_path):
    from reflectloop.core.analysis import human_vs_llm
    from reflectloop.sessions.audit_data import load_export, load_session

    path = await make_session(tmp_path / "s.session")
    with SessionStore.open(path, read_only=True) as store:
        export(store, "jsonl", tmp_path / "a.jsonl")
    from_session = human_vs_llm(load_session(path)).to_dict()
    (data,) = load_export(tmp_path / "a.jsonl")
    from_export = human_vs_llm(data).to_dict()
    assert from_session["error_sets"] and from_export == from_session
