"""The LLM judge: its request, verdicts parsed or recorded as unparsable,
calls cached and recorded like every call — with a scripted model, and once
through the real llama.cpp server."""
from __future__ import annotations

import asyncio

import pytest

from reflectloop.core.llm import make_llm
from reflectloop.core.llm.base import ProviderError
from reflectloop.core.metrics import MetricError, Scorer, TaskExample, build_contract, build_metric
from reflectloop.core.metrics.judge import parse_verdict
from reflectloop.core.types import CallRecord
from tests.llama_server import llama_server  # noqa: F401  (the fixture)
from tests.scripted import scripted_llm

RUBRIC = "PASS when the answer names the capital city; FAIL otherwise."
EXAMPLE = TaskExample("q1", {"question": "What is the capital of France?", "notes": "line one\nline two"}, ("Paris",), "Paris")


def judge(reply, *, scale="pass_fail", records=None, **options):
    llm, provider = scripted_llm(
        "openai:judge-model", lambda text, params: reply(text) if callable(reply) else reply, role="judge",
        on_call=records.append if records is not None else None,
    )
    metric = build_metric({"kind": "judge", "rubric": RUBRIC, "scale": scale, **options}).with_model(llm)
    return metric, provider


def score(metric, value="Paris is the capital.", example=EXAMPLE):
    return asyncio.run(metric.score(example, value))


def test_the_request_shows_rubric_fields_reference_and_response():
    metric, _ = judge("Reason: ok\nVerdict: PASS")
    system, user = metric.messages(EXAMPLE, "It is Paris.")
    assert system.role == "system" and user.role == "user"
    for part in (RUBRIC, "question: What is the capital of France?", "notes:\nline one\nline two", "## Reference answer\nParis", "## Response to judge\nIt is Paris.", '"Verdict: PASS"'):
        assert part in user.content
    hidden, _ = judge("x", show_target=False)
    assert "Reference answer" not in hidden.messages(EXAMPLE, "It is Paris.")[1].content


def test_pass_fail_verdict_and_reason_become_score_and_feedback():
    records: list[CallRecord] = []
    metric, provider = judge("Reason: It names **Paris**.\nVerdict: **PASS**", records=records)
    result = score(metric)
    assert (result.score, result.feedback, result.error) == (1.0, "It names Paris.", None)
    assert result.raw == "Reason: It names **Paris**.\nVerdict: **PASS**"
    again = score(metric)
    assert again == result and provider.calls == 1  # the second call is a cache hit
    assert [(r.role, r.purpose, r.cached) for r in records] == [("judge", "judge", False), ("judge", "judge", True)]
    assert records[0].usage.prompt_tokens > 0


def test_one_to_five_scale_maps_onto_zero_to_one():
    metric, _ = judge("Reason: fine but long\nScore: 4/5", scale="1-5")
    assert score(metric).score == 0.75
    metric, _ = judge('{"score": 1, "reason": "wrong city"}', scale="1-5")
    assert (score(metric).score, score(metric).feedback) == (0.0, "wrong city")


@pytest.mark.parametrize(
    "reply, scale, message",
    [
        ("I think it is good.", "pass_fail", 'no verdict in the reply (expected a line "Verdict: PASS" or "Verdict: FAIL")'),
        ("Reason: fine", "1-5", 'no verdict in the reply (expected a line "Score: N" with N from 1 to 5)'),
        ("Verdict: maybe", "pass_fail", "no verdict in the reply"),
        ("Reason: great\nScore: 7", "1-5", "score '7' is not a whole number from 1 to 5"),
        ('{"score": "NaN"}', "1-5", "score 'NaN' is not a whole number from 1 to 5"),
        ('{"verdict": "excellent"}', "pass_fail", "verdict 'excellent' is neither PASS nor FAIL"),
        ("", "pass_fail", "no verdict in the reply"),
    ],
)
def test_an_unparsable_verdict_errors_the_example(reply, scale, message):
    metric, _ = judge(reply, scale=scale)
    result = score(metric)
    assert result.score is None and result.raw == reply
    assert result.error.startswith("the judge's verdict could not be parsed: " + message)


def test_an_unparsable_verdict_is_left_out_of_the_score_never_zero():
    replies = iter(["Verdict: PASS", "no idea", "Verdict: FAIL", "Verdict: PASS"])
    metric, _ = judge(lambda text: next(replies))
    scorer = Scorer(build_contract({"kind": "raw"}), metric, threshold=1.0)
    examples = [TaskExample(f"q{i}", {"question": f"Q{i}?"}, ("Paris",), "Paris") for i in range(4)]
    results = [asyncio.run(scorer.score(e, "Paris")) for e in examples]
    summary = scorer.aggregate(list(zip(examples, results)))
    assert (summary.score, summary.scored, summary.errored) == (pytest.approx(2 / 3), 3, 1)
    assert [scorer.is_error(r) for r in results] == [False, False, True, False]


def test_the_last_verdict_wins_and_json_replies_parse():
    assert parse_verdict("Verdict: FAIL\nOn reflection...\nVerdict: PASS", "pass_fail")[0] == 1.0
    assert parse_verdict('Sure: {"verdict": "fail", "reason": "no city"}', "pass_fail") == (0.0, "no city")
    assert parse_verdict("Reason: names it\n\nVerdict - passed", "pass_fail") == (1.0, "names it")
    assert parse_verdict("Looks right.\nVerdict: PASS", "pass_fail") == (1.0, "Looks right.")


def test_a_failed_judge_call_errors_the_example():
    def refuse(text):
        raise ProviderError("HTTP 400: bad request", retryable=False)

    metric, _ = judge(refuse)
    result = score(metric)
    assert result.score is None and result.error == "the judge call failed: HTTP 400: bad request"


def test_judge_options_are_checked():
    with pytest.raises(MetricError, match=r"\[metric\]: judge: unknown scale '1-10' \(known: pass_fail, 1-5\)"):
        build_metric({"kind": "judge", "rubric": RUBRIC, "scale": "1-10"})
    with pytest.raises(MetricError, match="judge: the rubric is empty"):
        build_metric({"kind": "judge", "rubric": "  "})
    with pytest.raises(MetricError, match="missing key 'rubric'"):
        build_metric({"kind": "judge"})
    unbound = build_metric({"kind": "judge", "rubric": RUBRIC})
    with pytest.raises(MetricError, match="the judge metric has no model: pass --judge SPEC"):
        score(unbound)


@pytest.mark.asyncio
async def test_judge_through_the_real_llama_server(llama_server):
    """Only what the code guarantees: a verdict parsed into [0, 1] with the
    reply kept, or the reply recorded as unparsable; one recorded judge call."""
    records: list[CallRecord] = []
    llm = make_llm("openai:smollm2", role="judge", base_url=llama_server.base_url, cache=None, on_call=records.append)
    metric = build_metric({"kind": "judge", "rubric": RUBRIC, "max_tokens": 40}).with_model(llm)
    try:
        result = await metric.score(EXAMPLE, "The capital of France is Paris.")
    finally:
        await llm.aclose()
    [record] = records
    assert (record.role, record.purpose, record.error) == ("judge", "judge", None)
    assert record.usage.prompt_tokens > 0 and 0 < record.usage.completion_tokens <= 40
    assert result.raw == record.text
    if result.error is None:
        assert result.score in (0.0, 1.0)
    else:
        assert result.score is None and result.error.startswith("the judge's verdict could not be parsed")
