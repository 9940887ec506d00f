"""``--protocol study``: what each method's optimizer requests hold, and what
the target is sent, recorded by scripted models around the real loop."""
from __future__ import annotations

import re

import pytest

from reflectloop.core.settings.config import ConfigError, from_dict
from reflectloop.core.methods import METHODS, facts_of
from reflectloop.core.evaluation.prompting import ANSWER_FORMAT, DEMONSTRATION_CAUTION, STUDY_SYSTEM
from tests.test_loop import INIT, init_answers, make_loop

INITS = init_answers(["Answer.", "Answer HALF.", "Reply."])


def study_loop(method, rules, **config):
    # The intended counts (a request per sample); released sampling is tests/test_sampling.py's.
    return make_loop(method, rules={INIT: INITS, **rules}, protocol="study", **{"sampling": "intended", **config})


def errors_in(text: str) -> list[tuple[str, str]]:
    """(input, gold) of every error block of a request (under study the gold is an answer object)."""
    return re.findall(r'Input:\nq(\d+)\nCorrect answer: \{"answer": "(\d+)"\}', text)


def assert_study_target_requests(tp) -> None:
    for messages, _ in tp.requests:
        assert [m.role for m in messages] == ["system", "user"] and messages[0].content == STUDY_SYSTEM
        assert re.search(r"\n\n## Input\nq\d+\n## Output\n$", messages[1].content)
        assert ANSWER_FORMAT not in messages[1].content  # the format comes from the instruction only


async def test_ape_study_paraphrases_each_parent_twice_and_sends_the_study_request():
    rules = {"Write a variation": lambda t, p: f"<START>Variant {p.sample} {p.seed} HALF<END>"}
    loop, events, tp, op = study_loop("ape", rules, beam=2)
    await loop.run(2)
    paraphrases = [p for p in op.prompts if "Write a variation" in p]
    assert len(paraphrases) == 4 and all("Input" not in p for p in paraphrases)  # 2 per parent, no errors
    assert_study_target_requests(tp)


async def test_apo_study_refine_sees_every_error_of_its_reflection_with_gold_answers():
    rules = {
        "reasons why the instruction": "<START>r1<END><START>r2<END><START>r3<END>",
        "improved instructions": lambda t, p: f"<START>A{p.sample} GOOD<END><START>B{p.sample} HALF<END>",
    }
    loop, events, tp, op = study_loop("apo", rules, beam=1, init_prompts=1)
    await loop.run(2)
    reflect = next(p for p in op.prompts if "reasons why the instruction" in p)
    refines = [p for p in op.prompts if "improved instructions" in p]
    assert len(errors_in(reflect)) == 4 and "Model's output" in reflect
    assert len(refines) == 2  # n=2 samples of a request for 2 prompts
    for refine in refines:
        assert errors_in(refine) == errors_in(reflect)  # the same 4 errors, gold answers kept
        assert "Model's output" not in refine  # the study's slice drops the outputs
        assert "write 2 different improved instructions" in refine
    assert len([p for p in loop.state.prompts.values() if p.step == 1]) == 4


async def test_apo_sum_study_draws_two_combined_samples():
    out = lambda t, p: f"<ANALYSIS>cause {p.sample}</ANALYSIS><START>Rev {p.sample} GOOD<END>"
    loop, events, tp, op = study_loop("apo-sum", {"group the causes": out}, beam=1, init_prompts=1)
    await loop.run(2)
    sent = [p for p in op.prompts if "group the causes" in p]
    assert len(sent) == 2 and all(len(errors_in(p)) == 4 and "Model's output" in p for p in sent)


async def test_promptagent_study_update_holds_the_lineage_errors_and_answers():
    rules = {
        "explain step by step why": "per error ... <START>be precise<END>",
        "path of former instructions": lambda t, p: f"<START>G{p.sample} HALF<END><START>H{p.sample} HALF<END>",
    }
    loop, events, tp, op = study_loop("promptagent", rules, beam=1, init_prompts=1, steps=3)
    await loop.run(3)
    updates = [p for p in op.prompts if "path of former instructions" in p]
    assert len(updates) == 4  # 2 samples per step, 2 steps
    last = updates[-1]
    path = re.findall(r'^\d+\. "(.*)"$', last.split("ending with the current one:\n")[1].split("\n\n")[0], re.M)
    assert path[0] == "Answer." and len(path) == 2  # the initial prompt, then the current one
    assert "Model's output" in last and "Model's answer: wrong" in last and "be precise" in last


async def test_opro_study_request_shows_an_ascending_scored_trajectory_and_beam_errors():
    seen = []

    def out(text, p):
        seen.append(text)
        return f"<INS>New {len(seen)} HALF</INS>"

    loop, events, tp, op = study_loop("opro", {"would score higher": out}, beam=3, steps=3)
    await loop.run(3)
    assert len(seen) == 2 * 3 * 2  # 2 samples per beam member, 3 members, 2 steps
    for text in seen:
        scores = [int(s) for s in re.findall(r"score: (\d+)", text)]
        assert scores == sorted(scores) and scores
        problems = re.findall(r'Input:\n<INS>q(\d+)\nOutput: \{"answer": "(\d+)"\}', text)
        assert problems and all(i == g for i, g in problems)  # each problem with its gold answer
    assert_study_target_requests(tp)


async def test_abo_study_prompt_carries_the_caution_and_the_study_layout():
    demo = lambda t, p: 'Step 1: read. {"answer": "%s"}' % re.search(r"Input:\nq(\d+)", t).group(1)
    combined = lambda t, p: f"<ANALYSIS>step 2 ({p.sample})</ANALYSIS><START>1. Say GOOD {p.sample}.<END>"
    rules = {"Follow the instruction below strictly": demo, "at which step of the instruction": combined}
    loop, events, tp, op = study_loop("abo", rules, beam=1, init_prompts=1)
    await loop.run(2)
    assert len([p for p in op.prompts if "at which step of the instruction" in p]) == 2
    step1 = [p for p in loop.state.prompts.values() if p.step == 1]
    assert len(step1) == 2 and all(p.demonstration.startswith("## Input\nq") for p in step1)
    for messages, _ in tp.requests:
        user = messages[1].content
        assert DEMONSTRATION_CAUTION in user and "#### Examples" in user
        assert user.index(DEMONSTRATION_CAUTION) < user.rindex("## Input")
    analysis = next(p for p in op.prompts if "at which step of the instruction" in p)
    assert DEMONSTRATION_CAUTION not in analysis and "#### Examples" not in analysis  # instruction alone


def test_study_protocol_selects_children_and_has_the_study_sample_counts():
    config = from_dict({"protocol": "study", "method": "apo"})
    assert config.selection_mode == "children" and from_dict({}).selection_mode == "pool"
    assert from_dict({"protocol": "study", "selection": "pool"}).selection_mode == "pool"
    assert (config.n_errors, config.n_per_parent, config.n_samples) == (4, 8, 4)  # released: n=4 × 2 prompts
    intended = from_dict({"protocol": "study", "method": "apo", "sampling": "intended"})
    assert (intended.n_errors, intended.n_per_parent, intended.n_samples) == (4, 4, 2)
    assert [facts_of(m, "study", "intended").per_parent for m in METHODS] == [2, 4, 2, 4, 2, 2, 2, 1]


@pytest.mark.parametrize(
    "values,message",
    [
        ({"protocol": "paper"}, "'protocol' must be one of reflectloop, study"),
        ({"selection": "best"}, "'selection' must be one of children, pool"),
        ({"method": "ape", "errors": 2}, "method 'ape' never sees errors"),
        ({"optimizers": "ape"}, "'ape' is not METHOD=provider:model"),
        ({"optimizers": "apx=openai:gpt-4"}, "unknown method 'apx'"),
        ({"optimizers": "ape=gpt-4"}, "'gpt-4' for ape is not a provider:model spec"),
    ],
)
def test_bad_protocol_settings_are_refused_by_name(values, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_dict(values)


def test_a_per_method_optimizer_is_this_runs_optimizer_spec():
    both = "ape=openai:gpt-3.5-turbo, apo=openai:gpt-4"
    assert from_dict({"method": "ape", "optimizers": both}).optimizer_spec == "openai:gpt-3.5-turbo"
    assert from_dict({"method": "apo", "optimizers": both}).optimizer_spec == "openai:gpt-4"
    assert from_dict({"method": "opro", "optimizers": both, "optimizer": "x:y"}).optimizer_spec == "x:y"
