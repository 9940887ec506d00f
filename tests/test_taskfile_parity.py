"""The study's four tasks and BBH through a task file (``[data] spec``, the
QA shape) score exactly as through their own loaders: the same examples, and
for the same recorded outputs the same answer, correctness, format following
and prompt score, under both protocols."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from reflectloop.core.evaluation.evaluate import evaluate
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.tasks import load_task
from reflectloop.core.types import Params, Prompt
from tests.scripted import Reply, cut, scripted_llm

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TASKS = [
    "paper:object_counting", "paper:navigate", "paper:snarks", "paper:question_selection",
    "bbh:snarks", "bbh:object_counting", "bbh:dyck_languages", "bbh:word_sorting", "bbh:navigate",
    "bbh:sports_understanding", "bbh:multistep_arithmetic_two",
]
TASK_FILE = {
    "reflectloop": '[data]\nspec = "{spec}"\n',
    "study": '[data]\nspec = "{spec}"\n\n[output]\nkind = "answer"\nprotocol = "study"\n\n[metric]\nkind = "study_exact"\n',
}
# Where each request puts the example's input.
INPUT = (re.compile(r"Input:\n(.*)\n\nGive your final answer", re.S), re.compile(r"## Input\n(.*)\n## Output\n$", re.S))


def recorded(gold: str, wrong: str, pick: int) -> Reply:
    """The kinds of output target models write: the JSON answer, right and
    wrong, prose, a bare answer, a first-line answer with reasons, a cut reply."""
    forms = [
        Reply(json.dumps({"answer": gold})),
        Reply(json.dumps({"answer": wrong})),
        Reply(f"Let me think step by step.\nThe answer is {gold}."),
        Reply(gold),
        Reply(f"{gold}. Because the question says so."),
        Reply(f"Reasoning first.\n{{'answer': '{gold}'}}"),
        cut(f'Step 1: read the input. Step 2: the answer is {{"answer": "{gold}'),
        Reply(""),
    ]
    return forms[pick % len(forms)]


def outputs_for(examples) -> dict[str, Reply]:
    """One recorded output per example, chosen by its id so both paths see the same."""
    out = {}
    for ex in examples:
        pick = int(hashlib.sha256(ex.id.encode()).hexdigest(), 16)
        wrong = "no" if ex.targets[0].casefold() != "no" else "yes"
        out[ex.input] = recorded(ex.targets[0], wrong, pick)
    return out


def target_for(replies: dict[str, Reply]):
    def answer(text: str, params: Params) -> Reply:
        for pattern in INPUT:
            found = pattern.search(text)
            if found and found.group(1) in replies:
                return replies[found.group(1)]
        raise AssertionError(f"no recorded output for {text[-200:]!r}")

    return answer


def available(spec: str) -> bool:
    prefix, _, name = spec.partition(":")
    folder = DATA / prefix
    return (folder / f"{name}.json").is_file() if prefix == "bbh" else (folder / "induce" / f"{name}.json").is_file()


@pytest.mark.parametrize("protocol", ["reflectloop", "study"])
@pytest.mark.parametrize("spec", TASKS)
async def test_a_task_through_a_task_file_scores_as_through_its_loader(tmp_path, spec, protocol):
    if not available(spec):
        pytest.skip(f"{spec} is not in {DATA}")
    path = tmp_path / "task.toml"
    path.write_text(TASK_FILE[protocol].format(spec=spec))
    sizes = dict(data_dir=DATA, seed=3, dev_size=24, test_size=8)
    old, new = load_task(spec, **sizes), load_task(f"file:{path}", **sizes)
    assert [(e.id, e.input, e.targets) for e in new.dev] == [(e.id, e.input, e.targets) for e in old.dev]

    examples = old.dev + old.test
    target, _ = scripted_llm("fake:target", target_for(outputs_for(examples)), role="target", cache=MemoryCache())
    prompt = Prompt("p", "Answer the question.")
    before = await evaluate(target, prompt, examples, split="dev", params=Params(), protocol=protocol)
    after = await evaluate(target, prompt, new.dev + new.test, split="dev", params=Params(), protocol=protocol,
                           scorer=new.scorer)
    assert [(r.example_id, r.output) for r in after.results] == [(r.example_id, r.output) for r in before.results]
    for b, a in zip(before.results, after.results):
        assert (a.answer, a.correct, a.followed_format) == (b.answer, b.correct, b.followed_format), a.output
        assert a.score == float(b.correct)
    assert after.score == before.score
    assert {r.correct for r in before.results} == {True, False}  # the outputs test both outcomes
