"""promptfoo:PATH tasks: the suite's loader, its assertions as the metric,
every refusal, the default target, and the suite a session stores."""
from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
import yaml

from reflectloop.core.llm.base import Embeddings
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.llm.client import LLM
from reflectloop.core.metrics import TaskExample
from reflectloop.core.metrics.base import Request
from reflectloop.core.metrics.promptfoo_asserts import ALL_TYPES
from reflectloop.core.tasks import TaskError, list_tasks, load_task
from reflectloop.core.tasks import stored as stored_task
from reflectloop.core.tasks.promptfoo import default_target, load_suite, provider_target
from reflectloop.core.tasks.promptfoo_template import template_of, to_nunjucks
from reflectloop.core.types import Usage
from tests.scripted import scripted_llm
from tests.support.cli import cli, fake_flags
from tests.support.fake_server import FakeServer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "promptfoo"
PROMPT = "Answer in one word.\n\nQuestion: {{question}}\nAnswer:"


def suite(tmp_path: Path, tests: list | str, *, prompts=(PROMPT,), default: dict | None = None, **extra) -> Path:
    config = {"prompts": list(prompts), "providers": ["openai:chat:gpt-4o-mini"], "tests": tests, **extra}
    if default is not None:
        config["defaultTest"] = default
    path = tmp_path / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def one_test(*asserts: dict, vars_: dict | None = None) -> list[dict]:
    return [{"vars": vars_ or {"question": "Capital of France?"}, "assert": list(asserts)}]


def grade(path: Path, output: str, number: int = 1, request: Request | None = None):
    spec = load_suite(path)
    example = spec.examples[number - 1]
    try:
        return asyncio.run(spec.scorer.score(example, output, request=request))
    finally:
        spec.scorer.metric.close()  # the python assertions' worker processes


def refusal(path: Path) -> str:
    with pytest.raises(TaskError) as caught:
        load_suite(path)
    return str(caught.value)


# ------------------------------------------------------------------ loading
def test_the_example_suite_loads_as_a_task():
    task = load_task(f"promptfoo:{EXAMPLE / 'promptfooconfig.yaml'}", dev_size=50, test_size=50)
    assert task.name == f"promptfoo:{EXAMPLE / 'promptfooconfig.yaml'}"
    assert task.initial_prompts == (
        "Classify the sentiment of the product review as positive or negative. Reply with one word.",
        "Decide whether this review is positive or negative.")
    assert task.taskfile.template.user == "{prompt}\n\nReview: {review}\nSentiment:"
    assert [e.id for e in task.dev] == [f"test-{n}" for n in range(1, 9)] and task.test == task.dev and not task.ini
    first = task.dev[0]
    assert first.fields == {"review": "The battery lasts two days and charging is quick. I love it.",
                            "sentiment": "positive"}
    # defaultTest's assertions come first, then the test's own, as promptfoo merges them.
    assert [a["type"] for a in first.target["assert"]] == ["regex", "python", "icontains"]
    assert task.taskfile.metric_table["python"] == {"label_check.py":
                                                    (EXAMPLE / "label_check.py").read_text()}


def test_the_example_suite_is_on_the_task_list():
    assert f"promptfoo:{EXAMPLE / 'promptfooconfig.yaml'}" in list_tasks(EXAMPLE.parent)


def test_sizes_cap_the_tests():
    task = load_task(f"promptfoo:{EXAMPLE / 'promptfooconfig.yaml'}", dev_size=3, test_size=5)
    assert (len(task.dev), len(task.test)) == (3, 5)


@pytest.mark.parametrize("prompt", [
    PROMPT,
    "{{question}}\n\nAnswer the question above in one word.",
    "No slots at all, {curly} kept.",
    json.dumps([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q: {{ question }}"}]),
    json.dumps([{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"},
                {"role": "user", "content": "Be brief.\n{{question}}"}]),
])
def test_a_prompt_splits_into_instruction_and_template_and_back(prompt):
    instruction, template = template_of(prompt, "p")
    back = to_nunjucks(template, instruction)
    assert back.replace("{{ question }}", "{{question}}") == prompt.replace("{{ question }}", "{{question}}") \
        or json.loads(back) == json.loads(prompt.replace("{{ question }}", "{{question}}"))
    # What reflectloop sends is what promptfoo renders: the prompt with its slots filled.
    sent = "\n".join(m.content for m in template.render(instruction, {"question": "Why?"}))
    assert "{{" not in sent and ("Why?" in sent or "question" not in prompt)


def test_an_instruction_with_nunjucks_markup_is_kept_literal_for_promptfoo():
    _, template = template_of(PROMPT, "p")
    assert to_nunjucks(template, "Reply {{like this}}").startswith("{% raw %}Reply {{like this}}{% endraw %}")


def test_prompt_files_text_split_at_delimiter_and_chat_json(tmp_path):
    (tmp_path / "p.txt").write_text("First.\n\nQ: {{question}}\n---\nSecond.\n\nQ: {{question}}\n")
    spec = load_suite(suite(tmp_path, one_test({"type": "equals", "value": "Paris"}), prompts=["file://p.txt"]))
    assert spec.prompts == ("First.", "Second.")


def test_tests_from_csv_with_expected_columns_and_a_glob(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.csv").write_text(
        'question,__expected,__expected2,__description\n"Capital, of France?",Paris,icontains: par,first\n')
    (tmp_path / "t" / "b.csv").write_text("question,__expected\nTwo plus two?,similar(0.8): four\n")
    spec = load_suite(suite(tmp_path, "file://t/*.csv"))
    assert [e.fields["question"] for e in spec.examples] == ["Capital, of France?", "Two plus two?"]
    assert spec.examples[0].target["assert"] == [{"type": "equals", "value": "Paris"},
                                                 {"type": "icontains", "value": "par"}]
    assert spec.examples[0].target["description"] == "first"
    assert spec.examples[1].target["assert"] == [{"type": "similar", "value": "four", "threshold": 0.8}]
    assert spec.scorer.metric.needs_model


def test_a_var_holding_a_list_makes_one_test_per_combination_as_promptfoo(tmp_path):
    tests = [{"vars": {"question": "q0"}, "assert": [{"type": "equals", "value": "x"}]},
             {"vars": {"question": ["q1", "q2"], "n": ["a", "b", "c"]}, "assert": [{"type": "contains",
                                                                                 "value": "{{n}}"}]},
             {"vars": {"question": "q3"}, "assert": [{"type": "equals", "value": "y"}]}]
    spec = load_suite(suite(tmp_path, tests, prompts=["Count.\n{{question}} {{n}}"], default={"vars": {"n": "z"}}))
    # promptfoo's order: the first var (defaultTest's come first) varies slowest; the tests after it numbered on.
    assert [(e.id, e.fields["n"], e.fields["question"]) for e in spec.examples] == [
        ("test-1", "z", "q0"), ("test-2", "a", "q1"), ("test-3", "a", "q2"), ("test-4", "b", "q1"),
        ("test-5", "b", "q2"), ("test-6", "c", "q1"), ("test-7", "c", "q2"), ("test-8", "z", "q3")]
    assert spec.examples[5].target["vars"] == {"n": "c", "question": "q1"}
    assert asyncio.run(spec.scorer.score(spec.examples[5], "has c")).score == 1.0


def test_tests_from_a_yaml_file_and_default_vars(tmp_path):
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump([{"vars": {"n": 3}, "assert": [{"type": "equals",
                                                                                         "value": "{{n}}"}]}]))
    path = suite(tmp_path, "file://tests.yaml", prompts=["Count.\n{{question}} {{n}}"],
                 default={"vars": {"question": "How many?"}})
    spec = load_suite(path)
    assert spec.examples[0].fields == {"question": "How many?", "n": "3"}
    assert grade(path, "3").score == 1.0 and grade(path, "3.0").score == 0.0


# --------------------------------------------------------------- refusals
@pytest.mark.parametrize("prompt, words", [
    ("Answer.\n{{ question | upper }}", ["line 2", "filter", "question | upper"]),
    ("Answer.\n\n{% if question %}{{question}}{% endif %}", ["line 3", "Nunjucks tag"]),
    ("{# note #}Answer.\n{{question}}", ["line 1", "comment"]),
    ("Answer.\n{{ item.name }}", ["line 2", "not a plain variable"]),
    ("{{question}}", ["only slots"]),
])
def test_nunjucks_beyond_plain_variables_is_refused_with_its_line(tmp_path, prompt, words):
    message = refusal(suite(tmp_path, one_test({"type": "equals", "value": "x"}), prompts=[prompt]))
    assert all(w in message for w in words), message


@pytest.mark.parametrize("kind", ["javascript", "cost", "latency", "is-valid-openai-tools-call", "rouge-n"])
def test_an_unsupported_assertion_type_is_refused_by_name_with_the_supported_list(tmp_path, kind):
    message = refusal(suite(tmp_path, one_test({"type": kind, "value": "x"})))
    assert f"assertion type {kind!r} is not supported" in message
    assert all(t in message for t in ALL_TYPES)


@pytest.mark.parametrize("change, words", [
    (dict(tests=one_test({"type": "equals", "value": "x", "transform": "output.trim()"})),
     ["'transform' is not supported"]),
    (dict(tests=one_test({"type": "contains-any"})), ["contains-any assertion needs a value"]),
    (dict(tests=one_test({"type": "python", "value": "output == 'x'"})), ["inline code is not supported"]),
    (dict(tests=one_test({"type": "regex", "value": "(unclosed"})), ["regex", "not valid"]),
    (dict(tests=one_test({"type": "equals", "value": "x", "weight": -1})), ["weight must be a number"]),
    (dict(tests=one_test({"type": "equals", "value": "{{ question | lower }}"})), ["filter"]),
    (dict(tests=one_test({"type": "equals", "value": "x"}, vars_={"other": "y"})), ["no var 'question'"]),
    (dict(tests=one_test({"type": "equals", "value": "x"}, vars_={"question": [1, 2]})),
     ["is a list that promptfoo passes whole"]),
    (dict(tests=one_test({"type": "equals", "value": "x"}, vars_={"question": ["a", {"b": 1}]})),
     ["item 2 is a mapping"]),
    (dict(tests=one_test({"type": "equals", "value": "x"}, vars_={"question": {"a": 1}})), ["is a mapping"]),
    (dict(tests=one_test({"type": "equals", "value": "x"}, vars_={"question": "file://q.txt"})), ["file://"]),
    (dict(tests=[{"vars": {"question": "q"}}]), ["no assertions"]),
    (dict(tests=[{"vars": {"question": "q"}, "assert": [{"type": "equals", "value": "x"}],
                  "provider": "openai:gpt-4o"}]), ["key 'provider' is not supported"]),
    (dict(tests=one_test({"type": "equals", "value": "x"}), scenarios=[]), ["key 'scenarios' is not supported"]),
    (dict(tests=one_test({"type": "equals", "value": "x"}), default={"options": {"transform": "x"}}),
     ["option 'transform' is not supported"]),
    (dict(tests=one_test({"type": "equals", "value": "x"}), prompts=[PROMPT, "Other.\n\n{{question}}"]),
     ["prompts 1 and 2 put their {{variables}} differently"]),
    (dict(tests=one_test({"type": "equals", "value": "x"}), prompts=["file://prompt.yaml"]), [".txt and .json"]),
    (dict(tests=[]), ["tests are empty"]),
])
def test_what_reflectloop_would_read_differently_is_refused(tmp_path, change, words):
    tests = change.pop("tests")
    message = refusal(suite(tmp_path, tests, **change))
    assert all(w in message for w in words), message


def test_a_csv_column_promptfoo_reads_and_reflectloop_does_not_is_refused(tmp_path):
    (tmp_path / "t.csv").write_text("question,__metadata:kind\nq,x\n")
    assert "column '__metadata:kind' is not supported" in refusal(suite(tmp_path, "file://t.csv"))


def test_a_refused_suite_stops_the_run_with_exit_2(capsys, tmp_path):
    path = suite(tmp_path, one_test({"type": "javascript", "value": "output.length > 3"}))
    code, _, err = cli(capsys, "run", "--task", f"promptfoo:{path}", "--session", tmp_path / "s.json")
    assert code == 2 and "assertion type 'javascript' is not supported" in err
    assert not (tmp_path / "s.json").exists()


# ----------------------------------------------------------------- grading
@pytest.mark.parametrize("assertion, output, score", [
    ({"type": "equals", "value": "Paris"}, "Paris", 1.0),
    ({"type": "equals", "value": "Paris"}, "paris", 0.0),
    ({"type": "equals", "value": {"city": "Paris"}}, '{"city": "Paris"}', 1.0),
    ({"type": "not-equals", "value": "Paris"}, "Lyon", 1.0),
    ({"type": "contains", "value": "Par"}, "It is Paris.", 1.0),
    ({"type": "contains", "value": "par"}, "It is Paris.", 0.0),
    ({"type": "icontains", "value": "par"}, "It is Paris.", 1.0),
    ({"type": "not-icontains", "value": "par"}, "It is Paris.", 0.0),
    ({"type": "contains-any", "value": ["Lyon", "Paris"]}, "Paris", 1.0),
    ({"type": "contains-any", "value": "Lyon, Nice"}, "Paris", 0.0),
    ({"type": "contains-all", "value": ["Par", "is"]}, "Paris", 1.0),
    ({"type": "contains-all", "value": ["Par", "Lyon"]}, "Paris", 0.0),
    ({"type": "icontains-any", "value": "lyon, paris"}, "PARIS", 1.0),
    ({"type": "icontains-all", "value": ["pa", "RIS"]}, "Paris", 1.0),
    ({"type": "not-contains-any", "value": ["Lyon", "Nice"]}, "Paris", 1.0),
    ({"type": "starts-with", "value": "Par"}, "Paris", 1.0),
    ({"type": "not-starts-with", "value": "Par"}, "Paris", 0.0),
    ({"type": "regex", "value": r"^\w+$"}, "Paris", 1.0),
    ({"type": "regex", "value": r"^\w+$"}, "It is Paris", 0.0),
    ({"type": "is-json"}, '{"a": 1}', 1.0),
    ({"type": "is-json"}, 'The answer: {"a": 1}', 0.0),
    ({"type": "is-json", "value": {"type": "object", "required": ["b"]}}, '{"a": 1}', 0.0),
    ({"type": "contains-json"}, 'The answer: {"a": 1} and more', 1.0),
    ({"type": "contains-json", "value": {"type": "object", "required": ["a"]}}, 'x {"b": 2} y {"a": 1}', 1.0),
    ({"type": "contains-json", "value": {"type": "object", "required": ["c"]}}, 'x {"b": 2}', 0.0),
    ({"type": "not-is-json"}, "plain", 1.0),
    ({"type": "contains-json"}, "Here it is: {a: 1, b: [2]}", 1.0),  # read leniently, as promptfoo reads it
    ({"type": "contains-json"}, 'Cut off: {"a": {"b": 1', 1.0),
    ({"type": "contains-json"}, "[1, 2] is no object", 0.0),
    ({"type": "is-json", "value": "type: object\nrequired: [b]"}, '{"b": 1}', 1.0),  # a schema written as YAML
    ({"type": "is-json", "value": "type: object\nrequired: [b]"}, '{"a": 1}', 0.0),
    ({"type": "equals", "value": "{{question}}"}, "Capital of France?", 1.0),
])
def test_each_assertion_grades_as_promptfoo_does(tmp_path, assertion, output, score):
    result = grade(suite(tmp_path, one_test(assertion)), output)
    assert result.score == score, result.feedback
    assert result.feedback.splitlines()[1].startswith("PASS" if score == 1.0 else "FAIL")


def test_a_json_schema_file_is_read_into_the_suite(tmp_path):
    (tmp_path / "schema.yaml").write_text("type: object\nrequired: [city]\n")
    path = suite(tmp_path, one_test({"type": "is-json", "value": "file://schema.yaml"}))
    assert load_suite(path).examples[0].target["assert"][0]["value"] == {"type": "object", "required": ["city"]}
    assert grade(path, '{"city": "Paris"}').score == 1.0 and grade(path, '{"town": "Paris"}').score == 0.0


PYTHON = '''
def get_assert(output, context):
    return output == context["vars"]["question"].upper()

def number(output, context):
    return len(output) / 10

def graded(output, context):
    return {"pass": output == "ok", "score": 0.25 if output != "ok" else 1.0, "reason": "said " + output}

def broken(output, context):
    raise RuntimeError("no")
'''


@pytest.mark.parametrize("value, extra, output, score, passed", [
    ("file://check.py", {}, "CAPITAL OF FRANCE?", 1.0, True),
    ("file://check.py:get_assert", {}, "no", 0.0, False),
    ("file://check.py:number", {}, "abcde", 0.5, True),  # a number passes above 0
    ("file://check.py:number", {"threshold": 0.6}, "abcde", 0.5, False),
    ("file://check.py:graded", {}, "ok", 1.0, True),
    ("file://check.py:graded", {}, "no", 0.25, False),
])
def test_python_assertions_are_called_as_promptfoo_calls_them(tmp_path, value, extra, output, score, passed):
    (tmp_path / "check.py").write_text(PYTHON)
    result = grade(suite(tmp_path, one_test({"type": "python", "value": value, **extra})), output)
    assert result.score == score
    assert result.feedback.splitlines()[1].startswith("PASS" if passed else "FAIL"), result.feedback


def test_a_python_assertion_that_raises_errors_the_example_never_scores_it(tmp_path):
    (tmp_path / "check.py").write_text(PYTHON)
    result = grade(suite(tmp_path, one_test({"type": "python", "value": "file://check.py:broken"})), "x")
    assert result.score is None and "RuntimeError: no" in result.error


def test_the_score_is_the_weighted_mean_and_a_test_threshold_decides_the_pass(tmp_path):
    asserts = [{"type": "contains", "value": "a", "weight": 3}, {"type": "contains", "value": "z"}]
    path = suite(tmp_path, [{"vars": {"question": "q"}, "assert": asserts},
                            {"vars": {"question": "q"}, "assert": asserts, "threshold": 0.7},
                            {"vars": {"question": "q"}, "assert": [{"type": "contains", "value": "a", "weight": 0}]}])
    first, second, zero = grade(path, "a", 1), grade(path, "a", 2), grade(path, "a", 3)
    assert first.score == second.score == 0.75
    assert first.feedback.startswith("promptfoo would fail") and second.feedback.startswith("promptfoo would pass")
    assert zero.score == 0.0  # every weight 0: promptfoo scores 0


def _judge(reply: str):
    return scripted_llm("openai:judge", lambda text, params: reply, role="judge")


def test_llm_rubric_asks_the_judge_with_its_rubric(tmp_path):
    path = suite(tmp_path, one_test({"type": "llm-rubric", "value": "Names the capital of {{question}}",
                                     "provider": "openai:chat:gpt-4o"}))
    spec = load_suite(path)
    assert (spec.scorer.metric.model, spec.scorer.metric.needs_model) == ("openai:gpt-4o", True)
    llm, provider = _judge("Reason: it names Paris.\nVerdict: PASS")
    metric = spec.scorer.metric.with_model(llm)
    result = asyncio.run(metric.score(spec.examples[0], "Paris"))
    assert result.score == 1.0 and "it names Paris" in result.feedback
    assert "Names the capital of Capital of France?" in provider.prompts[0]
    failing = asyncio.run(spec.scorer.metric.with_model(_judge("Reason: no.\nVerdict: FAIL")[0])
                          .score(spec.examples[0], "Lyon"))
    assert failing.score == 0.0
    unreadable = asyncio.run(spec.scorer.metric.with_model(_judge("maybe")[0]).score(spec.examples[0], "x"))
    assert unreadable.score is None and unreadable.error


class Embedder:
    """An embedding provider with fixed vectors per text."""

    spec, embed_batch, default_concurrency = "openai:embed", 16, 2

    def __init__(self, vectors: dict[str, tuple[float, ...]]):
        self.vectors = vectors

    async def embed(self, texts):
        return Embeddings(tuple(self.vectors[t] for t in texts), Usage(1, 0), 0.0)

    async def complete(self, messages, params):
        raise AssertionError("similar only embeds")

    async def aclose(self):
        pass


@pytest.mark.parametrize("kind, extra, score, passed", [
    ("similar", {}, 0.8, True),  # promptfoo's default threshold, 0.75
    ("similar", {"threshold": 0.9}, 0.8, False),
    ("not-similar", {}, pytest.approx(0.2), False),
])
def test_similar_compares_embeddings_with_promptfoos_threshold(tmp_path, kind, extra, score, passed):
    spec = load_suite(suite(tmp_path, one_test({"type": kind, "value": "Paris", **extra})))
    llm = LLM(Embedder({"Paris": (1.0, 0.0), "It is Paris": (0.8, 0.6)}), role="judge", cache=MemoryCache())
    result = asyncio.run(spec.scorer.metric.with_model(llm).score(spec.examples[0], "It is Paris"))
    assert result.score == score
    assert result.feedback.splitlines()[1].startswith("PASS" if passed else "FAIL")


# -------------------------------------------------------------- providers
def test_providers_map_onto_reflectloops_where_they_can():
    assert provider_target("openai:chat:gpt-4o-mini").spec == "openai:gpt-4o-mini"
    assert provider_target("anthropic:messages:claude-3-5-haiku-latest").spec == "anthropic:claude-3-5-haiku-latest"
    local = provider_target({"id": "openai:chat:qwen", "config": {"apiBaseUrl": "http://127.0.0.1:8000/v1"}})
    assert (local.spec, local.base_url) == ("openai:qwen", "http://127.0.0.1:8000/v1")
    assert provider_target("ollama:chat:smollm2:135m").spec is None


def test_the_suites_provider_is_the_default_target_and_a_given_one_wins(tmp_path):
    path = suite(tmp_path, one_test({"type": "equals", "value": "x"}),
                 providers=["ollama:chat:llama3", {"id": "openai:chat:m", "config": {"apiBaseUrl": "http://h/v1"}}])
    settings, notes = default_target(f"promptfoo:{path}", {})
    assert settings == {"target": "openai:m", "target_base_url": "http://h/v1"}
    assert any("'ollama:chat:llama3' is not one reflectloop runs" in n for n in notes)
    assert default_target(f"promptfoo:{path}", {"target": "local:smollm2"}) == ({}, [])
    example = default_target(f"promptfoo:{EXAMPLE / 'promptfooconfig.yaml'}", {})
    assert example[0] == {} and "pass --target" in example[1][0]


# ------------------------------------------------------- the stored suite
def test_a_session_holds_its_suite_best_writes_it_after_the_files_are_gone(capsys, tmp_path):
    copy = tmp_path / "suite"
    shutil.copytree(EXAMPLE, copy)
    session = tmp_path / "s.json"
    with FakeServer() as server:
        code, _, err = cli(capsys, "run", "--task", f"promptfoo:{copy / 'promptfooconfig.yaml'}", "--steps", "1",
                           "--beam", "2", "--dev-size", "4", "--test-size", "4", "--session", session,
                           *fake_flags(server.openai_url))
    assert code == 0, err
    shutil.rmtree(copy)
    from reflectloop.sessions.store import SessionStore

    with SessionStore.open(session, read_only=True) as store:
        task = stored_task.load(store.task)
    assert task.name == f"promptfoo:{copy / 'promptfooconfig.yaml'}" and task.taskfile.scorer.metric.python
    result = asyncio.run(task.taskfile.scorer.score(TaskExample.from_example(task.dev[0]), "Positive."))
    assert result.score is not None  # the Python assertion runs from the session's copy
    out = tmp_path / "out"
    code, _, err = cli(capsys, "best", session, "--format", "promptfoo", "--out", out)
    assert code == 0, err
    assert (out / "label_check.py").read_text() == (EXAMPLE / "label_check.py").read_text()
    tests = yaml.safe_load((out / "tests.yaml").read_text())
    assert len(tests) == len({e.id for e in (*task.dev, *task.test)})


def test_best_format_promptfoo_refuses_a_session_of_another_task(capsys, tmp_path):
    with FakeServer() as server:
        code, _, err = cli(capsys, "run", "--task", "gen:navigate", "--steps", "1", "--beam", "1", "--dev-size", "2",
                           "--test-size", "2", "--session", tmp_path / "s.json", *fake_flags(server.openai_url))
    assert code == 0, err
    code, _, err = cli(capsys, "best", tmp_path / "s.json", "--format", "promptfoo", "--out", tmp_path / "o")
    assert code == 2 and "no promptfoo suite" in err


def test_the_session_notes_each_file_the_suite_read(tmp_path):
    copy = tmp_path / "suite"
    shutil.copytree(EXAMPLE, copy)
    task = load_task(f"promptfoo:{copy / 'promptfooconfig.yaml'}", dev_size=2, test_size=2)
    dumped = stored_task.dump(task)
    roles = {Path(f["path"]).name: f["role"] for f in dumped["files"]}
    assert roles == {"promptfooconfig.yaml": "task file", "prompt.txt": "prompt file", "tests.yaml": "data file",
                     "label_check.py": "data file"}
    (copy / "tests.yaml").write_text((copy / "tests.yaml").read_text() + "\n# edited\n")
    assert [c.describe() for c in stored_task.changes(dumped)] == [
        f"the data file {(copy / 'tests.yaml').resolve()} has changed"]
