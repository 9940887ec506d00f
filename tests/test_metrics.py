"""Each metric and output contract on known values, partial credit, macro-F1
on a hand-made confusion, and each bad input with its message."""
from __future__ import annotations

import asyncio
import math
import sys

import pytest

from reflectloop.core.metrics import MetricError, MetricResult, Scorer, TaskExample, build_contract, build_metric
from reflectloop.core.metrics.label import label_f1
from reflectloop.core.evaluation.scoring import score_output


def ex(targets=(), target=None, id="e1", **fields) -> TaskExample:
    targets = tuple(targets)
    return TaskExample(id, fields or {"input": "q"}, targets, target if target is not None else list(targets))


def measure(table: dict, value, example: TaskExample | None = None, base_dir: str = "") -> MetricResult:
    metric = build_metric(table, base_dir=base_dir)
    return asyncio.run(metric.score(example or ex(["x"]), value))


# ------------------------------------------------------------- exact match
@pytest.mark.parametrize(
    "got, targets, score",
    [("(A)", ["A"], 1.0), ("fourteen", ["14"], 1.0), (" Paris. ", ["paris"], 1.0), ("B", ["A", "(C)"], 0.0), ("14.0", ["14"], 1.0)],
)
def test_exact_match_normalizes_like_todays_scoring(got, targets, score):
    assert measure({"kind": "exact"}, got, ex(targets)).score == score


def test_exact_match_feedback_names_the_gold_and_the_output():
    result = measure({"kind": "exact"}, "Lyon", ex(["Paris", "paris, france"]))
    assert result.score == 0.0
    assert "'Paris'" in result.feedback and "1 other accepted answers" in result.feedback and "'Lyon'" in result.feedback


RECORDED = [
    ('Let me think. {"answer": "(B)"}', ["(B)", "B"]),
    ("The answer is 14 because I counted.", ["14", "fourteen"]),
    ('{"answer": "No"}', ["Yes"]),
    ("I am not sure", ["True"]),
    ('{"answer": "sarcastic remark"} and more', ["sarcastic remark"]),
    ("Navigate: yes. I end where I began.", ["Yes"]),
    ("", ["valid"]),
    ('Answer: "sarcastic"', ["(A)"]),
    ('{"result": {"answer": 7}}', ["7"]),
]


@pytest.mark.parametrize("truncated", [False, True])
@pytest.mark.parametrize("protocol, metric", [("reflectloop", "exact"), ("study", "study_exact")])
@pytest.mark.parametrize("output, targets", RECORDED)
def test_answer_contract_with_exact_match_scores_as_score_output(output, targets, protocol, metric, truncated):
    """The study's tasks score the same through the new path as through core.evaluation.scoring."""
    scorer = Scorer(build_contract({"kind": "answer", "protocol": protocol}), build_metric({"kind": metric}))
    result = asyncio.run(scorer.score(ex(targets), output, truncated=truncated))
    answer, correct, followed = score_output(output, targets, protocol=protocol, truncated=truncated)
    assert result.score == float(correct)
    assert result.followed == followed
    assert result.answer == answer


# ------------------------------------------------------ contains and regex
def test_contains_ignores_case_unless_asked():
    assert measure({"kind": "contains"}, "It is in PARIS, France", ex(["paris"])).score == 1.0
    assert measure({"kind": "contains", "case_sensitive": True}, "It is in PARIS", ex(["paris"])).score == 0.0
    assert "does not contain 'rome'" in measure({"kind": "contains"}, "Paris", ex(["rome"])).feedback


def test_regex_metric_searches_or_fullmatches():
    assert measure({"kind": "regex", "pattern": r"\d{4}-\d{2}-\d{2}"}, "on 2024-05-01.").score == 1.0
    full = {"kind": "regex", "pattern": r"\d{4}-\d{2}-\d{2}", "fullmatch": True}
    result = measure(full, "on 2024-05-01.")
    assert result.score == 0.0 and "does not match" in result.feedback


def test_regex_metric_refuses_an_invalid_pattern():
    with pytest.raises(MetricError, match=r"\[metric\]: metric pattern '\(unclosed' is not a valid regular expression"):
        build_metric({"kind": "regex", "pattern": "(unclosed"})


# ------------------------------------------------------------------ numeric
@pytest.mark.parametrize(
    "table, got, score",
    [
        ({"kind": "numeric"}, "42", 1.0),
        ({"kind": "numeric"}, "about 42.4 km", 0.0),
        ({"kind": "numeric", "abs_tol": 0.5}, "about 42.4 km", 1.0),
        ({"kind": "numeric", "rel_tol": 0.01}, "42.5", 0.0),
        ({"kind": "numeric", "rel_tol": 0.02}, "42.5", 1.0),
        ({"kind": "numeric"}, "forty-two? no: fourteen", 0.0),
    ],
)
def test_numeric_tolerance(table, got, score):
    assert measure(table, got, ex(["42"])).score == score


def test_numeric_reads_thousands_and_number_words():
    assert measure({"kind": "numeric"}, "It costs 1,200.5 dollars", ex(["1200.5"])).score == 1.0
    assert measure({"kind": "numeric"}, "fourteen", ex(["14"])).score == 1.0


def test_numeric_feedback_and_bad_targets():
    assert measure({"kind": "numeric", "abs_tol": 1}, "50", ex(["42"])).feedback == "expected 42 (within 1), got 50"
    assert "has no number" in measure({"kind": "numeric"}, "none", ex(["42"])).feedback
    errored = measure({"kind": "numeric"}, "3", ex(["three-ish"], id="r7"))
    assert errored.score is None and errored.error == "example 'r7': target 'three-ish' is not a number"
    with pytest.raises(MetricError, match="tolerances must not be negative"):
        build_metric({"kind": "numeric", "abs_tol": -1})


# ------------------------------------------------------------ label, macro-F1
def test_macro_f1_on_a_hand_made_confusion():
    gold = ["a", "a", "a", "b", "b", "c"]
    predicted = ["a", "a", "b", "b", "c", "c"]
    # a: tp 2, fp 0, fn 1 -> 4/5; b: tp 1, fp 1, fn 1 -> 1/2; c: tp 1, fp 1, fn 0 -> 2/3
    assert label_f1(gold, predicted) == pytest.approx({"a": 0.8, "b": 0.5, "c": 2 / 3})
    metric = build_metric({"kind": "label"})
    pairs = [(ex([g], id=str(i)), asyncio.run(metric.score(ex([g]), p))) for i, (g, p) in enumerate(zip(gold, predicted))]
    summary = metric.aggregate(pairs)
    assert summary.score == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert summary.stats["accuracy"] == pytest.approx(4 / 6)
    assert summary.stats["f1[b]"] == pytest.approx(0.5)
    assert [r.score for _, r in pairs] == [1.0, 1.0, 0.0, 1.0, 0.0, 1.0]


def test_label_average_accuracy_and_a_prediction_of_no_label():
    metric = build_metric({"kind": "label", "average": "accuracy"})
    pairs = [
        (ex(["a"]), MetricResult(1.0, answer="a")),
        (ex(["b"]), MetricResult(0.0, answer=None)),  # a contract violation: no label at all
        (ex(["b"]), MetricResult.errored("call failed")),  # left out
    ]
    summary = metric.aggregate(pairs)
    assert summary.score == 0.5 and summary.scored == 2 and summary.errored == 1
    # b was never predicted: F1 0; a has precision 1, recall 1.
    assert summary.stats["macro_f1"] == pytest.approx(0.5)


def test_label_feedback_and_unknown_average():
    result = measure({"kind": "label"}, "Billing", ex(["technical"]))
    assert result.score == 0.0 and result.feedback == "predicted 'Billing', gold label 'technical'"
    assert measure({"kind": "label"}, "Technical", ex(["technical"])).score == 1.0
    with pytest.raises(MetricError, match="unknown average 'micro' \\(known: macro_f1, accuracy\\)"):
        build_metric({"kind": "label", "average": "micro"})


# ----------------------------------------------------------------- token F1
def test_token_f1_partial_credit_and_feedback():
    result = measure({"kind": "token_f1"}, "The cat sat.", ex(["a cat sat down"]))
    assert result.score == pytest.approx(0.8)  # precision 1, recall 2/3
    assert result.feedback == "token F1 0.80; missing: down"
    assert measure({"kind": "token_f1"}, "cat sat down", ex(["dog", "a cat sat down"])).score == 1.0
    assert measure({"kind": "token_f1"}, "dog", ex(["cat"])).score == 0.0


# ------------------------------------------------------------- JSON fields
GOLD = {"name": "Ada Lovelace", "year": 1843, "tags": ["math", "engine"]}


def test_json_fields_full_and_partial_credit():
    same = {"name": "ada lovelace", "year": "1843", "tags": ["engine", "math"]}
    assert measure({"kind": "json_fields"}, same, ex(target=GOLD)).score == 1.0
    result = measure({"kind": "json_fields"}, {"name": "Ada Byron", "tags": ["math", "engine"]}, ex(target=GOLD))
    assert result.score == pytest.approx(1 / 3)
    assert result.feedback == "1 of 3 fields right; wrong: name (expected 'Ada Lovelace', got 'Ada Byron'); missing: year"


def test_json_fields_subset_text_output_and_no_object():
    subset = {"kind": "json_fields", "fields": ["name", "year"]}
    assert measure(subset, '{"name": "Ada Lovelace", "year": 1843.0}', ex(target=GOLD)).score == 1.0
    not_object = measure({"kind": "json_fields"}, "[1, 2]", ex(target=GOLD))
    assert not_object.score == 0.0 and not not_object.followed and not_object.feedback == "the output is not a JSON object"
    assert measure({"kind": "json_fields"}, {}, ex(["x"], target="x", id="r2")).error == "example 'r2': the target is not a JSON object"


def test_json_fields_null_gold_accepts_a_missing_key():
    gold = {"name": "Ada", "phone": None}
    assert measure({"kind": "json_fields"}, {"name": "Ada"}, ex(target=gold)).score == 1.0
    assert measure({"kind": "json_fields"}, {"name": "Ada", "phone": "555"}, ex(target=gold)).score == 0.5


# ------------------------------------------------------------ python metric
METRIC_MODULE = '''
def length(example, output):
    return min(len(output) / 10, 1.0)

def with_feedback(example, output):
    return (0.5, f"mentions {example.fields['input']}? half marks")

def raises(example, output):
    raise ValueError("bad output")

def too_big(example, output):
    return 1.5

def nan(example, output):
    return float("nan")

def wrong_type(example, output):
    return "high"

def bad_tuple(example, output):
    return (0.5, 3)

NOT_A_FUNCTION = 3
'''


@pytest.fixture
def metric_dir(tmp_path):
    (tmp_path / "my_metrics_mod.py").write_text(METRIC_MODULE)
    (tmp_path / "broken_metric_mod.py").write_text("import no_such_package_anywhere\n")
    yield tmp_path
    for name in ("my_metrics_mod", "broken_metric_mod"):
        sys.modules.pop(name, None)


def python(function: str, value, folder, example=None) -> MetricResult:
    return measure({"kind": "python", "function": function}, value, example or ex(id="r3"), base_dir=str(folder))


def test_python_metric_score_and_feedback(metric_dir):
    assert python("my_metrics_mod:length", "abcde", metric_dir).score == 0.5
    result = python("my_metrics_mod:with_feedback", "x", metric_dir)
    assert result.score == 0.5 and result.feedback == "mentions q? half marks"
    assert python("my_metrics_mod.py:length", "abcdefghijkl", metric_dir).score == 1.0


@pytest.mark.parametrize(
    "function, message",
    [
        ("raises", "metric my_metrics_mod:raises raised ValueError: bad output (example 'r3')"),
        ("too_big", "metric my_metrics_mod:too_big returned 1.5: a score must be in [0, 1] (example 'r3')"),
        ("nan", "metric my_metrics_mod:nan returned nan: a score must be in [0, 1] (example 'r3')"),
        ("wrong_type", "metric my_metrics_mod:wrong_type returned 'high': expected a number in [0, 1] (example 'r3')"),
        ("bad_tuple", "metric my_metrics_mod:bad_tuple returned (0.5, 3): expected a score or (score, feedback text) (example 'r3')"),
    ],
)
def test_python_metric_failures_error_the_example(metric_dir, function, message):
    result = python(f"my_metrics_mod:{function}", "x", metric_dir)
    assert result.score is None and result.error == message


@pytest.mark.parametrize(
    "function, message",
    [
        ("broken_metric_mod:score", "metric module 'broken_metric_mod' cannot be imported: ModuleNotFoundError: No module named 'no_such_package_anywhere'"),
        ("my_metrics_mod:missing", "metric module 'my_metrics_mod' has no function 'missing' (it has: bad_tuple, length, nan, raises, too_big, with_feedback, wrong_type)"),
        ("my_metrics_mod:NOT_A_FUNCTION", "metric 'my_metrics_mod:NOT_A_FUNCTION' is not a function (it is a int)"),
        ("nowhere.py:score", "metric module 'nowhere.py' not found"),
        ("no_colon", "python metric 'no_colon' must look like module:function"),
    ],
)
def test_python_metric_that_cannot_load_is_a_clear_error(metric_dir, function, message):
    with pytest.raises(MetricError) as caught:
        build_metric({"kind": "python", "function": function}, base_dir=str(metric_dir))
    assert message in str(caught.value)


# ---------------------------------------------------------------- contracts
def parse(table: dict, output: str, example=None):
    return build_contract(table).parse(output, example or ex(["x"]))


def test_label_contract_exact_lenient_and_violations():
    labels = {"kind": "label", "labels": ["billing", "technical", "account"]}
    assert parse(labels, ' "Billing." ').value == "billing"
    lenient = parse(labels, "This is a technical problem.")
    assert lenient.value == "technical" and not lenient.followed
    several = parse(labels, "billing or account")
    assert several.violation == "the output names several labels (billing, account); expected one of: billing, technical, account"
    assert parse({**labels, "lenient": False}, "This is a technical problem.").violation.startswith("the output 'This is a technical problem.' is not one of")
    with pytest.raises(MetricError, match="needs a non-empty list"):
        build_contract({"kind": "label", "labels": []})


def test_json_contract_finds_the_object():
    assert parse({"kind": "json"}, '{"a": 1}').value == {"a": 1}
    fenced = parse({"kind": "json"}, 'Here:\n```json\n{"a": 2}\n```\nDone.')
    assert fenced.value == {"a": 2} and not fenced.followed
    # The last top-level object, never an inner one.
    assert parse({"kind": "json"}, 'first {"a": 1} then {"b": {"c": 3}} end').value == {"b": {"c": 3}}
    assert parse({"kind": "json"}, "no object [1]").violation == "the output holds no JSON object"


SCHEMA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}


def test_json_schema_violation_is_scored_per_the_contract():
    pytest.importorskip("jsonschema")
    contract = build_contract({"kind": "json", "schema": SCHEMA, "violation_score": 0.25})
    assert contract.parse('{"name": "Ada", "age": 36}', ex()).violation is None
    broken = contract.parse('{"name": "Ada", "age": "old"}', ex())
    assert broken.violation == "the JSON object breaks the schema: at age: 'old' is not of type 'integer'"
    scorer = Scorer(contract, build_metric({"kind": "json_fields"}))
    result = asyncio.run(scorer.score(ex(target={"name": "Ada"}), '{"age": 3}'))
    assert result.score == 0.25 and not result.followed
    assert result.feedback == "the JSON object breaks the schema: 'name' is a required property"


def test_json_schema_errors(tmp_path):
    pytest.importorskip("jsonschema")
    with pytest.raises(MetricError, match="JSON schema is not valid"):
        build_contract({"kind": "json", "schema": {"type": "no-such-type"}})
    with pytest.raises(MetricError, match="schema_file 'missing.json' not found"):
        build_contract({"kind": "json", "schema_file": "missing.json"}, base_dir=str(tmp_path))
    (tmp_path / "s.json").write_text('{"type": "object", "required": ["x"]}')
    contract = build_contract({"kind": "json", "schema_file": "s.json"}, base_dir=str(tmp_path))
    assert "'x' is a required property" in contract.parse("{}", ex()).violation


def test_json_schema_without_jsonschema_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # makes the import fail
    with pytest.raises(MetricError, match="needs the 'jsonschema' package: pip install jsonschema"):
        build_contract({"kind": "json", "schema": SCHEMA})


def test_regex_and_raw_contracts():
    named = {"kind": "regex", "pattern": r"Final: (?P<answer>\w+)"}
    assert parse(named, "Thinking... Final: blue").value == "blue"
    assert parse({"kind": "regex", "pattern": r"=\s*(\d+)"}, "x = 12").value == "12"
    assert parse({"kind": "regex", "pattern": r"\d+"}, "no digits").violation == r"the output has no match of /\d+/"
    assert parse({"kind": "raw"}, "  text \n").value == "text"
    assert parse({"kind": "raw"}, "   ").violation == "the output is empty"
    assert not build_contract({"kind": "raw"}).parse("cut off mid", ex(), truncated=True).followed
    with pytest.raises(MetricError, match=r"\[output\]: unknown protocol 'paper' \(known: reflectloop, study\)"):
        build_contract({"kind": "answer", "protocol": "paper"})


# ------------------------------------------------- building and the scorer
@pytest.mark.parametrize(
    "table, message",
    [
        ({"kind": "exact", "tolerance": 1}, "[metric]: unknown key 'tolerance' (known: none)"),
        ({"kind": "numeric", "tol": 1}, "[metric]: unknown key 'tol' (known: abs_tol, rel_tol)"),
        ({"kind": "numeric", "abs_tol": "1"}, "[metric]: 'abs_tol' must be a number, got '1'"),
        ({"kind": "contains", "case_sensitive": 1}, "[metric]: 'case_sensitive' must be a boolean (true or false), got 1"),
        ({"kind": "regex"}, "[metric]: missing key 'pattern'"),
        ({"kind": "bleu"}, "[metric]: unknown kind 'bleu' (known: exact, study_exact, contains, regex, numeric, label, token_f1, json_fields, python, judge)"),
        ({}, "[metric]: missing key 'kind'"),
        # A promptfoo suite's assertions are its own metric, not a kind a task file names.
        ({"kind": "promptfoo"}, "[metric]: unknown kind 'promptfoo' (known: exact, study_exact"),
        ({"kind": "python", "function": "m:f", "base_dir": "/"}, "[metric]: unknown key 'base_dir' (known: function, timeout)"),
    ],
)
def test_bad_metric_tables(table, message):
    with pytest.raises(MetricError) as caught:
        build_metric(table)
    assert str(caught.value).startswith(message)


def test_bad_contract_tables():
    with pytest.raises(MetricError, match=r"\[output\]: unknown key 'labelz' \(known: labels, lenient, violation_score\)"):
        build_contract({"kind": "label", "labelz": ["a"]})
    with pytest.raises(MetricError, match=r"\[output\]: 'labels' must be a list of strings"):
        build_contract({"kind": "label", "labels": "a, b"})
    with pytest.raises(MetricError, match=r"\[output\]: violation_score must be in \[0, 1\], got 2.0"):
        build_contract({"kind": "raw", "violation_score": 2})


def test_scorer_threshold_decides_the_errors():
    scorer = Scorer(build_contract({}), build_metric({"kind": "token_f1"}), threshold=0.75)
    good = asyncio.run(scorer.score(ex(["a cat sat down"]), "cat sat down now"))
    poor = asyncio.run(scorer.score(ex(["a cat sat down"]), "a dog"))
    assert good.score == pytest.approx(6 / 7) and not scorer.is_error(good)
    assert scorer.is_error(poor)
    assert not scorer.is_error(MetricResult.errored("judge reply unreadable"))
    default = Scorer(build_contract({}), build_metric({"kind": "token_f1"}))
    assert default.is_error(good)  # default: anything short of perfect
    for bad in (0, 1.5, math.nan, True):
        with pytest.raises(MetricError, match=r"threshold .* must be in \(0, 1\]"):
            Scorer(build_contract({}), build_metric({"kind": "exact"}), threshold=bad)


def test_violation_skips_the_metric_and_mean_leaves_errored_out():
    scorer = Scorer(build_contract({"kind": "label", "labels": ["yes", "no"]}), build_metric({"kind": "exact"}))
    violated = asyncio.run(scorer.score(ex(["yes"]), "perhaps"))
    assert violated.score == 0.0 and violated.answer is None and "not one of the labels: yes, no" in violated.feedback
    summary = scorer.aggregate([(ex(["yes"]), violated), (ex(["yes"]), MetricResult(1.0)), (ex(), MetricResult.errored("x"))])
    assert summary.score == 0.5 and summary.scored == 2 and summary.errored == 1
