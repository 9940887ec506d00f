"""A promptfoo suite's ``python`` assertions run as reflectloop's Python
metrics run: in worker processes (``core.metrics.pool``), each call timed.
One that hangs or whose process dies errors its example with that cause,
never a score, and the others are graded; Ctrl+C stops the run at once; the
``context`` holds what promptfoo's holds (the prompt sent, the provider …).

Real suites, real worker processes; Ctrl+C runs the command line in a child
process against the fake endpoint.  No timed assertions: a ceiling only
bounds a child that never gets where it should.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from reflectloop.core.metrics.base import Request
from reflectloop.core.tasks import TaskError
from reflectloop.core.tasks.promptfoo import load_suite
from reflectloop.core.types import Message
from tests.support.fake_server import FakeServer
from tests.support.processes import alive, interrupted_once

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Answer in one word.\n\nQuestion: {{q}}"


def suite(folder: Path, code: str, questions=("a", "slow", "b"), *, function: str = "get_assert",
          config: dict | None = None, providers=None) -> Path:
    (folder / "check.py").write_text(code)
    assertion: dict = {"type": "python", "value": f"file://check.py:{function}"}
    if config is not None:
        assertion["config"] = config
    data = {"prompts": [PROMPT], "providers": providers or ["openai:chat:m"],
            "tests": [{"vars": {"q": q}, "assert": [assertion]} for q in questions]}
    path = folder / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


async def graded(path: Path, *, timeout: float = 60, workers: int = 3, output: str = "x",
                 request: Request = Request()):
    spec = load_suite(path)
    metric = dataclasses.replace(spec.scorer.metric, timeout=timeout).with_workers(workers)
    scorer = dataclasses.replace(spec.scorer, metric=metric)
    try:
        results = await asyncio.gather(*(scorer.score(e, output, request=request) for e in spec.examples))
    finally:
        metric.close()
    return {e.fields["q"]: r for e, r in zip(spec.examples, results)}


def hangs(marks: Path, when: str = 'context["vars"]["q"] == "slow"') -> str:
    """An assertion that hangs (``when``), its pid in ``marks``: the code
    runs from the session's copy in the cache, so the folder is written in."""
    return f"""
import os, pathlib, time
def get_assert(output, context):
    if {when}:
        (pathlib.Path({str(marks)!r}) / "hung.pid").write_text(str(os.getpid()))
        time.sleep(600)
    return True
"""


def test_a_python_assertion_past_its_timeout_errors_its_example_and_the_others_are_graded(tmp_path):
    results = asyncio.run(graded(suite(tmp_path, hangs(tmp_path)), timeout=1))
    slow = results.pop("slow")
    assert slow.score is None and "file://check.py:get_assert timed out after 1 s" in slow.error
    assert slow.error.startswith("assertion 1 (python)")
    assert all(r.score == 1.0 for r in results.values())
    assert not alive(int((tmp_path / "hung.pid").read_text()))  # killed, not waited for


def test_a_python_assertion_whose_process_dies_errors_only_its_example(tmp_path):
    code = "import os\ndef get_assert(output, context):\n    if context['vars']['q'] == 'slow':\n" \
           "        os._exit(3)\n    return 0.5\n"
    results = asyncio.run(graded(suite(tmp_path, code)))
    assert results["slow"].score is None
    assert "its process ended without an answer (exit code 3)" in results["slow"].error
    assert results["a"].score == results["b"].score == 0.5


def test_a_function_the_file_lacks_stops_the_suite_loading(tmp_path):
    path = suite(tmp_path, "def other(output, context):\n    return True\n", function="missing")
    with pytest.raises(TaskError, match="has no function 'missing'"):
        load_suite(path)


CONTEXT = """
import json
def get_assert(output, context):
    return {"pass": True, "score": 1, "reason": json.dumps(context, sort_keys=True)}
"""


def test_the_context_holds_what_promptfoos_does(tmp_path):
    path = suite(tmp_path, CONTEXT, questions=("Capital?",), config={"k": [1]},
                 providers=[{"id": "openai:chat:m", "label": "mine", "config": {"apiBaseUrl": "http://h/v1"}}])
    data = yaml.safe_load(path.read_text())
    data["defaultTest"] = {"metadata": {"team": "a", "kind": "x"}}
    data["tests"][0]["metadata"] = {"kind": "y"}
    path.write_text(yaml.safe_dump(data))
    sent = Message("user", "Answer in one word.\n\nQuestion: Capital?")
    result = asyncio.run(graded(path, output="Paris", request=Request((sent,), "openai:m")))["Capital?"]
    context = json.loads(result.feedback.splitlines()[1].partition(": ")[2])
    assert context == {
        "prompt": "Answer in one word.\n\nQuestion: Capital?", "vars": {"q": "Capital?"},
        "test": {"vars": {"q": "Capital?"}, "options": {}, "metadata": {"team": "a", "kind": "y"},
                 "assert": [{"type": "python", "value": "file://check.py:get_assert", "config": {"k": [1]}}]},
        "config": {"k": [1]}, "logProbs": None, "provider": {"id": "openai:m", "label": "mine"},
        "providerResponse": {"output": "Paris"},
    }
    # A chat prompt is the messages as JSON; an assertion with no config gets None, as context.get gives in promptfoo.
    chat = (Message("system", "Be brief."), sent)
    other = asyncio.run(graded(suite(tmp_path, CONTEXT, questions=("q",)), request=Request(chat, "local:x")))["q"]
    context = json.loads(other.feedback.splitlines()[1].partition(": ")[2])
    assert json.loads(context["prompt"]) == [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": sent.content}]
    assert context["config"] is None and context["provider"] == {"id": "local:x", "label": ""}


def test_ctrl_c_during_a_python_assertion_stops_the_run_at_once(tmp_path):
    path = suite(tmp_path, hangs(tmp_path, "True"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REFLECTLOOP_HOME": str(tmp_path / "home")}
    with FakeServer() as server:
        url = server.openai_url
        code, _, err = interrupted_once(
            [sys.executable, "-m", "reflectloop", "run", "--task", f"promptfoo:{path}", "--steps", "1", "--beam",
             "1", "--target", "openai:fake", "--target-base-url", url, "--optimizer", "openai:fake",
             "--optimizer-base-url", url, "--session", str(tmp_path / "s.session")],
            (tmp_path / "hung.pid").exists, cwd=tmp_path, env=env)
    # Waiting for the assertion would take 60 s (its timeout) or 600 s (its sleep).
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not alive(int((tmp_path / "hung.pid").read_text()))


RAISES = """
def get_assert(output, context):
    if context["vars"]["q"] == "slow":
        raise ValueError("cannot grade " + context["vars"]["q"])
    return True
"""


def test_a_raising_assertion_errors_its_example_in_the_session_and_best_names_it(capsys, tmp_path):
    """reflectloop's rule (an example that could not be graded is left out,
    never scored; --max-errored bounds them) recorded with the cause, and
    ``best --format promptfoo`` says promptfoo will count that test as failed."""
    from reflectloop.sessions.store import SessionStore
    from tests.support.cli import cli, fake_flags

    path = suite(tmp_path, RAISES)
    session = tmp_path / "s.session"
    with FakeServer() as server:
        code, _, err = cli(capsys, "run", "--task", f"promptfoo:{path}", "--steps", "1", "--beam", "1",
                           "--max-errored", "0.5", "--session", session, *fake_flags(server.openai_url))
    assert code == 0, err
    with SessionStore.open(session, read_only=True) as store:
        results = [r for _, ev in store.evaluations() for r in ev.results]
    slow = [r for r in results if r.example_id == "test-2"]
    assert slow and all(r.score is None and "raised ValueError: cannot grade slow" in r.errored for r in slow)
    assert all(r.score == 1.0 for r in results if r.example_id != "test-2")
    code, _, err = cli(capsys, "best", session, "--format", "promptfoo", "--out", tmp_path / "out")
    assert code == 0, err
    note = "test-2 errored in reflectloop, left out of the prompt's score"
    assert note in err and "promptfoo grades the assertion that could not run 0 and fails the test" in err
    header = (tmp_path / "out" / "promptfooconfig.yaml").read_text()
    assert f"# {note}" in header and "ValueError: cannot grade slow" in header
    assert len(yaml.safe_load((tmp_path / "out" / "tests.yaml").read_text())) == 3  # written, for promptfoo to fail
