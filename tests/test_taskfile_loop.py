"""Task files through the loop: graded scores, errors under the threshold,
macro-F1 per prompt, the metric's feedback and the prompt's place in the
meta-prompts, the judge as a third model role, and the best prompt out.
Scripted models (the loop's logic), real task files and real session files."""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.evaluation.evaluate import evaluate
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.tasks import load_task
from reflectloop.core.llm.client import LLM
from reflectloop.core.types import Message, Params, Prompt
from reflectloop.sessions.best import best_prompt, write_best
from reflectloop.sessions.codec import decode
from reflectloop.sessions.service import judge_note, judge_spec, open_run, with_judge
from reflectloop.sessions.store import SessionStore
from tests.support.adder_task import adder_rows, adder_toml, write_adder_task
from tests.scripted import ScriptedProvider, ScriptedReviewer, optimizer_by_rules
from tests.test_loop import REFINE, REFLECT

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ROWS = adder_rows(24)
TASK = adder_toml()
# Half credit for a number that is off by one, with feedback naming the example.
GRADE = '''
def grade(example, output):
    want = int(example.targets[0])
    got = int(output) if output.strip().lstrip("-").isdigit() else None
    if got == want:
        return 1.0
    if got is not None and abs(got - want) == 1:
        return 0.5, f"FEEDBACK-{example.id}: off by one, expected {want}"
    return 0.0, f"FEEDBACK-{example.id}: not the sum"
'''


def task_folder(folder: Path, toml: str = TASK) -> Path:
    return write_adder_task(folder, rows=ROWS, grade=GRADE, toml=textwrap.dedent(toml))


def adder(text: str, params: Params) -> str:
    """Right when the prompt says EXACT; one too many on odd A otherwise."""
    a, b = (int(x) for x in re.search(r"A=(\d+) B=(\d+)", text).groups())
    return str(a + b + (0 if "EXACT" in text else a % 2))


class WholeRequest(ScriptedProvider):
    """Answers from every message of the request: a task file's prompt sits
    in the system message, its input in the user message."""

    async def complete(self, messages, params: Params):
        return await super().complete((Message("user", "\n".join(m.content for m in messages)),), params)


def scripted(spec: str, answer, role: str):
    provider = WholeRequest(spec, answer)
    return LLM(provider, role=role, cache=MemoryCache()), provider


OPTIMIZER = optimizer_by_rules({REFLECT: "<START>the odd rows are off by one<END>",
                                REFINE: "<START>Add the two numbers EXACT.<END>"})


def config_for(path: Path, **changes) -> RunConfig:
    values = dict(task=f"file:{path}", method="apo", steps=2, beam=1, dev_size=6, test_size=4, errors=2)
    return RunConfig(**{**values, **changes})


def injected_for(provider_box: dict, judge=None):
    def make(config: RunConfig):
        task = load_task(config.task, seed=config.seed, dev_size=config.dev_size, test_size=config.test_size)
        target, provider_box["target"] = scripted("fake:target", adder, "target")
        optimizer, provider_box["optimizer"] = scripted("fake:opt", OPTIMIZER, "optimizer")
        return (task, target, optimizer, *([judge] if judge else []))

    return make


# ---------------------------------------------------------------- the loop
async def test_python_metric_feedback_reaches_the_recorded_reflection_request(tmp_path):
    path = task_folder(tmp_path)
    box: dict = {}
    session = tmp_path / "run.session"
    run = open_run(config_for(path), ScriptedReviewer(), session=session, injected=injected_for(box))
    # A task file that gives prompts starts from them: the optimizer writes none.
    assert run.config.initial_prompts == "task"
    await run.drive()
    await run.close()

    with SessionStore.open(session, read_only=True) as store:
        calls = store.calls()
        step0 = [ev for step, ev in store.evaluations() if step == 0 and ev.split == "dev"]
        prompts = store.prompts()
    assert not [c for c in calls if c.purpose == "init"]
    assert prompts[step0[0].prompt_id].instruction == "Add the two numbers."
    # The user message is the template's; the prompt sits in the system message.
    evaluate_call = next(c for c in calls if c.purpose == "evaluate")
    assert evaluate_call.messages[0].role == "system" and evaluate_call.messages[0].content == "Add the two numbers."
    assert re.fullmatch(r"A=\d+ B=\d+", evaluate_call.messages[1].content)

    results = step0[0].results
    half = [r for r in results if r.score == 0.5]
    assert half and all(r.feedback.startswith(f"FEEDBACK-{r.example_id}") and not r.correct for r in half)
    assert step0[0].score == pytest.approx(sum(r.score for r in results) / len(results))

    reflect = next(c for c in calls if c.purpose == "reflect")
    request = reflect.messages[-1].content
    shown = re.findall(r"FEEDBACK-(r\d+)", request)
    assert shown and set(shown) <= {r.example_id for r in half}
    assert "Score: 0.50" in request
    # The optimizer is told where its text goes and what the rest of the messages say.
    assert "The text being optimized is the system message" in request
    assert "user message template:\nA={a} B={b}" in request
    assert "a: " in request and "b: " in request  # each error as its rendered fields


async def test_a_graded_dev_score_is_the_mean_and_errors_are_under_the_threshold(tmp_path):
    path = task_folder(tmp_path, TASK.replace("threshold = 1.0", "threshold = 0.5"))
    task = load_task(f"file:{path}", dev_size=8, test_size=2)
    target, _ = scripted("fake:target", adder, "target")
    ev = await evaluate(target, Prompt("p", "Add."), task.dev, split="dev", params=Params(), scorer=task.scorer)
    by_id = {e.id: e for e in task.dev}
    for r in ev.results:
        a = int(by_id[r.example_id].fields["a"])
        assert r.score == (0.5 if a % 2 else 1.0)
        assert r.correct  # 0.5 reaches the threshold of 0.5: not an error
    assert ev.errors == ()
    assert ev.aggregate is None  # a mean metric: the score is the mean of the examples'
    assert ev.score == pytest.approx(sum(r.score for r in ev.results) / len(ev.results))


async def test_label_metric_scores_a_prompt_by_macro_f1_not_accuracy():
    task = load_task(f"file:{EXAMPLES / 'ticket-routing' / 'task.toml'}", dev_size=12, test_size=4)
    target, _ = scripted("fake:target", lambda text, params: "billing", "target")
    ev = await evaluate(target, Prompt("p", "Route."), task.dev, split="dev", params=Params(), scorer=task.scorer)
    gold = [e.targets[0] for e in task.dev]
    hits = gold.count("billing")
    # Everything predicted "billing": F1 of billing is 2tp/(2tp+fp); every other gold label scores 0.
    billing_f1 = 2 * hits / (2 * hits + (len(gold) - hits))
    labels = set(gold) | {"billing"}
    assert ev.score == pytest.approx(billing_f1 / len(labels))
    assert ev.score != pytest.approx(hits / len(gold))
    assert [r.correct for r in ev.results] == [g == "billing" for g in gold]


async def test_an_unreadable_judge_verdict_errors_the_example_and_is_left_out(tmp_path):
    task = load_task(f"file:{EXAMPLES / 'plain-explanations' / 'task.toml'}", dev_size=4, test_size=2)
    first = task.dev[0].fields["question"]

    def verdict(text: str, params: Params) -> str:
        return "I think it is quite nice." if first in text else "Reason: clear and correct.\nScore: 5"

    judge, _ = scripted("fake:judge", verdict, "judge")
    task = with_judge(task, judge)
    target, _ = scripted("fake:target", lambda text, params: "Because of physics.", "target")
    ev = await evaluate(target, Prompt("p", "Explain."), task.dev, split="dev", params=Params(), scorer=task.scorer)
    broken = next(r for r in ev.results if r.example_id == task.dev[0].id)
    assert broken.errored and "could not be parsed" in broken.errored
    assert broken.feedback == "I think it is quite nice."  # the judge's reply, kept for the person
    assert broken.score is None and broken not in ev.scored
    assert ev.score == 1.0  # the others scored 5/5; the unreadable one is not a 0
    assert all(r.feedback == "clear and correct." for r in ev.scored)


def test_a_judge_metric_without_a_model_uses_the_optimizers_and_says_so():
    task = load_task(f"file:{EXAMPLES / 'plain-explanations' / 'task.toml'}", dev_size=4, test_size=2)
    config = RunConfig(task=task.name, optimizer="openai:opt-model")
    assert judge_spec(config, task) == "openai:opt-model"
    assert "uses the optimizer's, openai:opt-model" in judge_note(config, task)
    named = RunConfig(task=task.name, judge="openai:gpt-4o-mini")
    assert judge_spec(named, task) == "openai:gpt-4o-mini" and judge_note(named, task) is None


async def test_the_judge_is_a_third_recorded_role_and_its_reason_is_feedback(tmp_path):
    source = (EXAMPLES / "plain-explanations" / "task.toml").read_text()
    folder = tmp_path / "judged"
    folder.mkdir()
    (folder / "questions.csv").write_text((EXAMPLES / "plain-explanations" / "questions.csv").read_text())
    (folder / "task.toml").write_text(source)
    judge, _ = scripted("fake:judge", lambda text, params: "Reason: JUDGE-SAYS too long.\nScore: 2", "judge")

    def make(config):
        task = load_task(config.task, seed=config.seed, dev_size=config.dev_size, test_size=config.test_size)
        target, _ = scripted("fake:target", lambda text, params: "It is science.", "target")
        optimizer, _ = scripted("fake:opt", OPTIMIZER, "optimizer")
        return task, target, optimizer, judge

    session = tmp_path / "j.session"
    config = config_for(folder / "task.toml", dev_size=3, test_size=2, judge="fake:judge")
    run = open_run(config, ScriptedReviewer(), session=session, injected=make)
    await run.drive()
    await run.close()
    with SessionStore.open(session, read_only=True) as store:
        calls = store.calls()
        records = store.steps()
    judged = [c for c in calls if c.role == "judge"]
    assert judged and all(c.purpose == "judge" and c.model == "fake:judge" for c in judged)
    # The judge's calls count in each step's usage, like the target's and the optimizer's.
    live = [c for c in calls if not c.cached and c.error is None]
    assert sum(r.calls for r in records) == len(live) > len([c for c in live if c.role != "judge"])
    reflect = next(c for c in calls if c.purpose == "reflect").messages[-1].content
    assert "Feedback: JUDGE-SAYS too long." in reflect and "Score: 0.25" in reflect


def test_results_and_errors_of_older_sessions_decode_without_scores():
    from reflectloop.core.types import ErrorCase, ExampleResult

    old = decode(ExampleResult, {"example_id": "1", "output": "x", "answer": "x", "correct": True,
                                 "followed_format": True, "errored": None})
    assert old.score is None and old.feedback == "" and old.value == 1.0
    case = decode(ErrorCase, {"example_id": "1", "input": "q", "gold": ["a"], "output": "b", "answer": "b"})
    assert case.fields == {} and case.score is None


# --------------------------------------------------------------- best out
async def _finished_session(tmp_path: Path) -> Path:
    path = task_folder(tmp_path)
    session = tmp_path / "best.session"
    run = open_run(config_for(path), ScriptedReviewer(), session=session, injected=injected_for({}))
    await run.drive()
    await run.close()
    return session


async def test_best_prompt_python_and_json_rebuild_the_messages_the_target_was_sent(tmp_path):
    session = await _finished_session(tmp_path)
    best = best_prompt(session)
    with SessionStore.open(session, read_only=True) as store:
        sent = [c.messages for c in store.calls() if c.purpose == "evaluate"
                and c.messages[0].content == best.prompt]
    assert best.prompt == "Add the two numbers EXACT." and best.dev == 1.0 and sent
    fields = dict(zip(("a", "b"), re.fullmatch(r"A=(\d+) B=(\d+)", sent[0][1].content).groups()))
    expected = [{"role": m.role, "content": m.content} for m in sent[0]]

    namespace: dict = {}
    exec(write_best(best, "python"), namespace)  # noqa: S102 - the generated module, as an application runs it
    assert namespace["messages"](**fields) == expected
    data = json.loads(write_best(best, "json"))
    assert data["fields"] == ["a", "b"] and data["prompt_id"] == best.prompt_id
    assert [{"role": m["role"], "content": m["content"].format(**fields)} for m in data["messages"]] == expected
    text = write_best(best, "text")
    assert "--- system ---\nAdd the two numbers EXACT." in text and "--- user ---\nA={a} B={b}" in text


async def test_best_command_writes_the_file_and_refuses_a_session_without_steps(tmp_path, capsys):
    from reflectloop.tui.cli import main

    session = await _finished_session(tmp_path)
    out = tmp_path / "prompt.py"
    assert main(["best", str(session), "-o", str(out)]) == 0
    assert "PROMPT = 'Add the two numbers EXACT.'" in out.read_text()
    assert main(["best", str(session), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["prompt"] == "Add the two numbers EXACT."
    empty = tmp_path / "empty.session"
    SessionStore.create(empty, RunConfig().to_dict()).close()
    assert main(["best", str(empty)]) == 2
    assert "no finished step yet" in capsys.readouterr().err


def test_a_field_no_template_uses_is_a_run_warning(tmp_path):
    path = task_folder(tmp_path, TASK.replace('inputs = ["a", "b"]', 'inputs = ["a", "b", "sum"]')
                       .replace('target = "sum"', 'target = "sum"'))
    run = open_run(config_for(path), ScriptedReviewer(), session=tmp_path / "w.session", injected=injected_for({}))
    try:
        assert run.warnings == ("task.toml: the input field 'sum' is used by no template",)
    finally:
        run.store.close()


def test_best_python_escapes_braces_and_takes_keyword_fields_as_keywords():
    from reflectloop.sessions.best import Best
    from reflectloop.core.tasks.template import MessageTemplate

    template = MessageTemplate(user="Q {from} {{literal}}\n{prompt}", system="Be exact.", few_shot=(("hi {x}", "ok"),))
    best = Best("s.session", "file:t.toml", "p", 1, 'Answer as {"a": 1}.', 0.5, None, template)
    namespace: dict = {}
    exec(write_best(best, "python"), namespace)  # noqa: S102
    sent = template.render(best.prompt, {"from": "here"})
    assert namespace["messages"](**{"from": "here"}) == [{"role": m.role, "content": m.content} for m in sent]
    assert "Q {from} {literal}" in write_best(best, "text")  # the text form keeps literal braces as sent
