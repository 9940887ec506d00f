"""A task file's Python metric runs in worker processes: a metric that
outlives its ``timeout`` errors its example with that cause (never a score)
and is killed, so the run does not wait for it; examples are measured
concurrently; ``example`` reads like a mapping as well as by attribute; the
run's close stops the workers; Ctrl+C during a metric stops the run at once.

Real task files, real worker processes; the target is scripted (its answers
do not matter here) except for Ctrl+C, which runs the command line in a
child process against the fake endpoint.  Overlap is proven by what the
metric itself records (start and end marks), never by wall-clock limits.
"""
from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.evaluation.evaluate import evaluate
from reflectloop.core.tasks import load_task
from reflectloop.core.types import Params, Prompt
from reflectloop.sessions.service import open_run, with_metric_workers
from tests.scripted import ScriptedReviewer
from tests.support.fake_server import FakeServer
from tests.support.processes import alive, interrupted_once
from tests.test_taskfile_loop import OPTIMIZER, scripted

ROOT = Path(__file__).resolve().parents[1]
ROWS = [{"id": f"r{i}", "q": f"question {i}", "gold": f"G{i}"} for i in range(24)]
TASK = """
prompts = ["Answer."]

[data]
path = "rows.jsonl"
inputs = ["q"]
target = "gold"
id = "id"

[messages]
system = "{prompt}"
user = "{q}"

[output]
kind = "raw"

[metric]
kind = "python"
function = "grade.py:grade"
"""


def task_folder(folder: Path, grade: str, *, timeout: float | None = None) -> Path:
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (folder / "grade.py").write_text(textwrap.dedent(grade))
    path = folder / "task.toml"
    path.write_text(textwrap.dedent(TASK) + (f"timeout = {timeout}\n" if timeout is not None else ""))
    return path


def wait_for(path: Path, ceiling: float = 60.0) -> None:
    """A ceiling for a child that never gets there, not a timing check."""
    end = time.monotonic() + ceiling
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


async def evaluated(path: Path, workers: int, examples: int = 6):
    task = with_metric_workers(load_task(f"file:{path}", dev_size=examples, test_size=2), workers)
    (path.parent / "slow-id").write_text(task.dev[0].id)  # the example a slow metric is slow on
    target, _ = scripted("fake:target", lambda text, params: "G-answer", "target")
    try:
        ev = await evaluate(target, Prompt("p", "Answer."), task.dev, split="dev", params=Params(),
                            scorer=task.scorer)
    finally:
        task.taskfile.scorer.metric.close()
    return ev, task


SLEEPER = """
import os, pathlib, time
HERE = pathlib.Path(__file__).parent
def grade(example, output):
    if example.id == (HERE / "slow-id").read_text():
        (HERE / "sleeper.pid").write_text(str(os.getpid()))
        time.sleep(600)
    return 1.0
"""


async def test_a_metric_past_its_timeout_is_errored_with_the_cause_and_not_waited_for(tmp_path):
    path = task_folder(tmp_path, SLEEPER, timeout=1)
    ev, _ = await evaluated(path, workers=2)
    by_id = {r.example_id: r for r in ev.results}
    slow_id = (tmp_path / "slow-id").read_text()
    slow = by_id[slow_id]
    assert slow.errored and f"metric grade.py:grade timed out after 1 s (example {slow_id!r})" in slow.errored
    assert slow.score is None and slow not in ev.scored  # an error, never a score
    assert len(by_id) > 1 and all(r.score == 1.0 for i, r in by_id.items() if i != slow_id)
    # The run went on without it: the process still inside its 600 s sleep was killed.
    assert not alive(int((tmp_path / "sleeper.pid").read_text()))


MAPPING = """
def grade(example, output):
    # A metric written as examples/README.md shows: the example read like a mapping.
    assert example["target"] == example.target and example["q"] == example.fields["q"]
    assert example.get("missing", "x") == "x" and "q" in example.keys()
    return (1.0 if example["target"].startswith("G") else 0.0), "read " + example["q"]
"""


async def test_a_metric_reading_example_like_a_mapping_works_and_the_run_stops_its_workers(tmp_path):
    path = task_folder(tmp_path, MAPPING)

    def make(config: RunConfig):
        task = load_task(config.task, seed=config.seed, dev_size=config.dev_size, test_size=config.test_size)
        target, _ = scripted("fake:target", lambda text, params: "an answer", "target")
        optimizer, _ = scripted("fake:opt", OPTIMIZER, "optimizer")
        return task, target, optimizer

    config = RunConfig(task=f"file:{path}", method="apo", steps=1, beam=1, dev_size=4, test_size=2, concurrency=3)
    run = open_run(config, ScriptedReviewer(), session=tmp_path / "run.session", injected=make)
    await run.drive()
    metric = run.loop.task.taskfile.scorer.metric
    assert metric.workers == 3  # the run's concurrency
    evs = [ev for _, ev in run.store.evaluations()]
    assert evs and all(not r.errored and r.score == 1.0 for ev in evs for r in ev.results)
    assert all(r.feedback.startswith("read question") for ev in evs for r in ev.results)
    workers = [w.process for w in metric.pool._idle]
    assert workers and all(p.is_alive() for p in workers)
    await run.close()
    assert not any(p.is_alive() for p in workers)


OVERLAP = """
import json, pathlib, time
HERE = pathlib.Path(__file__).parent
def grade(example, output):
    marks = HERE / "marks"
    marks.mkdir(exist_ok=True)
    (marks / f"start-{example.id}").write_text(json.dumps(time.time()))
    # Wait until every example has started (a ceiling, in case they never do): run one at a
    # time, the first would end before the others start, and the marks would show it.
    end = time.monotonic() + 60
    while len(list(marks.glob("start-*"))) < 3 and time.monotonic() < end:
        time.sleep(0.01)
    (marks / f"end-{example.id}").write_text(json.dumps(time.time()))
    return 1.0
"""


async def test_examples_are_measured_concurrently_up_to_the_workers(tmp_path):
    path = task_folder(tmp_path, OVERLAP)
    ev, _ = await evaluated(path, workers=3, examples=3)
    assert all(r.score == 1.0 for r in ev.results)
    marks = {p.name: json.loads(p.read_text()) for p in (tmp_path / "marks").iterdir()}
    starts = [t for name, t in marks.items() if name.startswith("start-")]
    ends = [t for name, t in marks.items() if name.startswith("end-")]
    assert len(starts) == len(ends) == 3
    assert max(starts) < min(ends)  # all three were inside the metric at once


def test_timeout_must_be_positive(tmp_path):
    from reflectloop.core.tasks import TaskError

    path = task_folder(tmp_path, MAPPING, timeout=0)
    with pytest.raises((TaskError, ValueError), match="timeout must be a positive number"):
        load_task(f"file:{path}", dev_size=2, test_size=1)


STUCK = """
import os, pathlib, time
HERE = pathlib.Path(__file__).parent
def grade(example, output):
    (HERE / f"stuck-{os.getpid()}.pid").write_text(str(os.getpid()))
    time.sleep(600)
    return 1.0
"""


def test_ctrl_c_during_a_metric_stops_the_run_at_once(tmp_path):
    path = task_folder(tmp_path, STUCK, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REFLECTLOOP_HOME": str(tmp_path / "home")}
    with FakeServer() as server:
        url = server.openai_url
        code, _, err = interrupted_once(
            [sys.executable, "-m", "reflectloop", "run", "--task", f"file:{path}", "--steps", "1", "--beam", "1",
             "--dev-size", "2", "--test-size", "1", "--target", "openai:fake", "--target-base-url", url,
             "--optimizer", "openai:fake", "--optimizer-base-url", url, "--session", str(tmp_path / "s.session")],
            lambda: bool(list(tmp_path.glob("stuck-*.pid"))), cwd=tmp_path, env=env)
    pids = [int(p.read_text()) for p in tmp_path.glob("stuck-*.pid")]
    # Waiting for the metric would take 300 s (its timeout) or 600 s (its sleep).
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not any(alive(pid) for pid in pids)


CRASHER = """
import os, pathlib
HERE = pathlib.Path(__file__).parent
def grade(example, output):
    if example.id == (HERE / "slow-id").read_text():
        os._exit(3)  # the worker dies without an answer
    return 1.0
"""


async def test_a_metric_whose_process_dies_errors_only_its_example(tmp_path):
    path = task_folder(tmp_path, CRASHER)
    ev, _ = await evaluated(path, workers=2)
    dead = (tmp_path / "slow-id").read_text()
    by_id = {r.example_id: r for r in ev.results}
    assert "its process ended without an answer (exit code 3)" in by_id[dead].errored
    assert by_id[dead].score is None
    assert all(r.score == 1.0 for i, r in by_id.items() if i != dead)
