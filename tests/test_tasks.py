"""Loading the study's data and BIG-Bench Hard, the registry and its errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reflectloop.core.evaluation.scoring import score_output
from reflectloop.core.tasks import TaskError, list_tasks, load_task

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PAPER_TASKS = ("navigate", "object_counting", "snarks", "question_selection")
BBH_TASKS = ("navigate", "object_counting", "snarks", "sports_understanding", "dyck_languages",
             "word_sorting", "multistep_arithmetic_two", "formal_fallacies", "geometric_shapes")


def _raw_paper(split: str, name: str) -> dict:
    return json.loads((DATA / "paper" / split / f"{name}.json").read_text())


# --------------------------------------------------------------------- paper
@pytest.mark.parametrize("name", PAPER_TASKS)
def test_paper_task_loads_with_study_splits(name):
    task = load_task(f"paper:{name}", data_dir=DATA)
    execute = _raw_paper("execute", name)["examples"]
    assert task.name == f"paper:{name}"
    assert (len(task.ini), len(task.dev)) == (10, 50)
    assert len(task.test) == min(200, len(execute))
    assert task.description == _raw_paper("induce", name)["task_desc"].strip()
    assert len(task.initial_prompts) == 10
    first = task.ini[0]
    assert first.id == "ini/1"
    assert first.targets == tuple(_raw_paper("ini", name)["examples"]["1"]["output"])
    assert all(e.id.startswith("induce/") for e in task.dev)
    assert all(e.id.startswith("execute/") for e in task.test)
    assert all(e.targets and all(isinstance(t, str) and t for t in e.targets) for e in task.test)


@pytest.mark.parametrize("form", ['{"answer": "%s"}', "json.dumps"])
@pytest.mark.parametrize("name", PAPER_TASKS)
def test_every_paper_gold_answer_scores_correct(name, form):
    """The scorer against the real data: each accepted gold string, given as
    the answer, is followed-format and correct."""
    for split in ("ini", "induce", "execute"):
        for key, ex in _raw_paper(split, name)["examples"].items():
            for gold in ex["output"]:
                output = json.dumps({"answer": gold}) if form == "json.dumps" else form % gold
                answer, correct, followed = score_output(output, ex["output"])
                assert (correct, followed) == (True, True), (split, key, output, answer)


def test_paper_wrong_answers_score_wrong():
    task = load_task("paper:navigate", data_dir=DATA)
    for ex in task.dev:
        wrong = "B" if ex.targets[0] == "A" else "A"
        assert score_output('{"answer": "%s"}' % wrong, ex.targets)[1] is False


def test_paper_sizes_cut_by_seeded_sample_in_stable_order():
    full = load_task("paper:object_counting", data_dir=DATA)
    cut = load_task("paper:object_counting", data_dir=DATA, dev_size=20, test_size=30, seed=1)
    again = load_task("paper:object_counting", data_dir=DATA, dev_size=20, test_size=30, seed=1)
    other = load_task("paper:object_counting", data_dir=DATA, dev_size=20, test_size=30, seed=2)
    assert (len(cut.dev), len(cut.test)) == (20, 30)
    assert cut == again
    assert [e.id for e in cut.dev] != [e.id for e in other.dev]
    order = [e.id for e in full.dev]
    positions = [order.index(e.id) for e in cut.dev]
    assert positions == sorted(positions)
    assert set(cut.test) <= set(full.test)


def test_paper_accepts_the_parent_folder_or_the_paper_folder():
    assert load_task("paper:snarks", data_dir=DATA) == load_task("paper:snarks", data_dir=DATA / "paper")


# ----------------------------------------------------------------------- bbh
@pytest.mark.parametrize("name", BBH_TASKS)
def test_bbh_split_is_disjoint_seeded_and_deterministic(name):
    raw = json.loads((DATA / "bbh" / f"{name}.json").read_text())["examples"]
    task = load_task(f"bbh:{name}", data_dir=DATA, seed=5)
    ids = [[e.id for e in split] for split in (task.ini, task.dev, task.test)]
    assert [len(i) for i in ids] == [10, 50, min(200, len(raw) - 60)]
    assert len(set().union(*map(set, ids))) == sum(map(len, ids))  # disjoint
    for ex in task.dev + task.test:
        assert ex.input == raw[int(ex.id)]["input"]
        assert ex.targets[0] == raw[int(ex.id)]["target"]
    assert load_task(f"bbh:{name}", data_dir=DATA, seed=5) == task
    assert [e.id for e in load_task(f"bbh:{name}", data_dir=DATA, seed=6).dev] != ids[1]


@pytest.mark.parametrize("name", BBH_TASKS)
def test_bbh_gold_answers_score_correct(name):
    task = load_task(f"bbh:{name}", data_dir=DATA)
    for ex in task.ini + task.dev + task.test:
        for gold in ex.targets:
            assert score_output(json.dumps({"answer": gold}), ex.targets)[1:] == (True, True), (ex.id, gold)


def test_bbh_dev_does_not_change_with_test_size():
    small = load_task("bbh:navigate", data_dir=DATA, test_size=20)
    large = load_task("bbh:navigate", data_dir=DATA, test_size=150)
    assert small.dev == large.dev and small.ini == large.ini
    assert len(small.test) == 20 and set(small.test) <= set(large.test)


def test_bbh_description_comes_from_the_cot_prompt():
    assert load_task("bbh:navigate", data_dir=DATA).description == (
        "Given a series of navigation instructions, determine whether one would end up back at the "
        "starting point."
    )
    assert load_task("bbh:temporal_sequences", data_dir=DATA).description.startswith("Answer questions")


def test_bbh_variants_follow_the_answer_style():
    geo = load_task("bbh:geometric_shapes", data_dir=DATA)
    ex = geo.dev[0]
    letter = ex.targets[0].strip("()")
    option = next(line for line in ex.input.splitlines() if line.startswith(f"({letter})"))
    assert ex.targets[:2] == (f"({letter})", letter)
    assert option[4:] in ex.targets
    counting = load_task("bbh:object_counting", data_dir=DATA).dev[0]
    assert len(counting.targets) == 2 and counting.targets[1].isalpha()
    dyck = load_task("bbh:dyck_languages", data_dir=DATA)
    spaced = next(e for e in dyck.dev if " " in e.targets[0])
    assert spaced.targets[0].replace(" ", "") in spaced.targets
    assert load_task("bbh:sports_understanding", data_dir=DATA).dev[0].targets in (("yes",), ("no",))


def test_bbh_without_cot_prompts_gets_a_generic_description(tmp_path):
    examples = [{"input": f"Is {i} even?", "target": "Yes" if i % 2 == 0 else "No"} for i in range(30)]
    (tmp_path / "parity.json").write_text(json.dumps({"canary": "x", "examples": examples}))
    task = load_task("bbh:parity", data_dir=tmp_path, dev_size=10, test_size=10)
    assert "parity" in task.description
    assert (len(task.ini), len(task.dev), len(task.test)) == (10, 10, 10)
    assert task.answer_hint in ('One of: "Yes", "No"', 'One of: "No", "Yes"')


# -------------------------------------------------------------- answer hints
@pytest.mark.parametrize(
    "spec, hint",
    [
        ("paper:navigate", 'A letter: "A" or "B"'),
        ("paper:object_counting", "An integer"),
        ("bbh:hyperbaton", 'A letter: "(A)" or "(B)"'),
        ("bbh:logical_deduction_three_objects", 'A letter from "(A)" to "(C)"'),
        ("bbh:multistep_arithmetic_two", "An integer"),
    ],
)
def test_answer_hint_is_derived_from_the_data(spec, hint):
    assert load_task(spec, data_dir=DATA).answer_hint == hint


def test_answer_hint_for_free_text_shows_an_example():
    hint = load_task("bbh:word_sorting", data_dir=DATA).answer_hint
    assert hint.startswith("Free text, e.g.")


# ------------------------------------------------------------------ registry
def test_list_tasks_detects_each_layout(tmp_path):
    gens = ["gen:navigate", "gen:object_counting"]
    assert list_tasks() == gens
    assert list_tasks(tmp_path) == gens
    both = list_tasks(DATA)
    assert both[:2] == gens
    assert {f"paper:{n}" for n in PAPER_TASKS} <= set(both)
    assert {f"bbh:{n}" for n in BBH_TASKS} <= set(both)
    assert list_tasks(DATA / "paper") == gens + sorted(f"paper:{n}" for n in PAPER_TASKS)
    bbh_only = list_tasks(DATA / "bbh")
    assert "bbh:navigate" in bbh_only and not any(s.startswith("paper:") for s in bbh_only)


def test_every_listed_task_loads():
    for spec in list_tasks(DATA):
        task = load_task(spec, data_dir=DATA, dev_size=5, test_size=5)
        assert len(task.dev) == 5 and len(task.test) == 5 and task.description


@pytest.mark.parametrize(
    "spec, data_dir, fragments",
    [
        ("paper:navigate", None, ["paper:navigate", "--data-dir"]),
        ("bbh:navigate", None, ["bbh:navigate", "--data-dir"]),
        ("paper:nope", DATA, ["nope", "navigate, object_counting, question_selection, snarks"]),
        ("bbh:date_understanding", DATA, ["date_understanding", "word_sorting"]),
        ("gen:chess", None, ["chess", "gen:navigate", "gen:object_counting"]),
        ("hf:something", DATA, ["'hf'", "jsonl:PATH", "paper:snarks", "bbh:navigate"]),
        ("navigate", None, ["'navigate'", "gen:NAME"]),
        ("paper:navigate", "/nonexistent/dir", ["no paper tasks", "/nonexistent/dir"]),
        ("jsonl:/nonexistent/data.jsonl", None, ["data.jsonl", "not found"]),
    ],
)
def test_bad_specs_name_what_exists(spec, data_dir, fragments):
    with pytest.raises(TaskError) as info:
        load_task(spec, data_dir=data_dir)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_negative_sizes_are_refused():
    with pytest.raises(TaskError, match="negative"):
        load_task("gen:navigate", dev_size=-1)
