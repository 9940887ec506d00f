"""The fault matrix: ``reflectloop run`` (in-process, real HTTP, real
sessions) against the fake OpenAI-compatible endpoint meeting one fault at a
time, each case asserting the record's promise:

* no session holds a score computed from failures (an evaluation beyond
  ``--max-errored`` is never recorded, its step is not recorded, every
  recorded score is the mean of scored examples only);
* the exit code is the documented one (2: a metric or judge that scores no
  example of step 0; 4: an evaluation errored beyond ``--max-errored``);
* once the fault is gone, ``--session`` finishes with the same scores and
  beam as a clean run of the same seed (a failed result was neither cached
  nor recorded as final).

The task adds two numbers (a task file with given prompts, so step 0 asks
the optimizer nothing), scored by a Python metric whose faults a file beside
it switches on and off, or by an LLM judge.  The target, the optimizer and
the judge are separate fake endpoints, so a fault reaches one role only.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

import reflectloop.sessions.service as service
from reflectloop.sessions.store import SessionStore
from tests.support.adder_task import PYTHON_METRIC, adder_rows, adder_toml, write_adder_task
from tests.support.fake_server import FakeServer
from tests.support.fault_endpoint import MatrixServer
from reflectloop.tui.cli import main

TIMEOUT = 0.5  # seconds one attempt may take: a "timeout" fault hangs longer (fault_endpoint.HANG)
MAX_ERRORED = 0.1  # the default
ROWS = adder_rows(30)
SIZES = ["--method", "apo", "--steps", "2", "--beam", "1", "--dev-size", "6", "--test-size", "4", "--errors", "2",
         "--seed", "3"]
JUDGE_METRIC = """
[metric]
kind = "judge"
scale = "1-5"
threshold = 0.75
rubric = "5: the sum is right. 3: off by one. 1: anything else."
"""
TASK = adder_toml(("Add the two numbers.", "Give the sum of A and B."), metric="")
# The fault is a file beside the metric, so the metric's source never changes.
GRADE = '''
import math
from pathlib import Path

FAULT = Path(__file__).with_name("fault.txt")


def grade(example, output):
    fault = FAULT.read_text().strip() if FAULT.exists() else ""
    if fault == "raise":
        raise RuntimeError("the grader broke")
    if fault == "raise-odd" and int(example.fields["a"]) % 2:
        raise RuntimeError("the grader broke on an odd row")
    if fault in ("1.7", "nan", "string"):
        return {"1.7": 1.7, "nan": math.nan, "string": "great"}[fault]
    want = int(example.targets[0])
    got = int(output) if output.strip().isdigit() else None
    if got == want:
        return 1.0
    return (0.5, "off by one") if got is not None and abs(got - want) == 1 else (0.0, "not the sum")
'''


# --------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def quick_models(monkeypatch):
    """Every model of a run with a short timeout and one retry: the matrix stays fast."""
    real = service.make_llm
    monkeypatch.setattr(service, "make_llm", lambda spec, **kw: real(
        spec, **{"timeout": TIMEOUT, "retries": 1, "backoff": 0.01, **kw}))


@pytest.fixture
def servers(monkeypatch):
    """Target, optimizer and judge endpoints (the judge through OPENAI_BASE_URL, as a user sets it)."""
    made = {role: MatrixServer().start() for role in ("target", "optimizer", "judge")}
    monkeypatch.setenv("OPENAI_BASE_URL", made["judge"].openai_url)
    yield made
    for server in made.values():
        if not server.stopped:
            server.close()


def task_file(folder: Path, metric: str = PYTHON_METRIC) -> Path:
    return write_adder_task(folder, rows=ROWS, grade=GRADE, toml=TASK + textwrap.dedent(metric))


def run_args(task: Path, servers: dict, session: Path, *extra) -> list[str]:
    judge = ["--judge", "openai:fake"] if "judge" in task.read_text() else []
    return ["run", "--task", f"file:{task}", *SIZES, "--target", "openai:fake", "--target-base-url",
            servers["target"].openai_url, "--optimizer", "openai:fake", "--optimizer-base-url",
            servers["optimizer"].openai_url, *judge, "--json", "--session", str(session), *extra]


def cli(capsys, args: list[str]) -> tuple[int, list[dict], str]:
    """The exit code, each step's scores and best prompt as ``--json`` printed
    them (not what it cost: a resume replays from the cache), and stderr."""
    code = main(args)
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    return code, [{k: line[k] for k in ("step", "dev_best", "test", "prompt")} for line in lines], err


def comparable(session: Path) -> list[tuple]:
    with SessionStore.open(session, read_only=True) as store:
        return [(s.step, s.beam, s.dev_scores, s.best_id, s.dev_best, s.test) for s in store.steps()]


def assert_no_score_from_failures(session: Path, limit: float = MAX_ERRORED) -> list[int]:
    """Every recorded evaluation errored on at most ``limit`` of its examples,
    an errored example counts for nothing, and every recorded score is the
    mean of a prompt's scored examples (None when there were none).  The
    steps recorded, in order."""
    with SessionStore.open(session, read_only=True) as store:
        latest = {}
        for _, ev in store.evaluations():
            assert len(ev.errored) <= limit * len(ev.results), f"{ev.prompt_id}: a failed evaluation was recorded"
            assert all(r.score is None and not r.correct for r in ev.errored)
            scored = [r.value for r in ev.results if r.errored is None]
            assert ev.score == (sum(scored) / len(scored) if scored else None)
            if ev.split == "dev":
                latest[ev.prompt_id] = ev
        steps = store.steps()
        for record in steps:
            for prompt_id, score in record.dev_scores.items():
                assert score == latest[prompt_id].score
            assert record.dev_best is not None and record.dev_best == record.dev_scores[record.best_id]
    return [r.step for r in steps]


def requests(server: FakeServer) -> int:
    return len(server.log)


# ------------------------------------------------------------- reference
@pytest.fixture
def reference(tmp_path, capsys, servers, monkeypatch):
    """A clean run of the same seed, in a home (and response cache) of its own."""

    def run(metric: str = PYTHON_METRIC) -> tuple[list[dict], list[tuple]]:
        home = tmp_path / f"clean-home-{len(metric)}"
        monkeypatch.setenv("REFLECTLOOP_HOME", str(home))
        session = tmp_path / f"clean-{len(metric)}.session"
        code, lines, err = cli(capsys, run_args(task_file(tmp_path / "clean-task", metric), servers, session))
        assert code == 0, err
        monkeypatch.setenv("REFLECTLOOP_HOME", str(tmp_path / "home"))
        for server in servers.values():
            server.log.clear()
        return lines, comparable(session)

    return run


# ----------------------------------------------------------------- cases
TARGET_FAULTS = [
    # (fault, which target requests meet it, the step it stops, words of the cause)
    pytest.param("401", "all", 0, "HTTP 401", id="401"),
    pytest.param("500", "candidates", 1, "HTTP 500", id="5xx-until-retries-are-spent"),
    pytest.param("timeout", "all", 0, "no answer from", id="timeouts"),
]


@pytest.mark.parametrize("fault, scope, step, cause", TARGET_FAULTS)
def test_a_target_fault_stops_with_exit_4_and_the_resume_finishes_as_a_clean_run(
        tmp_path, capsys, servers, reference, fault, scope, step, cause):
    clean_lines, clean = reference()
    target = servers["target"]
    target.fault = fault
    # The step-1 candidates are the optimizer's ("Variant …"); step 0's prompts are the task file's.
    target.when = (lambda text: "Variant" in text) if scope == "candidates" else (lambda text: True)
    task, session = task_file(tmp_path / "task"), tmp_path / "run.session"

    code, lines, err = cli(capsys, run_args(task, servers, session))
    assert code == 4, err
    assert f"stopped: step {step}: " in err and cause in err and "--max-errored 0.1" in err
    assert f"fix the cause and continue with --session {session}" in err
    assert [line["step"] for line in lines] == list(range(step))
    assert assert_no_score_from_failures(session) == list(range(step))  # the failed step is not recorded

    target.fault = None
    target.texts.clear()
    code, lines, err = cli(capsys, run_args(task, servers, session))
    assert code == 0, err
    assert lines == clean_lines
    assert comparable(session) == clean
    assert assert_no_score_from_failures(session) == [0, 1]
    if scope == "candidates":  # exactly what failed is asked again: step 0's answers are the session's and the cache's
        assert target.texts and all("Variant" in text for text in target.texts)


def test_the_endpoint_stopped_mid_step_and_started_again(tmp_path, capsys, servers, reference):
    clean_lines, clean = reference()
    target = servers["target"]
    target.stop_when = lambda text: "Variant" in text  # the first evaluation of a step-1 candidate
    task, session = task_file(tmp_path / "task"), tmp_path / "run.session"

    code, lines, err = cli(capsys, run_args(task, servers, session))
    assert code == 4, err
    assert "stopped: step 1: " in err and "cannot reach" in err
    assert [line["step"] for line in lines] == [0]
    assert assert_no_score_from_failures(session) == [0]

    port = target.port
    target.server_close()
    servers["target"] = MatrixServer(port=port).start()  # the same endpoint, up again
    code, lines, err = cli(capsys, run_args(task, servers, session))
    assert code == 0, err
    assert lines == clean_lines  # step 0 reported from the session, step 1 redone
    asked = servers["target"].texts
    assert asked and all("Variant" in text for text in asked)  # only step 1's candidates were asked again
    assert comparable(session) == clean
    assert assert_no_score_from_failures(session) == [0, 1]


METRIC_FAULTS = [
    pytest.param("raise", "metric grade.py:grade raised RuntimeError: the grader broke", id="raises"),
    pytest.param("1.7", "returned 1.7", id="returns-1.7"),
    pytest.param("string", "returned 'great'", id="returns-a-string"),
    pytest.param("nan", "returned nan", id="returns-nan"),
]


@pytest.mark.parametrize("fault, words", METRIC_FAULTS)
def test_a_metric_that_fails_on_every_example_of_step_0_is_exit_2_before_any_optimizer_call(
        tmp_path, capsys, servers, reference, fault, words):
    clean_lines, clean = reference()
    task, session = task_file(tmp_path / "task"), tmp_path / "run.session"
    (task.parent / "fault.txt").write_text(fault)

    code, lines, err = cli(capsys, run_args(task, servers, session))
    assert code == 2, err
    assert "the metric could not score any of the 6 dev examples" in err and words in err
    assert lines == []
    assert requests(servers["optimizer"]) == 0  # no reflection or refinement was asked on what was not measured
    assert assert_no_score_from_failures(session) == []

    (task.parent / "fault.txt").unlink()
    code, lines, err = cli(capsys, run_args(task, servers, session))
    assert code == 0, err
    assert lines == clean_lines and comparable(session) == clean


def test_a_metric_that_fails_on_some_examples_stops_with_exit_4(tmp_path, capsys, servers, reference):
    clean_lines, clean = reference()
    task, session = task_file(tmp_path / "task"), tmp_path / "run.session"
    (task.parent / "fault.txt").write_text("raise-odd")

    code, lines, err = cli(capsys, run_args(task, servers, session))
    assert code == 4, err
    assert "stopped: step 0: " in err and "the grader broke on an odd row" in err
    assert requests(servers["optimizer"]) == 0
    assert assert_no_score_from_failures(session) == []

    (task.parent / "fault.txt").unlink()
    code, lines, err = cli(capsys, run_args(task, servers, session))
    assert code == 0, err
    assert lines == clean_lines and comparable(session) == clean


def test_a_judge_answering_garbage_is_exit_2_and_its_replies_are_not_cached(tmp_path, capsys, servers, reference):
    clean_lines, clean = reference(JUDGE_METRIC)
    servers["judge"].garbage = True
    task, session = task_file(tmp_path / "task", JUDGE_METRIC), tmp_path / "run.session"

    code, lines, err = cli(capsys, run_args(task, servers, session))
    assert code == 2, err
    assert "the judge's verdict could not be parsed" in err
    assert requests(servers["optimizer"]) == 0
    assert assert_no_score_from_failures(session) == []
    asked = requests(servers["judge"])

    servers["judge"].garbage = False
    code, lines, err = cli(capsys, run_args(task, servers, session))
    assert code == 0, err
    assert requests(servers["judge"]) > asked  # asked again: a reply with no verdict was not replayed
    assert lines == clean_lines and comparable(session) == clean


def test_a_resume_may_loosen_max_errored_for_a_failure_that_stays(tmp_path, capsys, servers):
    """A deterministic failure is not a session that can never be finished:
    the resume takes a looser ``--max-errored`` and the errored examples are
    left out of the score, never counted."""
    task, session = task_file(tmp_path / "task"), tmp_path / "run.session"
    (task.parent / "fault.txt").write_text("raise-odd")
    code, _, err = cli(capsys, run_args(task, servers, session))
    assert code == 4, err

    code, lines, err = cli(capsys, run_args(task, servers, session, "--max-errored", "0.9"))
    assert code == 0, err
    assert assert_no_score_from_failures(session, limit=0.9) == [0, 1]
    with SessionStore.open(session, read_only=True) as store:
        notes = [n for r in store.steps() for n in r.notes]
    assert any("errored and are left out of its score" in n for n in notes)


# ------------------------------------------------------------ --max-errored
def test_a_test_set_with_no_scored_example_is_null_never_0(tmp_path, capsys, servers):
    """Allowed to error (``--max-errored 1``), a prompt scored on no example
    has no score: null in --json, "—" in the text, never 0."""
    from reflectloop.core.tasks import load_task

    task = task_file(tmp_path / "task")
    loaded = load_task(f"file:{task}", seed=3, dev_size=6, test_size=4)
    tested = {f"A={e.fields['a']} B={e.fields['b']}" for e in loaded.test}
    target = servers["target"]
    target.fault, target.when = "500", lambda text: any(t in text for t in tested)
    session = tmp_path / "run.session"

    code, lines, err = cli(capsys, run_args(task, servers, session, "--max-errored", "1", "--steps", "1"))
    assert code == 0, err
    assert [(line["test"], line["dev_best"] is not None) for line in lines] == [(None, True)]
    assert assert_no_score_from_failures(session, limit=1.0) == [0]

    args = run_args(task, servers, tmp_path / "text.session", "--max-errored", "1", "--steps", "1")
    code = main([a for a in args if a != "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(r"dev best \d\.\d{3}  test   —  ", out), out


def test_max_errored_is_a_fraction(capsys, tmp_path):
    code = main(["run", "--max-errored", "1.5", "--session", str(tmp_path / "x.session")])
    _, err = capsys.readouterr()
    assert code == 2 and "'max_errored'" in err and "[0, 1]" in err
    assert not (tmp_path / "x.session").exists()
