"""A session holds its task: ``best``, ``export``, ``audit``, ``report`` and
``run --session`` work from the session alone, from any directory, after the
task file, its data and its Python metric moved or changed; a resume names a
changed file (exit 2) unless ``--use-stored-task`` chooses the stored copy.

Real task files and sessions, the fake OpenAI-compatible endpoint, the
command line in-process (``reflectloop.tui.cli.main``)."""
from __future__ import annotations

import asyncio
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from reflectloop.core.tasks import TaskError, load_task
from reflectloop.core.tasks import stored
from reflectloop.sessions.fork import copy_steps
from reflectloop.sessions.store import SessionStore
from tests.support.adder_task import adder_rows, adder_toml, write_adder_task
from tests.support.cli import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ROWS = adder_rows(24, ids=False)  # ids: line numbers
TASK = adder_toml(ids=False, metric='\n[metric]\nkind = "python"\nfunction = "grade.py:grade"\n')
GRADE = '''
def grade(example, output):
    return (len(output) % 5) / 4, f"{example.id}: length {len(output)}"
'''
SIZES = ["--method", "apo", "--beam", "1", "--dev-size", "4", "--test-size", "2"]
SECRET = "sk-test-DO-NOT-STORE-0123456789"


def write_task(folder: Path, rows=ROWS) -> Path:
    return write_adder_task(folder, rows=rows, grade=GRADE, toml=TASK)


@pytest.fixture
def finished(tmp_path, capsys, fake, monkeypatch) -> Path:
    """A two-step task-file session, started in ``start/`` with the task
    named by a path relative to it (``../orig/task.toml``)."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    write_task(tmp_path / "orig")
    start = tmp_path / "start"
    start.mkdir()
    monkeypatch.chdir(start)
    session = start / "t.session"
    code, _, err = cli(capsys, "run", "--task", "file:../orig/task.toml", *fake, *SIZES, "--steps", "2",
                       "--session", session)
    assert code == 0, err
    return session


def evaluations(session: Path, step: int) -> list:
    with SessionStore.open(session, read_only=True) as store:
        return [ev for _, ev in store.evaluations(step) if ev.split == "dev"]


def outputs(session: Path) -> dict[int, dict[str, str]]:
    """Each step's target output per dev example (the fake model's answer
    depends only on the example's user message)."""
    with SessionStore.open(session, read_only=True) as store:
        out: dict[int, dict[str, str]] = {}
        for step, ev in store.evaluations():
            if ev.split == "dev":
                out.setdefault(step, {}).update({r.example_id: r.output for r in ev.results})
        return out


# ------------------------------------------------------------ what it holds
def test_a_session_holds_its_task_as_resolved_and_no_key(finished):
    with SessionStore.open(finished, read_only=True) as store:
        held, config = store.task, store.config
    assert held["name"] == config["task"] == "file:../orig/task.toml"
    tf = held["taskfile"]
    assert tf["text"] == textwrap.dedent(TASK)
    assert tf["template"] == {"user": "A={a} B={b}", "system": "{prompt}", "few_shot": []}
    assert tf["metric"] == {"kind": "python", "function": "grade.py:grade"} and tf["output"] == {"kind": "raw"}
    assert tf["metric_source"]["text"] == GRADE and tf["metric_source"]["function"] == "grade"
    roles = {f["role"]: f for f in held["files"]}
    assert set(roles) == {"task file", "data file", "metric source"}
    assert all(Path(f["path"]).is_absolute() and len(f["sha256"]) == 64 for f in held["files"])
    assert [len(held["examples"][s]) for s in ("ini", "dev", "test")] == [10, 4, 2]
    first = held["examples"]["dev"][0]
    assert set(first) == {"id", "input", "targets", "fields", "target"} and set(first["fields"]) == {"a", "b"}
    assert held["initial_prompts"] == ["Add the two numbers."]
    assert SECRET not in (finished / "log.jsonl").read_text()


@pytest.mark.parametrize("spec", ["gen:navigate", f"file:{EXAMPLES / 'ticket-routing' / 'task.toml'}",
                                  f"file:{EXAMPLES / 'contact-extraction' / 'task.toml'}"])
def test_a_stored_task_rebuilds_the_same_task(spec):
    task = load_task(spec, dev_size=6, test_size=3)
    again = stored.load(json.loads(json.dumps(stored.dump(task))))
    assert again == task  # name, description, every example (fields, targets), prompts, answer hint
    if task.taskfile is not None:
        assert again.taskfile.template == task.taskfile.template
        assert again.taskfile.scorer.metric == task.taskfile.scorer.metric
        assert again.taskfile.scorer.contract.describe() == task.taskfile.scorer.contract.describe()


def test_a_jsonl_task_digests_its_data_file(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"input": f"q{i}", "target": str(i)}) + "\n" for i in range(20)))
    held = stored.dump(load_task(f"jsonl:{path}", dev_size=4, test_size=2), data_dir=None)
    assert [f["role"] for f in held["files"]] == ["data file"] and stored.changes(held) == []
    path.write_text(path.read_text() + json.dumps({"input": "new", "target": "x"}) + "\n")
    assert [c.describe() for c in stored.changes(held)] == [f"the data file {path} has changed"]


def test_a_module_metric_runs_its_stored_source_after_the_module_is_gone(tmp_path):
    folder = tmp_path / "t"
    write_task(folder)
    name = f"metric_{tmp_path.name.replace('-', '_')}"  # a module name no other test imported
    (folder / f"{name}.py").write_text("def score(example, output):\n    return 1.0, 'stored'\n")
    toml = folder / "task.toml"
    toml.write_text(toml.read_text().replace('"grade.py:grade"', f'"{name}:score"'))
    held = stored.dump(load_task(f"file:{toml}", dev_size=4, test_size=2))
    assert held["taskfile"]["metric_source"]["name"] == f"{name}.py"
    shutil.rmtree(folder)
    task = stored.load(held)
    result = task.taskfile.scorer.metric.measure(None, "anything")
    assert (result.score, result.feedback) == (1.0, "stored")


# ------------------------------------------------------ moved: from anywhere
def test_a_moved_session_and_task_work_from_another_directory(tmp_path, capsys, finished, fake, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    session = elsewhere / "t.session"
    shutil.move(finished, session)
    shutil.move(tmp_path / "orig", elsewhere / "orig")
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)

    code, out, err = cli(capsys, "best", session)
    assert code == 0, err
    assert "--- user ---\nA={a} B={b}" in out and "--- system ---" in out

    code, _, err = cli(capsys, "export", session, "-o", other / "out.jsonl")
    assert code == 0, err
    assert (other / "out.jsonl").read_text().strip()

    code, out, err = cli(capsys, "audit", session, "--control", "--control-sets", "1", "--resamples", "10")
    assert code == 0, err
    assert out.strip() and "Traceback" not in err

    code, _, err = cli(capsys, "report", session, "--resamples", "10", "-o", other / "r.html")
    assert code == 0, err

    code, _, err = cli(capsys, "run", "--session", session, "--steps", "3")
    assert code == 0, err
    assert "the task file" in err and "is gone" in err and "stored copy is used" in err
    with SessionStore.open(session, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1, 2]
    steps = outputs(session)
    assert steps[2] and all(steps[0][i] == out for i, out in steps[2].items())  # the same examples, sent alike


def test_best_prints_the_template_that_was_scored_after_the_file_is_edited(tmp_path, capsys, finished):
    toml = tmp_path / "orig" / "task.toml"
    toml.write_text(toml.read_text().replace('user = "A={a} B={b}"', 'user = "EDITED {a} + {b}"'))
    code, out, err = cli(capsys, "best", finished, "--format", "json")
    assert code == 0, err
    messages = json.loads(out)["messages"]
    assert messages[-1] == {"role": "user", "content": "A={a} B={b}"} and "EDITED" not in out
    code, _, err = cli(capsys, "run", "--session", finished, "--steps", "3")
    assert code == 2 and f"the task file {toml.resolve()} has changed" in err and "--use-stored-task" in err


# ------------------------------------------------------- changed: refused
def test_a_changed_data_file_is_refused_on_resume_unless_the_stored_copy_is_chosen(tmp_path, capsys, finished):
    data = tmp_path / "orig" / "rows.jsonl"
    data.write_text(data.read_text().replace('"a": "1"', '"a": "100"'))
    code, _, err = cli(capsys, "run", "--session", finished, "--steps", "3")
    assert code == 2, err
    assert f"the data file {data.resolve()} has changed" in err and "--use-stored-task" in err
    assert "Traceback" not in err
    with SessionStore.open(finished, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1]  # nothing was run

    code, _, err = cli(capsys, "run", "--session", finished, "--steps", "3", "--use-stored-task")
    assert code == 0, err
    assert f"the data file {data.resolve()} has changed since the session started" in err
    steps = outputs(finished)
    assert steps[2] and all(steps[0][i] == out for i, out in steps[2].items())


def test_a_changed_metric_is_refused_and_the_stored_copy_is_what_scores(tmp_path, capsys, finished):
    grade = tmp_path / "orig" / "grade.py"
    grade.write_text("def grade(example, output):\n    raise RuntimeError('the edited metric')\n")
    code, _, err = cli(capsys, "run", "--session", finished, "--steps", "3")
    assert code == 2 and f"the metric source {grade.resolve()} has changed" in err
    code, _, err = cli(capsys, "run", "--session", finished, "--steps", "3", "--use-stored-task")
    assert code == 0, err
    new = evaluations(finished, 2)
    assert new and all(r.errored is None and r.score is not None for ev in new for r in ev.results)


def test_reordered_data_rows_crash_nothing(tmp_path, capsys, finished):
    write_task(tmp_path / "orig", rows=list(reversed(ROWS)))  # line-number ids now name other rows
    code, _, err = cli(capsys, "run", "--session", finished, "--steps", "3")
    assert code == 2 and "Traceback" not in err
    code, _, err = cli(capsys, "run", "--session", finished, "--steps", "3", "--use-stored-task")
    assert code == 0, err
    steps = outputs(finished)
    assert all(steps[0][i] == out for i, out in steps[2].items())
    for command in (["best", finished], ["export", finished, "-o", tmp_path / "x.jsonl"],
                    ["audit", finished, "--control", "--control-sets", "1", "--resamples", "10"]):
        code, _, err = cli(capsys, *command)
        assert code == 0, err


# ---------------------------------------------------------------- old format
def strip_task(source: Path, target: Path) -> None:
    """``source`` as a session written before sessions stored their task."""
    with SessionStore.open(source, read_only=True) as src:
        last = src.steps()[-1]
        with SessionStore.create(target, src.config) as dst:
            copy_steps(src, dst, last.step)
            for p in src.proposals():
                dst.add_proposal(p)
            for d in src.decision_log():
                dst.add_decision(d)
            dst.set_state({"step": last.step + 1, "phase": "start", "beam": list(last.beam)})


def test_a_session_that_predates_stored_tasks_still_opens_with_a_warning(tmp_path, capsys, finished):
    old = tmp_path / "start" / "old.session"
    strip_task(finished, old)
    with SessionStore.open(old, read_only=True) as store:
        assert store.task is None
    code, out, err = cli(capsys, "best", old)
    assert code == 0, err
    assert "A={a} B={b}" in out and "predates stored tasks" in err
    code, _, err = cli(capsys, "audit", old, "--control", "--control-sets", "1", "--resamples", "10")
    assert code == 0, err
    code, _, err = cli(capsys, "run", "--session", old, "--steps", "3")
    assert code == 0, err
    assert "predates stored tasks" in err
    with SessionStore.open(old, read_only=True) as store:
        assert [r.step for r in store.steps()] == [0, 1, 2]


def test_the_tui_continues_a_changed_session_only_with_use_stored_task(tmp_path, finished):
    """``tui --session`` opens its run through ``open_run`` with the overrides ``tui_app`` makes."""
    from reflectloop.core.review import AutoReviewer
    from reflectloop.sessions.service import open_run
    from reflectloop.tui.cli import build_parser, tui_app

    data = tmp_path / "orig" / "rows.jsonl"
    data.write_text(data.read_text().replace('"b": "3"', '"b": "30"'))
    refused = tui_app(build_parser().parse_args(["tui", "--session", str(finished)]))
    with pytest.raises(TaskError, match="the data file .* has changed"):
        open_run(refused.config, AutoReviewer(), session=refused.session, overrides=refused.overrides)
    chosen = tui_app(build_parser().parse_args(["tui", "--session", str(finished), "--use-stored-task"]))
    run = open_run(chosen.config, AutoReviewer(), session=chosen.session, overrides=chosen.overrides)
    try:
        assert run.resumed and any("rows.jsonl has changed" in w for w in run.warnings)
        assert [e.fields for e in run.loop.task.dev] == [
            {"a": r["a"], "b": r["b"]} for r in (ROWS[int(e.id) - 1] for e in run.loop.task.dev)]
    finally:
        asyncio.run(run.close())


def test_a_fork_holds_its_parents_task(tmp_path, capsys, finished):
    forked = tmp_path / "fork.session"
    code, _, err = cli(capsys, "fork", finished, "--step", "0", "-o", forked)
    assert code == 0, err
    with SessionStore.open(forked, read_only=True) as store, SessionStore.open(finished, read_only=True) as parent:
        assert store.task == parent.task is not None
    shutil.rmtree(tmp_path / "orig")
    code, _, err = cli(capsys, "run", "--session", forked)
    assert code == 0 and "is gone" in err, err


def test_a_damaged_stored_task_is_a_clear_error():
    held = stored.dump(load_task("gen:navigate", dev_size=2, test_size=1))
    del held["examples"]
    with pytest.raises(TaskError, match="stored task is damaged"):
        stored.load(held)
    with pytest.raises(TaskError, match="format 99"):
        stored.load({**held, "version": 99})
