"""The ``reflectloop`` command line against the fake OpenAI-compatible
endpoint (real HTTP, real sessions; answers that depend only on
the request): what the README promises of ``run``, ``--method``,
``--repeats``, the budget, the settings' precedence and the subcommands.

The command runs in-process (``reflectloop.tui.cli.main``), so each test takes a
fraction of a second; ``test_cli.py`` runs the installed executable on the
embedded model.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from tinydb import TinyDB

from reflectloop.core.settings import paths
from reflectloop.sessions.service import find_sessions
from reflectloop.sessions.storage import AppendStorage
from reflectloop.sessions.store import SessionStore
from tests.support.cli import cli

TINY = ["--steps", "2", "--beam", "1", "--dev-size", "4", "--test-size", "2", "--init-prompts", "2"]
REFLECTING = {"apo", "apo-sum", "promptagent", "abo", "abo-ablation", "gepa"}  # the methods that write feedback


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]  # nothing but JSON on stdout


def kinds(session: Path) -> set[str]:
    with SessionStore.open(session, read_only=True) as store:
        return {p.kind for p in store.proposals()}


# ------------------------------------------------------------------ run
def test_run_json_prints_each_step_and_the_session_reopens(capsys, tmp_path, fake):
    session = tmp_path / "nav.session"
    code, out, err = cli(capsys, "run", "--task", "gen:navigate", *fake, *TINY, "--json", "--session", session)
    assert code == 0, err
    steps = json_lines(out)
    assert [s["step"] for s in steps] == [0, 1]
    for s in steps:
        assert set(s) == {"step", "dev_best", "test", "prompt", "tokens", "calls"}
        assert 0 <= s["dev_best"] <= 1 and s["prompt"] and s["calls"] > 0
    assert steps[1]["dev_best"] >= steps[0]["dev_best"]  # the beam keeps the best
    with SessionStore.open(session, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1]
        assert [r.dev_best for r in store.steps()] == [s["dev_best"] for s in steps]
        assert store.calls() and store.decisions()
    db = TinyDB(session, storage=AppendStorage, access_mode="r")  # the README's plain-TinyDB way in
    assert len(db.tables()) >= 5
    db.close()


def test_run_on_the_papers_task_uses_its_splits(capsys, tmp_path, fake, data_dir):
    session = tmp_path / "paper.session"
    code, _, err = cli(capsys, "run", "--task", "paper:navigate", "--data-dir", data_dir / "paper", "--method", "ape",
                       *fake, *TINY, "--json", "--session", session)
    assert code == 0, err
    with SessionStore.open(session, read_only=True) as store:
        ids = {r.example_id for _, ev in store.evaluations() for r in ev.results}
    assert any(i.startswith("induce/") for i in ids) and any(i.startswith("execute/") for i in ids)


def test_method_list_writes_steps_csv_rows_per_method(capsys, tmp_path, fake):
    folder = tmp_path / "two"
    code, out, err = cli(capsys, "run", "--method", "apo,opro", "--task", "gen:object_counting", *fake, *TINY,
                         "--session", folder)
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["apo", "apo", "opro", "opro"]
    with (folder / "steps.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["step"]) for r in rows] == [("apo", "0"), ("apo", "1"), ("opro", "0"), ("opro", "1")]
    for method in ("apo", "opro"):
        with SessionStore.open(folder / f"{method}.session", read_only=True) as store:
            assert [str(r.dev_best) for r in store.steps()] == [r["dev_best"] for r in rows if r["method"] == method]
    shared = json.loads((folder / "initial_prompts.json").read_text())
    with SessionStore.open(folder / "opro.session", read_only=True) as store:
        assert sorted(p.instruction for p in store.prompts().values() if p.step == 0) == sorted(set(shared))
    assert "feedback" in kinds(folder / "apo.session") and "feedback" not in kinds(folder / "opro.session")


def test_every_method_proposes_what_it_should(capsys, tmp_path, fake):
    folder = tmp_path / "all"
    code, _, err = cli(capsys, "run", "--method", "all", "--task", "gen:navigate", *fake, *TINY, "--session", folder)
    assert code == 0, err
    methods = {p.name.removesuffix(".session"): p for p in folder.glob("*.session")}
    assert set(methods) == REFLECTING | {"ape", "opro"}
    for method, session in methods.items():
        found = kinds(session)
        assert "candidate" in found, method
        assert ("feedback" in found) == (method in REFLECTING), method
        assert ("demonstration" in found) == (method == "abo"), method


# --------------------------------------------------------------- budget
def test_the_budget_stops_with_exit_3_and_the_session_resumes(capsys, tmp_path, fake):
    args = ["run", "--task", "gen:navigate", "--method", "apo", *fake, *TINY, "--no-cache", "--json"]
    code, out, err = cli(capsys, *args, "--session", tmp_path / "full.session")
    assert code == 0, err
    step0_tokens = json_lines(out)[0]["tokens"]

    # Enough for step 0, not for step 1.
    session = tmp_path / "budget.session"
    code, out, err = cli(capsys, *args, "--max-tokens", step0_tokens + 1, "--session", session)
    assert code == 3, err
    assert "stopped: budget spent" in err and f"--session {session}" in err
    assert [s["step"] for s in json_lines(out)] == [0]
    with SessionStore.open(session, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0]

    code, out, err = cli(capsys, *args, "--max-tokens", 10**9, "--session", session)
    assert code == 0, err
    assert [s["step"] for s in json_lines(out)] == [0, 1]  # step 0 reported from the session, step 1 run
    with SessionStore.open(session, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1]
        assert store.config["max_tokens"] == step0_tokens + 1  # what the session is stays as it was written


# -------------------------------------------------------------- repeats
def test_repeats_from_the_command_line(capsys, tmp_path, fake):
    folder = tmp_path / "x2"
    code, out, err = cli(capsys, "run", "--repeats", "2", "--seed", "5", "--task", "gen:navigate", *fake, *TINY,
                         "--json", "--session", folder)
    assert code == 0, err
    result = json.loads(out)
    assert result["seeds"] == [5, 6] and [Path(s).name for s in result["sessions"]] == ["seed-5.session", "seed-6.session"]
    with (folder / "repeats.csv").open() as f:
        assert [(r["seed"], r["step"]) for r in csv.DictReader(f)] == [("5", "0"), ("5", "1"), ("6", "0"), ("6", "1")]
    for seed in (5, 6):
        with SessionStore.open(folder / f"seed-{seed}.session", read_only=True) as store:
            assert store.config["seed"] == seed and len(store.steps()) == 2
    assert [s["step"] for s in result["summary"]] == [0, 1] and all(s["runs"] == 2 for s in result["summary"])


# ----------------------------------------------------------- precedence
def test_settings_precedence_defaults_user_file_config_flags(capsys, tmp_path, fake, monkeypatch):
    user = tmp_path / "user.toml"
    user.write_text("beam = 2\ndev_size = 5\ntest_size = 3\n")
    monkeypatch.setenv("REFLECTLOOP_CONFIG", str(user))
    given = tmp_path / "given.toml"
    given.write_text("[run]\ndev_size = 4\ntest_size = 2\n")
    session = tmp_path / "p.session"
    code, _, err = cli(capsys, "run", "--task", "gen:navigate", *fake, "--steps", "1", "--init-prompts", "1",
                       "--config", given, "--test-size", "1", "--session", session)
    assert code == 0, err
    with SessionStore.open(session, read_only=True) as store:
        config = store.config
    assert config["beam"] == 2  # the user's file over the default (5)
    assert config["dev_size"] == 4  # --config over the user's file
    assert config["test_size"] == 1  # the flag over both
    assert config["seed"] == 0 and config["init_examples"] == 5  # untouched defaults


def test_a_preset_sits_over_the_config_files_and_under_single_flags(tmp_path, monkeypatch):
    from reflectloop.core.settings.presets import preset
    from reflectloop.tui.cli import build_parser
    from reflectloop.tui.flags import settings

    user = tmp_path / "user.toml"
    user.write_text("beam = 4\nseed = 7\n")
    monkeypatch.setenv("REFLECTLOOP_CONFIG", str(user))
    quick = preset("quick").settings
    values = settings(build_parser().parse_args(["run", "--preset", "quick", "--dev-size", "3"]))
    assert values["beam"] == quick["beam"] != 4  # the preset over the user's file
    assert values["seed"] == 7  # what the preset does not set stays the file's
    assert values["dev_size"] == 3 != quick["dev_size"]  # a single flag over the preset
    assert {k: v for k, v in values.items() if k not in ("seed", "dev_size")} == {
        k: v for k, v in quick.items() if k != "dev_size"}


def test_bare_reflectloop_reads_the_user_config_like_tui(tmp_path, monkeypatch):
    from reflectloop.tui.cli import build_parser
    from reflectloop.tui.flags import settings

    user = tmp_path / "user.toml"
    user.write_text("beam = 2\nmethod = 'opro'\n")
    monkeypatch.setenv("REFLECTLOOP_CONFIG", str(user))
    parser = build_parser()
    assert settings(parser.parse_args([])) == {"beam": 2, "method": "opro"}
    assert settings(parser.parse_args(["tui", "--beam", "3"])) == {"beam": 3, "method": "opro"}


def test_tui_session_takes_the_resumable_flags(tmp_path):
    from reflectloop.tui.cli import build_parser, tui_app

    args = build_parser().parse_args(["tui", "--session", str(tmp_path / "s.session"), "--steps", "4",
                                      "--max-tokens", "900", "--beam", "3"])
    app = tui_app(args)
    assert app.overrides == {"steps": 4, "max_tokens": 900}  # how far and what it may spend; never what it is
    assert app.config.beam == 3 and app.session == tmp_path / "s.session"


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("extra", [
    ["--task", "paper:nosuchtask"],
    ["--task", "paper:nosuchtask", "--method", "apo,opro"],
    ["--task", "paper:nosuchtask", "--repeats", "2"],
    ["--target", "nosuchprovider:model"],
])
def test_bad_input_leaves_no_session_behind(capsys, tmp_path, fake, data_dir, extra):
    code, out, err = cli(capsys, "run", *fake, *TINY, "--data-dir", data_dir / "paper", *extra)
    assert code == 2 and err.startswith("reflectloop: ") and out == ""
    assert "nosuch" in err
    root = paths.sessions_dir()
    assert find_sessions(root) == [] and not (root.exists() and any(root.iterdir()))
    code, out, _ = cli(capsys, "sessions")
    assert code == 0 and out.startswith("no sessions")


def test_bad_input_at_a_named_session_creates_nothing_there(capsys, tmp_path, fake):
    session = tmp_path / "deep" / "x.session"
    code, _, err = cli(capsys, "run", *fake, "--task", "gen:nosuchgenerator", "--session", session)
    assert code == 2 and "nosuchgenerator" in err
    assert not session.exists() and not session.parent.exists()


# ---------------------------------------------------------- subcommands
@pytest.fixture
def finished(capsys, tmp_path, fake) -> Path:
    session = tmp_path / "done.session"
    code, _, err = cli(capsys, "run", "--task", "gen:navigate", *fake, *TINY, "--session", session)
    assert code == 0, err
    return session


def test_fork_subcommand_then_run_continues_the_fork(capsys, tmp_path, fake, finished):
    forked = tmp_path / "fork.session"
    code, out, err = cli(capsys, "fork", finished, "--step", "0", "-o", forked)
    assert code == 0, err
    assert f"reflectloop run --session {forked}" in out
    with SessionStore.open(forked, read_only=True) as store, SessionStore.open(finished, read_only=True) as parent:
        assert store.meta["parent"] == str(finished) and store.meta["parent_step"] == 0
        assert [r.step for r in store.steps()] == [0]
        beam0 = list(parent.steps()[0].beam)
    code, out, err = cli(capsys, "run", "--session", forked, "--json")
    assert code == 0, err
    assert [s["step"] for s in json_lines(out)] == [0, 1]
    with SessionStore.open(forked, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1]
        assert {p.parent_id for p in store.proposals() if p.step == 1} <= set(beam0)
    code, _, err = cli(capsys, "fork", finished, "--step", "7", "-o", tmp_path / "no.session")
    assert code == 2 and "no step 7" in err


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "hf"])
def test_export_then_import_subcommands(capsys, tmp_path, finished, monkeypatch, fmt):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "export", finished, "--format", fmt)
    out_path = tmp_path / {"jsonl": "done.jsonl", "csv": "done.csv", "hf": "done-hf"}[fmt]
    assert code == 0 and out_path.exists(), err
    with SessionStore.open(finished, read_only=True) as store:
        decided = store.decisions()
    assert f"{len(decided)} reviewed proposals written to" in err

    imported = tmp_path / "imported.session"
    code, out, err = cli(capsys, "import", out_path, "-o", imported)
    assert code == 0, err
    assert f"imported {len(decided)} records" in out
    with SessionStore.open(imported, read_only=True) as store:
        assert {p: d.kind for p, d in store.decisions().items()} == {p: d.kind for p, d in decided.items()}
    code, _, err = cli(capsys, "run", "--session", imported)
    assert code == 2 and "read-only" in err
    code, out, err = cli(capsys, "audit", out_path, "--section", "summary", "--resamples", "10")
    assert code == 0 and out.strip(), err


def test_import_of_a_bad_file_says_where_and_creates_nothing(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"proposal_id": "x", "step": 1, "kind": "feedback", "decision": "accept"}\n[1, 2]\n')
    code, _, err = cli(capsys, "import", bad, "-o", tmp_path / "i.session")
    assert code == 2 and "bad.jsonl line 2" in err and "JSON object" in err
    assert not (tmp_path / "i.session").exists()


def test_a_continued_run_says_what_was_recovered_from_a_damaged_session(capsys, tmp_path, fake):
    session = tmp_path / "damaged.session"
    args = ["run", "--task", "gen:navigate", *fake, *TINY, "--session", session]
    code, _, err = cli(capsys, *args, "--steps", "1")  # the last --steps wins: step 0 only
    assert code == 0, err
    log = session / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    middle = len(lines) // 2
    lines[middle] = b"#" + lines[middle][1:]  # damage one record in the middle, not the torn tail
    log.write_bytes(b"\n".join(lines))
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and f"line {middle + 1}" in warnings[0] and "log.jsonl.corrupt" in warnings[0]
