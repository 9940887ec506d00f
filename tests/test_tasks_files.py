"""Generic JSONL/CSV tasks and malformed files of every format."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from reflectloop.core.tasks import TaskError, load_task


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _rows(n: int, **extra) -> list[dict]:
    return [{"input": f"What is {i} + 1?", "target": str(i + 1), **extra} for i in range(n)]


def _errors(spec: str, **kwargs) -> str:
    with pytest.raises(TaskError) as info:
        load_task(spec, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------- jsonl
def test_jsonl_seeded_split_with_line_number_ids(tmp_path):
    path = _jsonl(tmp_path / "data.jsonl", _rows(100))
    task = load_task(f"jsonl:{path}", dev_size=30, test_size=40, seed=3)
    assert task.name == f"jsonl:{path}"
    assert (len(task.ini), len(task.dev), len(task.test)) == (10, 30, 40)
    ids = [e.id for e in task.ini + task.dev + task.test]
    assert len(set(ids)) == 80 and all(1 <= int(i) <= 100 for i in ids)
    for ex in task.ini + task.dev + task.test:  # line n holds row n - 1
        assert (ex.input, ex.targets) == (f"What is {int(ex.id) - 1} + 1?", (ex.id,))
    assert task == load_task(f"jsonl:{path}", dev_size=30, test_size=40, seed=3)
    assert task.description == "Answer each question of the data set 'data'."
    assert task.answer_hint == "An integer"


def test_jsonl_list_targets_ids_split_and_sidecar(tmp_path):
    rows = [
        {"id": "a", "input": "Count: I have two cats.", "target": ["2", "two"], "split": "ini"},
        {"id": "b", "input": "Count: I have a dog.", "target": 1, "split": "dev"},
        {"id": "c", "input": "Count: I have three owls.", "target": ["3", "three"], "split": "induce"},
        {"id": "d", "input": "Count: I have a cow.", "target": "1", "split": "test"},
    ]
    path = _jsonl(tmp_path / "count.jsonl", rows[:2] + [""] + rows[2:])  # a blank line is skipped
    (tmp_path / "count.description.txt").write_text("Count the animals.\n")
    task = load_task(f"jsonl:{path}")
    assert [e.id for e in task.ini] == ["a"] and task.ini[0].targets == ("2", "two")
    assert [e.id for e in task.dev] == ["b", "c"] and task.dev[0].targets == ("1",)
    assert [e.id for e in task.test] == ["d"]
    assert task.description == "Count the animals."


def test_jsonl_relative_path_is_found_in_data_dir(tmp_path):
    _jsonl(tmp_path / "data.jsonl", _rows(80))
    assert len(load_task("jsonl:data.jsonl", data_dir=tmp_path).dev) == 50


def test_data_too_small_for_a_test_split_is_an_error(tmp_path):
    path = _jsonl(tmp_path / "small.jsonl", _rows(40))
    assert "small.jsonl: 40 examples leave none for testing" in _errors(f"jsonl:{path}")
    assert len(load_task(f"jsonl:{path}", dev_size=20).test) == 10


@pytest.mark.parametrize(
    "lines, fragments",
    [
        ([json.dumps(_rows(1)[0]), "{not json"], ["data.jsonl line 2", "not valid JSON"]),
        ([json.dumps({"input": "q"})], ["data.jsonl line 1", "missing key 'target'", "keys: input"]),
        ([json.dumps({"target": "1"})], ["data.jsonl line 1", "missing key 'input'"]),
        (["[1, 2]"], ["data.jsonl line 1", "expected a JSON object"]),
        ([json.dumps({"input": "q", "target": []})], ["data.jsonl line 1", "empty target"]),
        ([json.dumps({"input": "q", "target": "1", "split": "train"})], ["line 1", "unknown split 'train'"]),
        ([json.dumps({"input": "", "target": "1"})], ["data.jsonl line 1", "'input'"]),
        ([], ["data.jsonl", "empty file"]),
        (["", "   "], ["data.jsonl", "empty file"]),
    ],
)
def test_malformed_jsonl_names_file_line_and_problem(tmp_path, lines, fragments):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines))
    message = _errors(f"jsonl:{path}")
    for fragment in fragments:
        assert fragment in message


def test_jsonl_duplicate_ids_and_partial_split_are_refused(tmp_path):
    dup = _jsonl(tmp_path / "dup.jsonl", [{"id": "x", "input": "a", "target": "1"}] * 2)
    assert "dup.jsonl line 2: duplicate id 'x'" in _errors(f"jsonl:{dup}")
    partial = _jsonl(tmp_path / "part.jsonl", [{"input": "a", "target": "1", "split": "dev"},
                                                {"input": "b", "target": "2"}])
    assert "part.jsonl line 2: no 'split' value" in _errors(f"jsonl:{partial}")
    no_dev = _jsonl(tmp_path / "nodev.jsonl", [{"input": "a", "target": "1", "split": "test"}])
    assert "nodev.jsonl" in _errors(f"jsonl:{no_dev}")


# ----------------------------------------------------------------------- csv
def test_csv_targets_pipe_and_json_list_and_split(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        "input,target,split\n"
        '"Sort: b, a","a b",ini\n'
        "How many legs has a cat?,4|four,dev\n"
        'How many wheels has a bike?,"[""2"", ""two""]",dev\n'
        '"Close: [ (",") ]",test\n'
        '"A question\nover two lines",yes,test\n'
    )
    task = load_task(f"csv:{path}")
    assert task.ini[0].targets == ("a b",) and task.ini[0].id == "2"
    assert [e.targets for e in task.dev] == [("4", "four"), ("2", "two")]
    assert task.test[0].targets == (") ]",)
    assert task.test[1].input == "A question\nover two lines"
    assert [e.id for e in task.test] == ["5", "7"]  # line numbers, a quoted field spans two


def test_csv_seeded_split_and_id_column(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("id,input,target\n" + "".join(f"q{i},Question {i}?,{i}\n" for i in range(70)))
    task = load_task(f"csv:{path}", seed=9, dev_size=20, test_size=30)
    assert (len(task.ini), len(task.dev), len(task.test)) == (10, 20, 30)
    assert all(e.id == f"q{e.input.split()[1][:-1]}" for e in task.dev)
    assert task == load_task(f"csv:{path}", seed=9, dev_size=20, test_size=30)


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("input,label\nq,1\n", ["data.csv: missing column 'target' (columns: input, label)"]),
        ("question,target\nq,1\n", ["data.csv: missing column 'input' (columns: question, target)"]),
        ("", ["data.csv: empty file"]),
        ("input,target\n", ["data.csv: no examples"]),
        ("input,target\nq,\n", ["data.csv line 2", "empty target"]),
        ("input,target\n,1\n", ["data.csv line 2", "empty 'input'"]),
        ("input,target,split\nq,1,validation\n", ["data.csv line 2", "unknown split 'validation'"]),
    ],
)
def test_malformed_csv_names_file_and_problem(tmp_path, text, fragments):
    path = tmp_path / "data.csv"
    path.write_text(text)
    message = _errors(f"csv:{path}")
    for fragment in fragments:
        assert fragment in message


# --------------------------------------------------------- malformed paper/bbh
def _paper_root(tmp_path: Path, ini_examples: dict) -> Path:
    good = {"task_desc": "Add one.", "examples": {"1": {"input": "1 + 1?", "output": ["2", "two"]}}}
    for folder in ("ini", "induce", "execute"):
        (tmp_path / folder).mkdir()
        data = dict(good, examples=ini_examples) if folder == "ini" else good
        (tmp_path / folder / "add.json").write_text(json.dumps(data))
    return tmp_path


@pytest.mark.parametrize(
    "examples, message",
    [
        ({"1": {"input": "q", "output": ["1"]}, "3": {"input": "q"}}, "ini/add.json: example '3' has no 'output' list"),
        ({"3": {"input": "q", "output": "1"}}, "ini/add.json: example '3' has no 'output' list"),
        ({"3": {"output": ["1"]}}, "ini/add.json: example '3' has no 'input' text"),
        ({"3": {"input": "q", "output": []}}, "ini/add.json: example '3': no accepted answer"),
        ({}, "ini/add.json: no examples"),
    ],
)
def test_malformed_paper_example_names_file_and_example(tmp_path, examples, message):
    root = _paper_root(tmp_path, examples)
    assert message in _errors("paper:add", data_dir=root)


def test_paper_file_that_is_not_json(tmp_path):
    root = _paper_root(tmp_path, {"1": {"input": "q", "output": ["1"]}})
    (root / "execute" / "add.json").write_text('{"examples": {')
    assert "execute/add.json: not valid JSON" in _errors("paper:add", data_dir=root)


def test_paper_without_initial_prompts_and_with_bad_ones(tmp_path):
    root = _paper_root(tmp_path, {"1": {"input": "q", "output": ["1"]}})
    task = load_task("paper:add", data_dir=root)
    assert task.initial_prompts == () and task.description == "Add one."
    (root / "initial_prompts").mkdir()
    (root / "initial_prompts" / "add.json").write_text('{"prompt": "x"}')
    assert "initial_prompts/add.json: expected a JSON list" in _errors("paper:add", data_dir=root)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"examples": []}', "broken.json: no examples"),
        ('{"examples": [{"input": "q"}]}', "broken.json: example 0 has no 'target'"),
        ('{"examples": [{"target": "A"}]}', "broken.json: example 0 has no 'input' text"),
        ('{"examples": [{"input": "q", "target": "A"}', "broken.json: not valid JSON"),
    ],
)
def test_malformed_bbh_file_names_file_and_problem(tmp_path, content, message):
    (tmp_path / "broken.json").write_text(content)
    assert message in _errors("bbh:broken", data_dir=tmp_path)
