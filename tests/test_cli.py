"""End to end: the real ``reflectloop`` command on the embedded model.

Sizes are the issue's (beam 2, dev 8, test 8, 2 steps); initial prompts and
token limits are cut so the suite stays minutes, not tens of minutes.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tinydb import TinyDB

from sessions.storage import AppendStorage
from sessions.store import SessionStore

EXE = str(Path(sys.executable).with_name("reflectloop"))
FAST = ["--init-prompts", "2", "--target-max-tokens", "32", "--optimizer-max-tokens", "128"]
SMALL = ["--steps", "2", "--beam", "2", "--dev-size", "8", "--test-size", "8"]


def reflectloop(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy(), stdin=subprocess.DEVNULL)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]  # nothing but JSON on stdout


def test_run_json_on_generated_navigate(tmp_path):
    session = tmp_path / "nav.session"
    out = reflectloop("run", "--task", "gen:navigate", "--method", "apo", *SMALL, *FAST, "--json", "--session", str(session))
    assert out.returncode == 0, out.stderr
    steps = json_lines(out.stdout)
    assert [s["step"] for s in steps] == [0, 1]
    for s in steps:
        assert set(s) == {"step", "dev_best", "test", "prompt", "tokens", "calls"}
        assert 0 <= s["dev_best"] <= 1 and 0 <= s["test"] <= 1 and s["prompt"] and s["calls"] > 0
    assert steps[1]["dev_best"] >= steps[0]["dev_best"]  # the beam keeps the best
    # The session reopens with plain TinyDB and holds the run.
    with SessionStore.open(session, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1]
        assert store.calls() and store.decisions()
    db = TinyDB(session, storage=AppendStorage, access_mode="r")
    assert len(db.tables()) >= 5
    db.close()


def test_run_on_the_papers_navigate_with_ape(tmp_path, data_dir):
    session = tmp_path / "paper.session"
    out = reflectloop(
        "run", "--task", "paper:navigate", "--data-dir", str(data_dir / "paper"), "--method", "ape",
        *SMALL, *FAST, "--json", "--session", str(session),
    )
    assert out.returncode == 0, out.stderr
    steps = json_lines(out.stdout)
    assert [s["step"] for s in steps] == [0, 1]
    with SessionStore.open(session, read_only=True) as store:
        ids = {ex for _, ev in store.evaluations() for ex in (r.example_id for r in ev.results)}
    assert any(i.startswith("induce/") for i in ids) and any(i.startswith("execute/") for i in ids)


def test_a_rerun_is_served_from_the_cache(tmp_path):
    args = ["run", "--task", "gen:object_counting", "--method", "ape", "--steps", "1", "--beam", "1",
            "--dev-size", "3", "--test-size", "2", "--init-prompts", "1", "--target-max-tokens", "32",
            "--optimizer-max-tokens", "64", "--json"]
    first = json_lines(reflectloop(*args, "--session", str(tmp_path / "a.session")).stdout)
    again = json_lines(reflectloop(*args, "--session", str(tmp_path / "b.session")).stdout)
    assert first[0]["calls"] > 0 and again[0]["calls"] == 0
    assert first[0]["prompt"] == again[0]["prompt"] and first[0]["dev_best"] == again[0]["dev_best"]


def test_bad_input_gets_a_clear_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "x", "target": "y"}\n{oops\n')
    out = reflectloop("run", "--task", f"jsonl:{bad}")
    assert out.returncode == 2 and "bad.jsonl" in out.stderr and "line 2" in out.stderr
    out = reflectloop("run", "--method", "nope")
    assert out.returncode == 2 and "unknown method" in out.stderr
    out = reflectloop("run", "--target", "openai:gpt-4o-mini", "--steps", "1")
    assert out.returncode == 2 and "OPENAI_API_KEY" in out.stderr
    config = tmp_path / "c.toml"
    config.write_text("beam = 3\ncolour = 'red'\n")
    out = reflectloop("run", "--config", str(config))
    assert out.returncode == 2 and "colour" in out.stderr


@pytest.mark.parametrize("method", ["apo-sum", "promptagent", "opro", "abo", "abo-ablation"])
def test_every_method_runs_two_steps_on_papers_navigate(tmp_path, data_dir, method):
    session = tmp_path / f"{method}.session"
    out = reflectloop(
        "run", "--task", "paper:navigate", "--data-dir", str(data_dir / "paper"), "--method", method,
        *SMALL, *FAST, "--json", "--session", str(session),
    )
    assert out.returncode == 0, out.stderr
    assert [s["step"] for s in json_lines(out.stdout)] == [0, 1]
    with SessionStore.open(session, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1]
        kinds = {p.kind for p in store.proposals()}
    assert "candidate" in kinds
    if method in ("abo",):
        assert "demonstration" in kinds


def test_method_all_writes_the_comparison_csv(tmp_path):
    folder = tmp_path / "compare"
    out = reflectloop("run", "--method", "all", "--task", "gen:object_counting", *SMALL, *FAST, "--session", str(folder))
    assert out.returncode == 0, out.stderr
    with (folder / "steps.csv").open() as f:
        rows = list(csv.DictReader(f))
    methods = ["ape", "apo", "apo-sum", "promptagent", "opro", "abo", "abo-ablation"]
    assert [(r["method"], r["step"]) for r in rows] == [(m, s) for m in methods for s in ("0", "1")]
    assert set(rows[0]) == {"method", "step", "dev_best", "dev_mean_beam", "test", "tokens", "calls"}
    shared = json.loads((folder / "initial_prompts.json").read_text())
    for m in methods[1:]:
        with SessionStore.open(folder / f"{m}.session", read_only=True) as store:
            step0 = sorted(p.instruction for p in store.prompts().values() if p.step == 0)
        assert step0 == sorted(set(shared))  # every method starts from the same (deduplicated) prompts
