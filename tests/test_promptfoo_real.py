"""A promptfoo suite through reflectloop and back through the real promptfoo.

``reflectloop run --task promptfoo:examples/promptfoo/promptfooconfig.yaml``
against the fake endpoint; then ``promptfoo eval`` (its provider pointed at
the same endpoint, which answers each request the same way every time) on
the example suite itself and on what ``best --format promptfoo`` wrote: for
every prompt, each test's score promptfoo reports equals the one reflectloop
recorded for that example, so the prompt's mean score and its pass rate do too.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from reflectloop.sessions.store import SessionStore
from tests.support.cli import cli, fake_flags
from tests.support.fake_server import FakeServer
from tests.support.promptfoo import command, evaluate

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "promptfoo"
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def server():
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def promptfoo():
    return command()  # skips (fails under REFLECTLOOP_STRICT=1) when promptfoo is not installed


def at_fake_endpoint(config: Path, url: str) -> Path:
    """``config`` with its providers replaced by the fake endpoint (an
    OpenAI-compatible ``apiBaseUrl``), beside it."""
    data = yaml.safe_load(config.read_text())
    data["providers"] = [{"id": "openai:chat:fake", "config": {"apiBaseUrl": url}}]
    out = config.with_name("promptfooconfig.fake.yaml")
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def run_suite(capsys, tmp_path: Path, url: str, suite: Path = EXAMPLE, *flags: str) -> Path:
    session = tmp_path / "session.json"
    code, _, err = cli(capsys, "run", "--task", f"promptfoo:{suite / 'promptfooconfig.yaml'}", "--preset", "quick",
                       "--session", session, *flags, *fake_flags(url))
    assert code == 0, err
    return session


def recorded(session: Path) -> dict[str, dict[str, object]]:
    """Prompt text -> example id -> the result reflectloop recorded on dev."""
    with SessionStore.open(session, read_only=True) as store:
        prompts = store.prompts()
        out: dict[str, dict[str, object]] = {}
        for _, ev in store.evaluations():
            if ev.split == "dev":
                out.setdefault(prompts[ev.prompt_id].instruction, {}).update({r.example_id: r for r in ev.results})
    return out


def by_prompt(result: dict) -> dict[str, dict[str, dict]]:
    """promptfoo's results: prompt text -> test id (test-N, as reflectloop numbers them) -> the row."""
    templates = [p["raw"] for p in result["results"]["prompts"]]
    rows: dict[str, dict[str, dict]] = {}
    for row in result["results"]["results"]:
        rows.setdefault(templates[row["promptIdx"]], {})[f"test-{row['testIdx'] + 1}"] = row
    return rows


def assert_same_scores(ours: dict, theirs: dict) -> None:
    """Each test scored alike; an example reflectloop left out (errored, with
    its cause) is a test promptfoo failed, so the means agree over the others."""
    assert theirs.keys() == ours.keys()
    for test_id, row in theirs.items():
        mine = ours[test_id]
        assert row["response"]["output"] == mine.output, test_id  # the same reply to the same request
        if mine.errored:
            assert mine.score is None and row["success"] is False, (test_id, mine.errored, row["gradingResult"])
            continue
        assert row["score"] == pytest.approx(mine.score), (test_id, row["gradingResult"], mine.feedback)
        assert row["success"] == mine.feedback.startswith("promptfoo would pass"), (test_id, mine.feedback)
    scored = [t for t in theirs if not ours[t].errored]
    assert sum(theirs[t]["score"] for t in scored) == pytest.approx(sum(ours[t].score for t in scored))
    assert sum(r["success"] for r in theirs.values()) == \
        sum(r.feedback.startswith("promptfoo would pass") for r in ours.values() if not r.errored)


def test_the_example_suite_scores_the_same_in_promptfoo_and_reflectloop(capsys, tmp_path, server, promptfoo):
    session = run_suite(capsys, tmp_path, server.openai_url)
    scores = recorded(session)
    suite = tmp_path / "suite"
    shutil.copytree(EXAMPLE, suite)
    result = evaluate(at_fake_endpoint(suite / "promptfooconfig.yaml", server.openai_url), tmp_path / "given.json",
                      tmp_path / "pf-home")
    rows = by_prompt(result)
    assert len(rows) == 2  # both of the suite's prompts
    for text, theirs in rows.items():
        instruction = next(i for i in scores if text.startswith(i) and text[len(i):].startswith("\n\nReview:"))
        assert_same_scores(scores[instruction], theirs)
    # The prompts score differently, so the equality is not one of constants.
    assert len({sum(r["score"] for r in rows[t].values()) for t in rows}) == 2


def test_best_format_promptfoo_runs_in_promptfoo_with_the_recorded_score(capsys, tmp_path, server, promptfoo):
    session = run_suite(capsys, tmp_path, server.openai_url)
    out = tmp_path / "best"
    code, _, err = cli(capsys, "best", session, "--format", "promptfoo", "--out", out)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"promptfooconfig.yaml", "prompt.txt", "tests.yaml", "label_check.py"}
    written = yaml.safe_load((out / "promptfooconfig.yaml").read_text())
    assert written["prompts"] == ["file://prompt.txt"] and written["tests"] == "file://tests.yaml"
    assert written["providers"] == yaml.safe_load((EXAMPLE / "promptfooconfig.yaml").read_text())["providers"]
    result = evaluate(at_fake_endpoint(out / "promptfooconfig.yaml", server.openai_url), tmp_path / "best.json",
                      tmp_path / "pf-home")
    rows = by_prompt(result)
    assert len(rows) == 1
    ((text, theirs),) = rows.items()
    with SessionStore.open(session, read_only=True) as store:
        best = store.prompts()[store.steps()[-1].best_id].instruction
        dev_best = store.steps()[-1].dev_best
    assert text.startswith(best)
    assert_same_scores(recorded(session)[best], theirs)
    assert sum(r["score"] for r in theirs.values()) / len(theirs) == pytest.approx(dev_best)


RAISING_CHECK = """
def get_assert(output, context):
    if "hinge" in context["vars"]["review"]:
        raise ValueError("cannot read the hinge review")
    return {"pass": True, "score": 1.0, "reason": "read"}
"""


def test_an_errored_example_is_a_failed_test_in_promptfoo(capsys, tmp_path, server, promptfoo):
    """reflectloop leaves the example out of the prompt's score with its
    cause; promptfoo, on what ``best --format promptfoo`` wrote, fails that
    test (the raising assertion graded 0 with the error as its reason)."""
    suite = tmp_path / "suite"
    shutil.copytree(EXAMPLE, suite)
    (suite / "label_check.py").write_text(RAISING_CHECK)
    session = run_suite(capsys, tmp_path, server.openai_url, suite, "--max-errored", "0.5")
    out = tmp_path / "best"
    code, _, err = cli(capsys, "best", session, "--format", "promptfoo", "--out", out)
    assert code == 0, err
    assert "test-2 errored in reflectloop" in err and "ValueError: cannot read the hinge review" in err
    with SessionStore.open(session, read_only=True) as store:
        best = store.prompts()[store.steps()[-1].best_id].instruction
        dev_best = store.steps()[-1].dev_best
    ours = recorded(session)[best]
    assert "raised ValueError: cannot read the hinge review" in ours["test-2"].errored
    assert [t for t, r in ours.items() if r.errored] == ["test-2"]
    result = evaluate(at_fake_endpoint(out / "promptfooconfig.yaml", server.openai_url), tmp_path / "e.json",
                      tmp_path / "pf-home")
    ((_, theirs),) = by_prompt(result).items()
    python = theirs["test-2"]["gradingResult"]["componentResults"][1]
    assert (python["pass"], python["score"]) == (False, 0) and "cannot read the hinge review" in python["reason"]
    assert_same_scores(ours, theirs)
    # The recorded score is the mean over the 7 scored tests; promptfoo's counts the 8th too.
    scored = [t for t in theirs if t != "test-2"]
    assert sum(theirs[t]["score"] for t in scored) / len(scored) == pytest.approx(dev_best)


# --------------------------------------------- each assertion, graded by both
GRADED = [
    ("Paris", [{"type": "equals", "value": "Paris"}, {"type": "not-equals", "value": "Lyon"},
               {"type": "starts-with", "value": "Pa"}, {"type": "regex", "value": r"^P\w+$"}]),
    ('It is {"city": "Paris", "n": 2} ok', [
        {"type": "contains-json", "value": {"type": "object", "required": ["city"]}}, {"type": "not-is-json"},
        {"type": "icontains-all", "value": "city, paris"}, {"type": "contains-any", "value": ["Lyon", "Nice"],
                                                             "weight": 2}]),
    ('{"a": 1}', [{"type": "is-json", "value": "type: object\nrequired: [b]"}, {"type": "equals", "value": {"a": 1}},
                  {"type": "contains", "value": "a"}]),
    ("abcde", [{"type": "python", "value": "file://check.py:length", "threshold": 0.6},
               {"type": "python", "value": "file://check.py"}, {"type": "contains", "value": "z", "weight": 0}]),
    ("mixed Case", [{"type": "icontains-any", "value": "CASE, x"}, {"type": "not-icontains-all", "value": "mixed, zzz"},
                    {"type": "not-starts-with", "value": "m", "weight": 0.5}]),
    ("here {a: 1} and {b: [2, 3]}", [{"type": "contains-json", "value": {"required": ["b"]}},
                                    {"type": "not-contains-json"}]),
    ("yes", [{"type": "equals", "value": "{{expect}}"}, {"type": "not-icontains", "value": "{{expect}}"}]),
    ("only", [{"type": "contains", "value": "only"}, {"type": "contains", "value": "zz", "weight": 0}]),
]
CHECK = '''
def get_assert(output, context):
    return {"pass": output.startswith("a"), "score": 0.5, "reason": "starts with " + output[0]}

def length(output, context):
    return len(output) / 10
'''


def test_each_assertion_type_grades_as_the_real_promptfoo_grades_it(tmp_path, promptfoo):
    """promptfoo's echo provider replies with the prompt, here the output to
    grade; reflectloop's metric grades the same outputs with the same assertions."""
    from reflectloop.core.tasks.promptfoo import load_suite
    import asyncio

    (tmp_path / "check.py").write_text(CHECK)
    tests = [{"description": f"case {n}", "vars": {"out": out, "expect": "yes"}, "assert": asserts}
             for n, (out, asserts) in enumerate(GRADED, 1)]
    tests[4]["threshold"] = 0.5
    config = {"prompts": ["{{out}}"], "providers": ["echo"], "tests": tests}
    (tmp_path / "promptfooconfig.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    ours = tmp_path / "ours"
    ours.mkdir()
    shutil.copy(tmp_path / "check.py", ours / "check.py")
    # reflectloop optimizes an instruction, so its copy of the suite has one; the outputs graded are the same.
    (ours / "promptfooconfig.yaml").write_text(yaml.safe_dump({**config, "prompts": ["Grade.\n{{out}}"]}))
    spec = load_suite(ours / "promptfooconfig.yaml")
    result = evaluate(tmp_path / "promptfooconfig.yaml", tmp_path / "graded.json", tmp_path / "pf-home")
    rows = sorted(result["results"]["results"], key=lambda r: r["testIdx"])
    assert len(rows) == len(GRADED)
    for row, example, (out, _) in zip(rows, spec.examples, GRADED):
        assert row["response"]["output"] == out
        mine = asyncio.run(spec.scorer.score(example, out))
        assert row["score"] == pytest.approx(mine.score), (out, row["gradingResult"], mine.feedback)
        assert row["success"] == mine.feedback.startswith("promptfoo would pass"), (out, row["gradingResult"],
                                                                                     mine.feedback)
    # Not all alike: some tests pass, some fail, scores in between.
    assert {r["success"] for r in rows} == {True, False} and any(0 < r["score"] < 1 for r in rows)


# ------------------ list vars expanded, a raising assertion, the context's prompt
EXPANDED_CHECK = '''
import json

def prompt_seen(output, context):
    return {"pass": True, "score": 1, "reason": json.dumps(context["prompt"])}

def picky(output, context):
    if context["vars"]["n"] == "bad":
        raise ValueError("no bad n")
    return len(output) % 3 / 2
'''


def test_list_vars_expand_and_a_raising_assertion_is_reported_as_each_tool_reports_it(tmp_path, promptfoo):
    """The echo provider replies with the prompt it was sent.  promptfoo makes
    one test per combination of a test's list vars, as reflectloop does (the
    same count, vars and scores); a python assertion sees the same prompt in
    both; one that raises errors reflectloop's example with its cause, where
    promptfoo grades it 0 and fails the test."""
    import asyncio

    from reflectloop.core.metrics.base import Request
    from reflectloop.core.tasks.promptfoo import load_suite

    (tmp_path / "check.py").write_text(EXPANDED_CHECK)
    asserts = [{"type": "python", "value": "file://check.py:prompt_seen"},
               {"type": "python", "value": "file://check.py:picky"}, {"type": "contains", "value": "{{out}} {{n}}"}]
    config = {"prompts": ["Grade.\n{{out}} {{n}}"], "providers": ["echo"], "defaultTest": {"vars": {"n": "0"}},
              "tests": [{"vars": {"out": ["alpha", "beta"], "n": ["1", "bad", "22"]}, "assert": asserts},
                        {"vars": {"out": "gamma"}, "assert": asserts}]}
    (tmp_path / "promptfooconfig.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    spec = load_suite(tmp_path / "promptfooconfig.yaml")
    result = evaluate(tmp_path / "promptfooconfig.yaml", tmp_path / "expanded.json", tmp_path / "pf-home")
    rows = sorted(result["results"]["results"], key=lambda r: r["testIdx"])
    assert len(rows) == len(spec.examples) == 7
    errored = 0
    try:
        for row, example in zip(rows, spec.examples):
            assert example.id == f"test-{row['testIdx'] + 1}" and row["vars"] == example.target["vars"]
            messages = spec.template.render(spec.prompts[0], example.fields)
            mine = asyncio.run(spec.scorer.score(example, row["response"]["output"],
                                                 request=Request(messages, "echo")))
            if example.fields["n"] == "bad":
                errored += 1
                assert mine.score is None and "raised ValueError: no bad n" in mine.error
                # promptfoo: the raising assertion scores 0 with its error as the reason, and the test fails.
                picky = row["gradingResult"]["componentResults"][1]
                assert (picky["pass"], picky["score"]) == (False, 0) and "no bad n" in picky["reason"]
                assert row["success"] is False
                continue
            assert row["score"] == pytest.approx(mine.score), (row["gradingResult"], mine.feedback)
            assert row["success"] == mine.feedback.startswith("promptfoo would pass")
            seen = row["gradingResult"]["componentResults"][0]["reason"]
            assert seen == json.dumps(row["response"]["output"]) and f": {seen}\n" in mine.feedback
    finally:
        spec.scorer.metric.close()
    assert errored == 2 and {r["success"] for r in rows} == {True, False}


# ------------------------------- similar, with its own embeddings provider
SIMILAR_OUTPUTS = ["Paris", "It is Paris, France", "zzz", "Lyon or Paris"]


def test_similar_with_its_own_provider_grades_as_the_real_promptfoo(tmp_path, promptfoo, monkeypatch):
    """Both tools ask the same endpoint (vectors fixed by the text) for the
    assertion's own embeddings model: the same cosine, score and pass."""
    import asyncio

    from reflectloop.core.llm.registry import make_llm
    from reflectloop.core.tasks.promptfoo import load_suite
    from tests.support.embeddings_server import EmbeddingsServer

    monkeypatch.setenv("OPENAI_API_KEY", "dummy-key-for-the-local-endpoint")
    with EmbeddingsServer() as server:
        own = {"id": "openai:embedding:emb", "config": {"apiBaseUrl": server.url}}
        asserts = [{"type": "similar", "value": "Paris", "provider": own},
                   {"type": "similar", "value": ["Lyon", "France"], "threshold": 0.5, "provider": own},
                   {"type": "not-similar", "value": "zebra", "threshold": 0.6, "provider": own}]
        tests = [{"vars": {"out": out}, "assert": asserts} for out in SIMILAR_OUTPUTS]
        config = {"prompts": ["{{out}}"], "providers": ["echo"], "tests": tests}
        (tmp_path / "promptfooconfig.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        ours = tmp_path / "ours"
        ours.mkdir()
        (ours / "promptfooconfig.yaml").write_text(yaml.safe_dump({**config, "prompts": ["Grade.\n{{out}}"]}))
        spec = load_suite(ours / "promptfooconfig.yaml")
        metric = spec.scorer.metric.with_models(lambda spec_, url: make_llm(spec_, role="judge", base_url=url,
                                                                            cache=None))
        result = evaluate(tmp_path / "promptfooconfig.yaml", tmp_path / "similar.json", tmp_path / "pf-home")
        rows = sorted(result["results"]["results"], key=lambda r: r["testIdx"])
        mine = [asyncio.run(metric.score(e, out)) for e, out in zip(spec.examples, SIMILAR_OUTPUTS)]
        asyncio.run(metric.models()[0].aclose())
        assert set(server.models) == {"emb"}
    assert len(rows) == len(mine) == len(SIMILAR_OUTPUTS)
    for row, result_, out in zip(rows, mine, SIMILAR_OUTPUTS):
        assert row["response"]["output"] == out
        assert row["score"] == pytest.approx(result_.score), (out, row["gradingResult"], result_.feedback)
        assert row["success"] == result_.feedback.startswith("promptfoo would pass"), (out, row["gradingResult"])
    assert {r["success"] for r in rows} == {True, False}
