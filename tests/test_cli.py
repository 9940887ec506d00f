"""End to end: the installed ``reflectloop`` executable on the embedded model.

One ``--method all`` run proves every method runs on it (the per-method
behaviour on deterministic answers is ``test_cli_fake.py``); sizes and token
limits are tiny, since the tiny model's scores prove nothing here.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from reflectloop.sessions.store import SessionStore

EXE = str(Path(sys.executable).with_name("reflectloop"))
FAST = ["--init-prompts", "2", "--target-max-tokens", "24", "--optimizer-max-tokens", "96", "--gepa-iterations", "2"]
SMALL = ["--steps", "2", "--beam", "1", "--dev-size", "4", "--test-size", "2"]
METHODS = ["ape", "apo", "apo-sum", "promptagent", "opro", "abo", "abo-ablation", "gepa"]
REFLECTING = {"apo", "apo-sum", "promptagent", "abo", "abo-ablation", "gepa"}


def reflectloop(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy(), stdin=subprocess.DEVNULL)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]  # nothing but JSON on stdout


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


def test_method_all_runs_every_method_on_the_embedded_model(tmp_path):
    folder = tmp_path / "compare"
    out = reflectloop("run", "--method", "all", "--task", "gen:object_counting", *SMALL, *FAST, "--session", str(folder))
    assert out.returncode == 0, out.stderr
    with (folder / "steps.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["step"]) for r in rows] == [(m, s) for m in METHODS for s in ("0", "1")]
    assert set(rows[0]) == {"method", "step", "dev_best", "dev_mean_beam", "test", "tokens", "calls"}
    shared = json.loads((folder / "initial_prompts.json").read_text())
    for m in METHODS:
        with SessionStore.open(folder / f"{m}.session", read_only=True) as store:
            step0 = sorted(p.instruction for p in store.prompts().values() if p.step == 0)
            kinds = {p.kind for p in store.proposals() if p.step == 1}
            dev = {ev.prompt_id: ev for _, ev in store.evaluations() if ev.split == "dev"}  # the latest wins
            parents = store.steps()[0].beam
        if m != METHODS[0]:
            assert step0 == sorted(set(shared))  # every method starts from the same (deduplicated) prompts
        # What each method proposes, read from its session (the model's text is not asserted):
        # a reflecting method writes feedback whenever its parent got something wrong.
        errors = any(dev[p].errors for p in parents)
        assert ("feedback" in kinds) == (m in REFLECTING and errors), m  # OPRO and APE: never feedback
        assert "demonstration" not in kinds or m == "abo", m  # ABO-ablation: no demonstrations
