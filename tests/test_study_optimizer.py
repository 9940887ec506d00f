"""``--protocol study`` on the optimizer's side: the system message of every
optimizer request (checked against the study's recorded requests in
../shared/fidelity), every tagged span kept with "Instruction N:" unwrapped,
the first evaluated prompt tested at a tie, and the study's error layouts
(OPRO's trajectory and problems, PromptAgent's own prediction, a single
error).  Scripted models around the real loop; the recordings are read at
test time, never copied."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reflectloop.core.evaluation.prompting import STUDY_SYSTEM
from reflectloop.core.methods.base import StepContext, format_errors
from reflectloop.core.methods.opro import scored_trajectory, study_problems, study_trajectory
from reflectloop.core.methods.parsing import Reply, parse_spans, parse_study, unwrap_numbered
from reflectloop.core.methods.promptagent import template_prediction
from reflectloop.core.types import Completion, ErrorCase, Example, Prompt, Usage
from tests.test_loop import INIT, PARAPHRASE, REFINE, REFLECT, init_answers, make_loop

FIDELITY = Path(__file__).resolve().parents[2] / "shared" / "fidelity"
HEADER = re.compile(r"^(?:#+ \w+ )?\d+$", re.M)  # a numbered header line, "## Example 2" or a bare "2"

# Each recorded kind: the method that sends it and a phrase of reflectloop's own request for it.
KINDS = {
    "reflect": ("apo", REFLECT),
    "refine": ("apo", REFINE),
    "ape": ("ape", PARAPHRASE),
    "opro": ("opro", "would score higher"),
    "sum": ("apo-sum", "group the causes"),
    "pa_feedback": ("promptagent", "explain step by step why"),
    "pa_update": ("promptagent", "path of former instructions"),
    "abo_demo": ("abo", "Follow the instruction below strictly"),
    "abo_reflect": ("abo", "at which step of the instruction"),
}
RECORDED = {"apo": "apo", "ape": "ape", "opro": "opro", "apo-sum": "apo-sum", "promptagent": "promptagent", "abo": "abo"}


def demo(text, p):
    return 'Step 1: read. {"answer": "%s"}' % re.search(r"Input:\nq(\d+)", text).group(1)


RULES = {
    INIT: init_answers(["Answer.", "Answer HALF.", "Reply."]),
    "Follow the instruction below strictly": demo,
    "at which step of the instruction": "<ANALYSIS>step 2</ANALYSIS><START>1. Say GOOD.<END>",
    "group the causes": "<ANALYSIS>cause</ANALYSIS><START>Rev GOOD<END>",
    "explain step by step why": "per error ... <START>be precise<END>",
    "path of former instructions": lambda t, p: f"<START>G{p.sample} HALF<END>",
    "would score higher": lambda t, p: f"<INS>New {p.sample} HALF</INS>",
    REFLECT: "<START>r1<END><START>r2<END>",
    REFINE: lambda t, p: f"<START>A{p.sample} GOOD<END>",
    PARAPHRASE: lambda t, p: f"<START>Variant {p.sample} HALF<END>",
}


def recorded_roles() -> dict[str, set[tuple[str, ...]]]:
    """The roles sequences of the study's optimizer requests, per kind."""
    if not FIDELITY.is_dir():
        pytest.skip(f"the study's recorded requests are not at {FIDELITY} (see its README for how they are made)")
    roles: dict[str, set[tuple[str, ...]]] = {}
    for path in sorted(FIDELITY.glob("study-navigate-*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            kind = record["meta"]["kind"]
            if kind != "target":
                roles.setdefault(kind, set()).add(tuple(m["role"] for m in record["body"]["messages"]))
    return roles


@pytest.mark.parametrize("method", sorted(RECORDED))
async def test_study_optimizer_requests_have_the_recorded_roles_and_system_message(method):
    recorded = recorded_roles()
    kinds = [k for k, (m, _) in KINDS.items() if m == method]
    assert all(k in recorded for k in kinds), f"no recorded requests of {kinds} in {FIDELITY}"
    loop, events, tp, op = make_loop(method, rules=RULES, protocol="study", beam=1, init_prompts=2)
    await loop.run(2)
    for kind in kinds:
        phrase = KINDS[kind][1]
        ours = [messages for messages, _ in op.requests if phrase in messages[-1].content]
        assert ours, f"reflectloop sent no {kind} request"
        assert {tuple(m.role for m in messages) for messages in ours} == recorded[kind], kind
        assert all(messages[0].content == STUDY_SYSTEM for messages in ours)
    # The initial prompts too (the study's runs start from given ones, so there is no recording).
    assert all([m.role for m in messages] == ["system", "user"] and messages[0].content == STUDY_SYSTEM
               for messages, _ in op.requests)


async def test_the_default_protocol_sends_the_optimizer_a_user_message_only():
    loop, events, tp, op = make_loop("apo", rules=RULES, beam=1, init_prompts=2)
    await loop.run(2)
    assert op.requests and all([m.role for m in messages] == ["user"] for messages, _ in op.requests)


def reply(text: str) -> Reply:
    return Reply(Completion(text, Usage(0, 0), 0.0, False, "fake:opt"))


@pytest.mark.parametrize(("text", "unwrapped"), [
    ("Instruction 2: Be brief.", "Be brief."),
    ("instruction 10:\nCount the steps.\nThen answer.", "Count the steps.\nThen answer."),
    ("INSTRUCTION 3 :  Say yes.", "Say yes."),
    ("Be brief. Instruction 2: not at the start", "Be brief. Instruction 2: not at the start"),
    ("Instruction: no number", "Instruction: no number"),
    ("Instruction 1:", "Instruction 1:"),  # nothing after it: the span is kept, not emptied
])
def test_unwrap_numbered(text, unwrapped):
    assert unwrap_numbered(text) == unwrapped


def test_study_parsing_keeps_every_span_and_unwraps_numbered_ones():
    raw = "<START>Instruction 1: First.<END> and <START>Second.<END><START>instruction 3: Third.<END>"
    assert [d.text for d in parse_study(reply(raw))] == ["First.", "Second.", "Third."]
    assert [d.text for d in parse_spans(reply(raw), 2, "study")] == ["First.", "Second.", "Third."]
    # The default protocol keeps at most n spans, as written.
    assert [d.text for d in parse_spans(reply(raw), 2, "reflectloop")] == ["Instruction 1: First.", "Second."]
    assert [d.text for d in parse_study(reply("<INS>Instruction 4: Go.</INS>"), "INS")] == ["Go."]
    untagged = parse_study(reply("Instruction 1: no tags"))
    assert len(untagged) == 1 and untagged[0].parse_error  # untagged output stays one flagged draft


async def test_study_candidates_are_every_span_of_every_sample_unwrapped():
    rules = {**RULES, REFINE: lambda t, p: f"<START>Instruction 1: A{p.sample} GOOD<END><START>B{p.sample} HALF<END>"
                                           f"<START>C{p.sample} HALF<END>"}
    loop, events, tp, op = make_loop("apo", rules=rules, protocol="study", sampling="intended", beam=1, init_prompts=1)
    await loop.run(2)
    children = sorted(p.instruction for p in loop.state.prompts.values() if p.step == 1)
    assert children == ["A0 GOOD", "A1 GOOD", "B0 HALF", "B1 HALF", "C0 HALF", "C1 HALF"]


TIED = ["Answer HALF one.", "Answer HALF two.", "Answer HALF three.", "Answer HALF four.", "Answer HALF five."]


@pytest.mark.parametrize("seed", range(6))
async def test_study_tests_the_first_evaluated_of_the_prompts_tied_at_the_top(seed):
    rules = {**RULES, INIT: init_answers(TIED),
             REFINE: lambda t, p: f"<START>Child {p.sample} a HALF<END><START>Child {p.sample} b HALF<END>"}
    loop, events, tp, op = make_loop("apo", rules=rules, protocol="study", beam=1, init_prompts=5, seed=seed)
    await loop.run(2)
    step0, step1 = loop.state.records
    # Step 0 evaluates the initial prompts in the order they were written; all five score 0.5.
    assert loop.state.prompts[step0.best_id].instruction == TIED[0]
    # Step 1 evaluates the children (the study's selection) in proposal order: sample 0's spans first.
    assert loop.state.prompts[step1.best_id].instruction == "Child 0 a HALF"


async def test_the_default_protocol_breaks_a_tie_at_the_top_at_random():
    firsts = set()
    for seed in range(6):
        loop, events, tp, op = make_loop("apo", rules={**RULES, INIT: init_answers(TIED)}, beam=1, init_prompts=5,
                                         seed=seed, steps=1)
        await loop.run(1)
        firsts.add(loop.state.prompts[loop.state.records[0].best_id].instruction)
    assert len(firsts) > 1  # not always the first evaluated


# ------------------------------------------- error layouts under study (issue 22)
@pytest.mark.parametrize(("output", "prediction"), [
    ('{"answer": "A"}', "A"),
    ('{"answer": true}', "True"),  # as text, as the study's template writes it
    ("**Answer:** A", "**Answer:** A"),  # no object: the whole output
    ("The answer is B.", "The answer is B"),  # a final period dropped
    ("{'answer': 'B'}", "'B'"),  # no quote repair: the text after the colon
    ('{"answer": "A"} then {"answer": "B"}', "B"),  # the last one found
    ('{"other": 1}', '{"other": 1}'),  # an object without answer: the whole output
])
def test_promptagent_shows_the_prediction_its_template_extracts(output, prediction):
    assert template_prediction(output) == prediction


# ------------------------------------------------------- OPRO's layout rules
def context(history, errors=()) -> StepContext:
    return StepContext(1, Prompt("p0", "P"), tuple(errors),
                       history=tuple((Prompt(f"p{i}", text), score) for i, (text, score) in enumerate(history)))


def entries(text: str) -> list[tuple[str, int]]:
    return [(t, int(s)) for t, s in re.findall(r"^text: (.*)\nscore: (\d+)$", text, re.M)]


def test_study_trajectory_takes_the_top_before_merging_equal_texts_and_reverses_ties():
    history = [("A", 0.5), ("B", 0.7), ("C", 0.5), ("B", 0.6), ("D", 0.1), ("E", 0.7)]
    # Ranked (stable): B .7, E .7, A .5, C .5, B .6 → B .7, E .7, B .6, A .5, C .5; the top 4 before merging.
    text = study_trajectory(context(history), 4)
    assert entries(text) == [("A", 50), ("B", 70), ("E", 70)]  # B sits where its lower copy was, with .7
    assert entries(study_trajectory(context(history), 20)) == [("D", 10), ("C", 50), ("A", 50), ("B", 70),
                                                                ("E", 70)]  # ties: reverse evaluation order
    assert not text.endswith("\n\n")  # no separator after the last entry (the study's trailing run)
    # The default protocol: distinct texts first (each its best score), ties in the order first scored.
    default = re.findall(r"^text:\n(.*)\nscore:\n(\d+)$", scored_trajectory(context(history), 4), re.M)
    assert default == [("A", "50"), ("C", "50"), ("B", "70"), ("E", "70")]


def test_study_problems_mark_each_input_and_number_them_when_more_than_one():
    one = study_problems([Example("e1", "go left", ("B",))])
    assert one == 'Input:\n<INS>go left\nOutput: {"answer": "B"}'  # one problem: no header
    two = study_problems([Example("e1", "go left", ("B",)), Example("e2", "go on", ("A",))])
    assert HEADER.findall(two) == ["## Problem 1", "## Problem 2"] and two.count("\n<INS>go ") == 2


def test_a_single_error_is_numbered_and_shows_its_gold_as_an_answer_object():
    """APO's, APO-Sum's and ABO's error layout: the study's one-error branch
    prints its index placeholder literally, a defect avoided."""
    error = ErrorCase("e1", "go left", ("B",), "I think A", "A")
    text = format_errors([error], protocol="study")
    assert HEADER.findall(text) == ["## Example 1"] and 'Correct answer: {"answer": "B"}' in text
    assert "Correct answer: B" in format_errors([error])  # the default protocol: plain
    # APO's refinement shows inputs and golds: one such example has no header, as the study's layout.
    assert not HEADER.findall(format_errors([error], with_output=False, protocol="study"))
    assert HEADER.findall(format_errors([error, error], with_output=False, protocol="study")) == [
        "## Example 1", "## Example 2"]
