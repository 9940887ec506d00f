"""Answer extraction, normalization and matching, table-driven."""
from __future__ import annotations

import pytest

from reflectloop.core.evaluation.scoring import extract_answer, is_correct, is_numeric, normalize, score_output

NAVIGATE_GOLD = ("A", "A.", "A. True", "True")
COUNT_GOLD = ("14", "fourteen")

# (output, expected answer, followed_format)
EXTRACTION = [
    ('{"answer": "B"}', "B", True),
    ('{"answer": 14}', "14", True),
    ('{"answer": 14.0}', "14", True),
    ("{'answer': 'B'}", "B", True),
    ('{"answer": true}', "True", True),
    ('```json\n{"answer": "A"}\n```', "A", True),
    ('```json\n{"answer": "A"}\n```\nLet me know if you need more help!', "A", True),
    ('Reasoning first.\n{"answer": "C"} -- that is my final answer.', "C", True),
    ('First guess {"answer": "A"}, on reflection {"answer": "B"}', "B", True),
    ('{"reasoning": {"steps": ["a {b}", "c"]}, "answer": "C"}', "C", True),
    ('{"result": {"answer": 7}}', "7", True),
    ('Set {x} aside. {"answer": "D"}', "D", True),
    ('{"answer": "B", "why": "it\'s obvious {really}"}', "B", True),
    ("{'answer': 'A', 'why': \"don't know\"}", "A", True),
    ('{"answer": "B",}', "B", True),
    ('{"answer": B}', "B", True),
    ('{"answer": ["apple", "banana"]}', "apple banana", True),
    ('[bold]{"answer": "A"}[/bold]', "A", True),
    ('{"answer": null}', None, True),
    # not following the format: fallbacks
    ('{"answer": "B"', "B", False),
    ("Answer: B", "B", False),
    ("**Final answer:** (C)", "(C)", False),
    ("[bold]Answer:[/bold] B", "B", False),
    ("Step 1 ... Step 9.\nanswer: A. True", "A", False),
    ("The answer is (B).", "(B)", False),
    ("So the answer is fourteen.", "fourteen", False),
    ("The answer is Yes, because the wire was touched.", "Yes", False),
    ("Let me think. It has to be (C)", "C", False),
    ("After the walk we end up elsewhere, so B.", "B", False),
    ("we are back where we started\n", "we are back where we started", False),
    ("", None, False),
    ("   \n  ", None, False),
]


@pytest.mark.parametrize("output, answer, followed", EXTRACTION)
def test_extract_answer(output, answer, followed):
    assert extract_answer(output) == (answer, followed)


# (output, numeric, expected answer)
NUMERIC_FALLBACK = [
    ("There are 3 apples and 4 pears, so 7 fruits in total", True, "7"),
    ("There are 3 apples and 4 pears, so 7 fruits in total", False, "There are 3 apples and 4 pears, so 7 fruits in total"),
    ("I count them all: that makes twelve", True, "twelve"),
    ("The total is -12", True, "-12"),
]


@pytest.mark.parametrize("output, numeric, answer", NUMERIC_FALLBACK)
def test_last_number_only_for_numeric_tasks(output, numeric, answer):
    assert extract_answer(output, numeric=numeric) == (answer, False)


NORMALIZE = [
    ("B", "b"),
    (" B. ", "b"),
    ("(A)", "a"),
    ("A)", "a"),
    ('"yes"', "yes"),
    ("'No'.", "no"),
    ("Fourteen", "14"),
    ("fourteen.", "14"),
    ("14.0", "14"),
    ("A. True", "a. true"),
    ("B.  False", "b. false"),
    ("  sorted   words here ", "sorted words here"),
    ("(b)", "b"),
    ("(AB)", "(ab)"),
    ("fourteen apples", "fourteen apples"),
    ("] ) >", "] ) >"),
]


@pytest.mark.parametrize("raw, normal", NORMALIZE)
def test_normalize(raw, normal):
    assert normalize(raw) == normal


MATCHING = [
    ("A", NAVIGATE_GOLD, True),
    ("a.", NAVIGATE_GOLD, True),
    ("A. True", NAVIGATE_GOLD, True),
    ("true", NAVIGATE_GOLD, True),
    ("(A)", NAVIGATE_GOLD, True),
    ("B", NAVIGATE_GOLD, False),
    ("A. False", NAVIGATE_GOLD, False),
    ("14", COUNT_GOLD, True),
    ("Fourteen", COUNT_GOLD, True),
    ("14 apples", COUNT_GOLD, False),
    ("15", COUNT_GOLD, False),
    ("yes", ("Yes",), True),
    ("(c)", ("(C)",), True),
    ("", NAVIGATE_GOLD, False),
    (None, NAVIGATE_GOLD, False),
]


@pytest.mark.parametrize("answer, targets, correct", MATCHING)
def test_is_correct(answer, targets, correct):
    assert is_correct(answer, targets) is correct


# (output, targets, (answer, correct, followed))
SCORING = [
    ('{"answer": "A"}', NAVIGATE_GOLD, ("A", True, True)),
    ('{"answer": "B"}', NAVIGATE_GOLD, ("B", False, True)),
    ("The answer is (A).", NAVIGATE_GOLD, ("(A)", True, False)),
    ('{"answer": 14}', COUNT_GOLD, ("14", True, True)),
    ("Adding them up gives 14 objects", COUNT_GOLD, ("14", True, False)),
    ("Adding them up gives 13 objects", COUNT_GOLD, ("13", False, False)),
    ("", COUNT_GOLD, (None, False, False)),
    ('{"answer": "(B) heptagon"}', ("(B)", "B", "(B) heptagon", "heptagon"), ("(B) heptagon", True, True)),
]


@pytest.mark.parametrize("output, targets, expected", SCORING)
def test_score_output(output, targets, expected):
    assert score_output(output, targets) == expected


@pytest.mark.parametrize(
    "targets, numeric",
    [(COUNT_GOLD, True), (("-50",), True), (NAVIGATE_GOLD, False), (("fourteen",), True), (("Yes",), False)],
)
def test_is_numeric(targets, numeric):
    assert is_numeric(targets) is numeric


def test_pathological_braces_do_not_hang():
    output = "{" * 2000 + '{"answer": "A"}'
    assert extract_answer(output) == ("A", True)


@pytest.mark.parametrize(
    "output,gold,answer,correct,followed",
    [
        ('Reasoning.\n{"answer": "Yes"}', ["yes"], "Yes", True, True),
        ("{'answer': 'No'} then {\"answer\": \"Yes\"}", ["Yes"], "Yes", True, True),  # the last object wins
        ("{“answer”: “(A)”}", ["(A)"], "(A)", True, True),  # curly quotes made straight
        ("No. The sentence is fine.", ["No"], "No. The sentence is fine.", True, False),  # raw text: before the period
        ("No, the sentence is fine.", ["No"], "No, the sentence is fine.", False, False),  # no lenient reading
        ("True\nbecause ...", ["True"], "True\nbecause ...", True, False),  # the first line only
        ('{"answer": "sarcastic-ish"}', ["sarcastic ish"], "sarcastic-ish", True, True),  # hyphen as space
        ('{"answer": "3.5"}', ["3"], "3.5", True, True),  # the study cuts at the first period
        ('{"answer": "A and B"}', ["A B"], "A and B", True, True),
        ("the answer is B", ["B"], "the answer is B", False, False),  # no lenient fallback
    ],
)
def test_study_extraction_and_normalization(output, gold, answer, correct, followed):
    assert score_output(output, gold, protocol="study") == (answer, correct, followed)


@pytest.mark.parametrize("protocol", ["reflectloop", "study"])
def test_an_answer_cut_before_its_answer_object_did_not_follow_the_format(protocol):
    assert score_output('Step 1 ... {"answer": "B', ["B"], protocol=protocol, truncated=True)[2] is False
    assert score_output('{"answer": "B"} and a long expla', ["B"], protocol=protocol, truncated=True)[1:] == (True, True)


async def test_a_truncated_target_answer_is_scored_as_not_following_the_format():
    from reflectloop.core.evaluation.evaluate import evaluate_one
    from reflectloop.core.types import Example, Params, Prompt
    from tests.scripted import cut, scripted_llm

    llm, _ = scripted_llm("fake:t", lambda text, p: cut("Let me think. The answer: 4 and"), role="target")
    result = await evaluate_one(llm, Prompt("p", "Count."), Example("e", "q", ("4",)), Params(max_tokens=8))
    assert result.followed_format is False and result.output == "Let me think. The answer: 4 and"


@pytest.mark.parametrize("protocol", ["reflectloop", "study"])
@pytest.mark.parametrize("output", [
    '{"answer": "4"}', '{"answer": null}', "The answer is 4.", "  4\n", "", "Reasoning.\n{'answer': 'five'}",
])
async def test_the_study_tasks_scorer_records_what_score_output_reads(protocol, output):
    """The study's exact match through the one scorer interface: the answer,
    correctness and format following of ``score_output``, no graded score, no feedback."""
    from reflectloop.core.evaluation.evaluate import evaluate_one
    from reflectloop.core.metrics.base import SyncMetric
    from reflectloop.core.metrics.text import AnswerMatch
    from reflectloop.core.tasks.base import build_task
    from reflectloop.core.types import Example, ExampleResult, Params, Prompt
    from tests.scripted import scripted_llm

    assert issubclass(AnswerMatch, SyncMetric)  # a metric like the others
    example = Example("e", "q", ("4",))
    task = build_task("t", "count", {"dev": [example]})
    llm, _ = scripted_llm("fake:t", lambda text, p: output, role="target")
    result = await evaluate_one(llm, Prompt("p", "Count."), example, Params(), protocol, task.scorer)
    answer, correct, followed = score_output(output, example.targets, protocol=protocol)
    assert result == ExampleResult("e", output, answer, correct, followed)
