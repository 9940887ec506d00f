"""Task files: parsing, the shipped examples, the data formats and splits,
and every bad input with its message."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from reflectloop.core.evaluation.prompting import target_messages
from reflectloop.core.tasks import TaskError, load_task
from reflectloop.core.tasks.taskfile import load_task_file
from reflectloop.core.types import Prompt

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

ROWS = [
    {"id": "a", "title": "Late parcel", "body": "Where is it?", "label": "shipping"},
    {"id": "b", "title": "Refund", "body": "Money back please", "label": "billing"},
    {"id": "c", "title": "Crash", "body": "App closes", "label": "technical"},
]
BASE = """
prompts = ["Route the ticket."]

[data]
path = "rows.jsonl"
inputs = ["title", "body"]
target = "label"
id = "id"

[messages]
system = "{prompt}"
user = "Title: {title}\\n{body}"

[output]
kind = "label"
labels = ["shipping", "billing", "technical"]

[metric]
kind = "label"
"""


def write(folder: Path, toml: str, rows=ROWS, name="rows.jsonl") -> Path:
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder / "task.toml"
    path.write_text(textwrap.dedent(toml))
    return path


def error(path: Path) -> str:
    with pytest.raises(TaskError) as caught:
        load_task_file(path)
    return str(caught.value)


# ----------------------------------------------------------------- parsing
def test_a_task_file_parses_into_a_spec(tmp_path):
    spec = load_task_file(write(tmp_path, BASE))
    assert spec.name == "task" and spec.prompts == ("Route the ticket.",)
    assert [e.id for e in spec.examples] == ["a", "b", "c"]
    assert spec.examples[1].fields == {"title": "Refund", "body": "Money back please"}
    assert spec.examples[1].targets == ("billing",)
    assert spec.scorer.metric.kind == "label" and spec.scorer.threshold == 1.0
    assert spec.warnings == ()
    messages = spec.messages("Route {it}.", spec.examples[0])
    assert [(m.role, m.content) for m in messages] == [("system", "Route {it}."), ("user", "Title: Late parcel\nWhere is it?")]


@pytest.mark.parametrize(
    "folder, metric, contract, rows",
    [("ticket-routing", "label", "label", 40), ("contact-extraction", "json_fields", "json", 36), ("plain-explanations", "judge", "raw", 30)],
)
def test_the_shipped_examples_load(folder, metric, contract, rows):
    spec = load_task_file(EXAMPLES / folder / "task.toml")
    assert (spec.scorer.metric.kind, spec.scorer.contract.kind, len(spec.examples)) == (metric, contract, rows)
    assert spec.warnings == ()
    splits = spec.splits(seed=3, ini_size=5, dev_size=8, test_size=8)
    ids = [e.id for split in ("ini", "dev", "test") for e in splits[split]]
    assert [len(splits[s]) for s in ("ini", "dev", "test")] == [5, 8, 8] and len(set(ids)) == 21
    assert splits == spec.splits(seed=3, ini_size=5, dev_size=8, test_size=8)


def test_few_shot_block_sits_between_system_and_user(tmp_path):
    toml = BASE.replace(
        '[output]', '[[messages.few_shot]]\nuser = "Title: Lost card"\nassistant = "{\\"q\\": 1}"\n\n[output]'
    )
    spec = load_task_file(write(tmp_path, toml))
    roles = [(m.role, m.content) for m in spec.messages("P", spec.examples[0])]
    assert roles[1:3] == [("user", "Title: Lost card"), ("assistant", '{"q": 1}')]
    assert spec.template.describe().endswith("1 fixed example exchanges come before the user message.")


def test_prompt_files_and_defaults(tmp_path):
    (tmp_path / "start.txt").write_text("  From a file.\n")
    toml = BASE.replace('prompts = ["Route the ticket."]', 'name = "mine"\nprompt_files = ["start.txt"]')
    spec = load_task_file(write(tmp_path, toml))
    assert spec.name == "mine" and spec.prompts == ("From a file.",)


def test_a_data_spec_without_messages_takes_the_study_qa_shape(tmp_path):
    """Today's tasks through a task file: the same target request as core.evaluation.prompting."""
    path = tmp_path / "task.toml"
    path.write_text('[data]\nspec = "gen:navigate"\n')
    spec = load_task_file(path)
    assert (spec.scorer.contract.kind, spec.scorer.metric.kind) == ("answer", "exact")
    with pytest.raises(TypeError, match="pass load_spec"):  # the registry hands its loader down
        spec.splits(seed=1, ini_size=2, dev_size=3, test_size=2)
    splits = spec.splits(seed=1, ini_size=2, dev_size=3, test_size=2, load_spec=load_task)
    task = load_task("gen:navigate", seed=1, ini_size=2, dev_size=3, test_size=2)
    assert [e.id for e in splits["dev"]] == [e.id for e in task.dev]
    example, original = splits["dev"][0], task.dev[0]
    assert example.targets == original.targets
    prompt = Prompt("p0", "Follow the steps {carefully}.")
    assert spec.messages(prompt.instruction, example) == target_messages(prompt, original)


def test_csv_with_json_targets_separator_and_split_column(tmp_path):
    (tmp_path / "rows.csv").write_text(
        'q,gold,part\nfirst,"{""a"": 1}",dev\nsecond,"{""a"": 2}",test\nthird,"{""a"": 3}",ini\n'
    )
    path = tmp_path / "task.toml"
    path.write_text(
        '[data]\npath = "rows.csv"\ninputs = ["q"]\ntarget = "gold"\nsplit = "part"\n'
        '[messages]\nuser = "{prompt} {q}"\n[output]\nkind = "json"\n[metric]\nkind = "json_fields"\n'
    )
    spec = load_task_file(path)
    assert [e.target for e in spec.examples] == [{"a": 1}, {"a": 2}, {"a": 3}]
    splits = spec.splits(seed=0, ini_size=5, dev_size=5, test_size=5)
    assert [[e.fields["q"] for e in splits[s]] for s in ("ini", "dev", "test")] == [["third"], ["first"], ["second"]]
    (tmp_path / "rows.csv").write_text("q,gold\nx,yes|y\n")
    path.write_text(
        '[data]\npath = "rows.csv"\ninputs = ["q"]\ntarget = "gold"\ntarget_separator = "|"\n[messages]\nuser = "{prompt} {q}"\n'
    )
    assert load_task_file(path).examples[0].targets == ("yes", "y")


def test_parquet_data(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"q": "one", "n": 1}, {"q": "two", "n": 2}]), tmp_path / "rows.parquet")
    path = tmp_path / "task.toml"
    path.write_text('[data]\npath = "rows.parquet"\ninputs = ["q"]\ntarget = "n"\n[messages]\nuser = "{prompt}: {q}"\n[metric]\nkind = "numeric"\n')
    spec = load_task_file(path)
    assert [(e.id, e.fields["q"], e.targets) for e in spec.examples] == [("1", "one", ("1",)), ("2", "two", ("2",))]
    (tmp_path / "rows.parquet").write_text("not parquet")
    assert "rows.parquet: not a readable Parquet file" in error(path)


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "old, new, message",
    [
        ('[metric]', 'colour = "red"\n[metric]', "task.toml: [output]: unknown key 'colour' (known: labels, lenient, violation_score)"),
        ('prompts =', 'promts = ["x"]\nprompts =', "task.toml: unknown key 'promts' in the task file (known: name, description, prompts, prompt_files, data, messages, output, metric)"),
        ('id = "id"', 'id = "id"\ncolumns = 3', "task.toml: unknown key 'columns' in [data] (known: path, spec, format, inputs, target, split, id, target_separator)"),
        ('user = "Title', 'assistant = "x"\nuser = "Title', "task.toml: unknown key 'assistant' in [messages] (known: system, user, few_shot)"),
        ('[metric]\nkind = "label"', '[metric]\nkind = "label"\nthreshold = 2', "task.toml: [metric] threshold (the score under which an example is an error) must be in (0, 1], got 2.0"),
        ('Title: {title}', 'Title: {subject}', "task.toml: the user template has the slot {subject}, but no input field 'subject' (inputs: title, body)"),
        ('system = "{prompt}"', 'system = "Be brief."', "task.toml: no {prompt} slot: put {prompt} where the text being optimized goes"),
        ('\\n{body}', '\\n{body} {prompt}', "task.toml: 2 {prompt} slots: the text being optimized goes in one place"),
        ('\\n{body}', '\\n{body:>10}', "task.toml: the user template has the slot {body:>10}: formats and conversions are not supported"),
        ('target = "label"\n', '', "task.toml: the label metric compares with a gold answer: name its column as [data] target"),
        ('path = "rows.jsonl"', 'path = "rows.txt"', "task.toml: [data] format 'txt' is not one of jsonl, csv, parquet"),
        ('path = "rows.jsonl"', 'path = "rows.jsonl"\nspec = "gen:navigate"', "task.toml: [data] needs either path"),
        ('inputs = ["title", "body"]', 'inputs = []', "task.toml: [data] inputs must name the input columns"),
        ('prompts = ["Route the ticket."]', 'prompt_files = ["gone.txt"]', "task.toml: prompt file 'gone.txt' not found"),
        ('labels = ["shipping", "billing", "technical"]', 'labels = ["shipping", "billing"]', "task.toml: example 'c': gold label 'technical' is not one of the output labels: shipping, billing"),
        ('kind = "label"\nlabels', 'kind = "json"\nlabels', "task.toml: [output]: unknown key 'labels' (known: schema, schema_file, violation_score)"),
    ],
)
def test_bad_task_files(tmp_path, old, new, message):
    assert old in BASE
    assert error(write(tmp_path, BASE.replace(old, new, 1))).startswith(message)


def test_a_field_no_template_uses_is_a_warning(tmp_path):
    spec = load_task_file(write(tmp_path, BASE.replace("\\n{body}", "")))
    assert spec.warnings == ("task.toml: the input field 'body' is used by no template",)


def test_bad_rows_name_their_line(tmp_path):
    rows = ROWS[:2] + [{"id": "c", "title": "Crash", "label": "technical"}]
    assert error(write(tmp_path, BASE, rows)) == "rows.jsonl line 3: missing column 'body' (columns: id, title, label)"
    rows = ROWS[:2] + [dict(ROWS[2], id="a")]
    assert error(write(tmp_path, BASE, rows)) == "rows.jsonl line 3: duplicate id 'a' (also at rows.jsonl line 1)"
    rows = ROWS[:2] + [dict(ROWS[2], label="  ")]
    assert error(write(tmp_path, BASE, rows)) == "rows.jsonl line 3: no accepted answer (empty target)"
    path = write(tmp_path, BASE)
    (tmp_path / "rows.jsonl").write_text('{"id": "a"\n')
    assert error(path).startswith("rows.jsonl line 1: not valid JSON")


def test_a_split_column_must_name_every_row(tmp_path):
    rows = [dict(ROWS[0], part="dev"), dict(ROWS[1], part="test"), dict(ROWS[2], part="")]
    spec = load_task_file(write(tmp_path, BASE.replace('id = "id"', 'id = "id"\nsplit = "part"'), rows))
    with pytest.raises(TaskError, match="rows.jsonl: example 'c' has no split, but other rows have one"):
        spec.splits(seed=0, ini_size=0, dev_size=1, test_size=1)
    rows[2]["part"] = "later"
    assert error(write(tmp_path, BASE.replace('id = "id"', 'id = "id"\nsplit = "part"'), rows)) == (
        "rows.jsonl line 3: unknown split 'later' (use one of: ini, dev, test)"
    )


def test_json_fields_needs_object_targets(tmp_path):
    toml = BASE.replace('kind = "label"\nlabels = ["shipping", "billing", "technical"]', 'kind = "json"').replace(
        '[metric]\nkind = "label"', '[metric]\nkind = "json_fields"'
    )
    assert error(write(tmp_path, toml)) == "task.toml: example 'a': the json_fields metric needs a JSON object target, got 'shipping'"


def test_not_toml_and_missing_file(tmp_path):
    path = tmp_path / "task.toml"
    path.write_text("[data\npath = 1")
    assert error(path).startswith("task.toml: not valid TOML:")
    assert error(tmp_path / "none.toml").startswith("none.toml: task file not found")
    path.write_text('[data]\nspec = "gen:navigate"\ninputs = ["question"]\n')
    assert error(path) == "task.toml: a [data] spec has the field 'input' and the target 'target' only"


def test_a_python_metric_that_fails_to_import_names_the_task_file(tmp_path):
    (tmp_path / "scoring_mod_broken.py").write_text("raise RuntimeError('half written')\n")
    toml = BASE.replace('[metric]\nkind = "label"', '[metric]\nkind = "python"\nfunction = "scoring_mod_broken:score"')
    assert error(write(tmp_path, toml)) == (
        "task.toml: [metric]: metric module 'scoring_mod_broken' cannot be imported: RuntimeError: half written"
    )


# ------------------------------------------------------ the registry's file:
def test_file_specs_load_as_tasks_with_fields_target_and_prompts(tmp_path):
    rows = [{**r, "id": f"{r['id']}{i}"} for i in range(6) for r in ROWS]
    folder = tmp_path / "tickets"
    folder.mkdir()
    write(folder, BASE, rows)
    task = load_task("file:tickets/task.toml", data_dir=tmp_path, ini_size=2, dev_size=4, test_size=4)
    assert task.name == f"file:{folder / 'task.toml'}" and task.taskfile.path == folder / "task.toml"
    assert task.initial_prompts == ("Route the ticket.",)
    assert (len(task.ini), len(task.dev), len(task.test)) == (2, 4, 4)
    ex = task.dev[0]
    row = next(r for r in rows if r["id"] == ex.id)
    assert ex.fields == {"title": row["title"], "body": row["body"]} and ex.targets == (row["label"],)
    assert ex.input == f"title: {row['title']}\nbody: {row['body']}"
    assert task.answer_hint == "exactly one of the labels: shipping, billing, technical"


def test_a_data_spec_naming_another_task_file_loads_through_the_registry(tmp_path):
    """The registry hands its loader down, so a data spec may name any task, a task file too."""
    rows = [{**r, "id": f"{r['id']}{i}"} for i in range(6) for r in ROWS]
    (tmp_path / "tickets").mkdir()
    write(tmp_path / "tickets", BASE, rows)
    (tmp_path / "outer.toml").write_text('[data]\nspec = "file:tickets/task.toml"\n')
    sizes = dict(data_dir=tmp_path, seed=2, ini_size=2, dev_size=4, test_size=4)
    outer, inner = load_task("file:outer.toml", **sizes), load_task("file:tickets/task.toml", **sizes)
    assert [e.id for e in outer.dev] == [e.id for e in inner.dev]
    assert [e.input for e in outer.dev] == [e.input for e in inner.dev]
    assert [e.targets for e in outer.test] == [e.targets for e in inner.test]


def test_task_files_in_the_data_folder_are_listed_and_load(tmp_path):
    from reflectloop.core.tasks import list_tasks

    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        write(tmp_path / name, BASE, [{**r, "id": f"{r['id']}{i}"} for i in range(8) for r in ROWS])
    listed = [s for s in list_tasks(tmp_path) if s.startswith("file:")]
    assert listed == [f"file:{tmp_path / 'one' / 'task.toml'}", f"file:{tmp_path / 'two' / 'task.toml'}"]
    assert all(load_task(s, dev_size=4, test_size=4).taskfile is not None for s in listed)
    with pytest.raises(TaskError, match="task file not found"):
        load_task(f"file:{tmp_path / 'three' / 'task.toml'}")
