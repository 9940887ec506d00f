"""reflectloop.sessions.codec: every core dataclass survives encode -> JSON -> decode unchanged."""
from __future__ import annotations

import json

import pytest

from reflectloop.core.types import (
    CallRecord,
    Decision,
    ErrorCase,
    Evaluation,
    ExampleResult,
    Message,
    Params,
    Prompt,
    Proposal,
    StepRecord,
    Usage,
)
from reflectloop.sessions import codec


def sample_call(i: int = 0, text: str | None = "the answer is 4") -> CallRecord:
    return CallRecord(
        model="openai:gpt-4o-mini",
        role="target",
        purpose="evaluate",
        messages=(Message("system", "Answer as JSON."), Message("user", f"question {i}")),
        params=Params(temperature=0.7, top_p=0.9, max_tokens=256, sample=2, stop=("</s>", "\n\n"), seed=7),
        text=text,
        usage=Usage(prompt_tokens=120, completion_tokens=30, estimated=True),
        latency=0.42,
        cached=False,
        attempt=2,
        error=None,
        cost=0.0012,
        at=1700000000.5 + i,
    )


def sample_failed_call() -> CallRecord:
    return CallRecord(
        model="anthropic:claude",
        role="optimizer",
        purpose="reflect",
        messages=(Message("user", "why?"),),
        params=Params(),
        text=None,
        usage=None,
        latency=3.0,
        cached=False,
        attempt=1,
        error="RateLimitError: slow down",
        at=1700000050.0,
    )


def sample_prompt(pid: str = "p1", step: int = 1) -> Prompt:
    return Prompt(
        id=pid,
        instruction="Count the objects step by step.",
        demonstration="Q: ... A: 1, 2, 3 -> 3",
        parent_id="p0",
        step=step,
        origin="edited",
        feedback_ids=("f1", "f2"),
    )


def sample_evaluation(pid: str = "p1", split: str = "dev", n: int = 3) -> Evaluation:
    results = tuple(
        ExampleResult(
            example_id=f"ex{i}",
            output='{"answer": "4"}',
            answer="4" if i else None,
            correct=bool(i % 2),
            followed_format=i != 2,
            errored="timeout" if i == 2 else None,
        )
        for i in range(n)
    )
    return Evaluation(prompt_id=pid, split=split, results=results)


def sample_error_case() -> ErrorCase:
    return ErrorCase(example_id="ex3", input="I have a pen and two apples.", gold=("3", "three"), output="2", answer="2")


def sample_proposal(pid: str = "s1-p1-feedback-0", step: int = 1, text: str = "The prompt ignores plurals.") -> Proposal:
    return Proposal(
        id=pid,
        step=step,
        kind="feedback",
        parent_id="p1",
        text=text,
        errors=(sample_error_case(),),
        raw="<START>The prompt ignores plurals.<END>",
        parse_error=None,
        author="llm",
        for_candidate="c1",
    )


def sample_decision(pid: str = "s1-p1-feedback-0", kind: str = "edit") -> Decision:
    return Decision(proposal_id=pid, kind=kind, text="Count plurals too.", by="human", at=1700000100.25)


def sample_step(step: int = 1, dev: float = 0.6, test: float | None = 0.55) -> StepRecord:
    return StepRecord(
        step=step,
        beam=("p1", "p2"),
        dev_scores={"p1": dev, "p2": 0.4},
        best_id="p1",
        dev_best=dev,
        test=test,
        tokens=12345,
        calls=67,
        cost=0.25,
        notes=("no errors left on dev: beam kept",),
    )


SAMPLES = [
    Message("assistant", "hi"),
    Params(stop=("x",), seed=None),
    Usage(1, 2),
    sample_call(),
    sample_failed_call(),
    sample_prompt(),
    Prompt(id="p0", instruction="Answer."),
    sample_evaluation().results[2],
    sample_evaluation(),
    sample_error_case(),
    sample_proposal(),
    sample_decision(),
    sample_step(),
    sample_step(test=None),
]


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_round_trip_through_json(obj):
    data = json.loads(json.dumps(codec.encode(obj)))
    back = codec.decode(type(obj), data)
    assert back == obj
    assert type(back) is type(obj)


def test_nested_types_are_rebuilt_not_left_as_lists():
    back = codec.decode(CallRecord, json.loads(json.dumps(codec.encode(sample_call()))))
    assert isinstance(back.messages, tuple) and isinstance(back.messages[0], Message)
    assert isinstance(back.params, Params) and back.params.stop == ("</s>", "\n\n")
    assert isinstance(back.usage, Usage)
    proposal = codec.decode(Proposal, codec.encode(sample_proposal()))
    assert isinstance(proposal.errors[0], ErrorCase) and proposal.errors[0].gold == ("3", "three")


def test_encoding_is_plain_json_data():
    data = codec.encode(sample_evaluation())
    assert isinstance(data["results"], list) and isinstance(data["results"][0], dict)
    json.dumps(data)  # no dataclass or tuple left that json cannot take


def test_unknown_keys_are_ignored_and_missing_ones_take_defaults():
    data = codec.encode(sample_prompt())
    data["added_in_a_future_version"] = 1
    for key in ("demonstration", "feedback_ids", "origin"):
        del data[key]
    back = codec.decode(Prompt, data)
    assert back.demonstration is None and back.feedback_ids == () and back.origin == "init"


def test_decoded_dicts_are_copies():
    data = codec.encode(sample_step())
    step = codec.decode(StepRecord, data)
    step.dev_scores["p9"] = 1.0
    assert "p9" not in data["dev_scores"]
