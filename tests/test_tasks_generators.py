"""The procedural generators, checked by independent re-simulation and recount."""
from __future__ import annotations

import re

import pytest

from reflectloop.core.evaluation.scoring import is_correct, score_output
from reflectloop.core.tasks import load_task

GENERATORS = ("gen:navigate", "gen:object_counting")
CHOICES = "\nChoices:\nA. True\nB. False"


# ---------------------------------------------------------- independent checkers
def returns_to_start(text: str) -> bool:
    """Re-simulate a navigate input with complex numbers (start 0, facing +i)."""
    body = text[: -len(CHOICES)]
    fixed = body.startswith("Always face forward. ")
    body = body.removeprefix("Always face forward. ")
    position, heading = 0j, 1j
    turn = {"left": 1j, "right": -1j, "around": -1}
    fixed_dir = {"forward": 1j, "backward": -1j, "left": -1, "right": 1}
    for sentence in filter(None, (s.strip() for s in body.split("."))):
        if m := re.fullmatch(r"Turn (left|right|around)", sentence):
            assert not fixed, "no turning when always facing forward"
            heading *= turn[m.group(1)]
        elif m := re.fullmatch(r"Take (\d+) steps?(?: (forward|backward|left|right))?", sentence):
            assert bool(m.group(2)) == fixed, sentence
            position += int(m.group(1)) * (fixed_dir[m.group(2)] if fixed else heading)
        else:
            raise AssertionError(f"unexpected instruction {sentence!r}")
    return position == 0


CATEGORY_WORDS = {
    "animals": "bear cat chicken cow dog donkey duck fish frog goat mouse mice pig rabbit snail snake",
    "musical instruments": "accordion clarinet drum flute piano trombone trumpet violin",
    "fruits": "apple banana blackberry blackberries grape nectarine orange peach peaches plum "
    "raspberry raspberries strawberry strawberries",
    "vegetables": "cabbage carrot cauliflower garlic broccoli lettuce onion potato potatoes celery yam",
    "objects": "bed car chair couch couches fridge lamp microwave oven stove table toaster",
}
QUANTITIES = {"a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5}


def recount(text: str) -> int:
    """Count the asked category from the sentence alone."""
    m = re.fullmatch(r"I have (.+)\. How many (.+) do I have\?", text)
    assert m, text
    items, category = m.group(1), m.group(2)
    words = set(CATEGORY_WORDS[category].split())
    total = 0
    for item in items.split(", "):
        quantity, _, name = item.removeprefix("and ").partition(" ")
        stem = {w.rstrip("s") for w in name.split()} | set(name.split())
        if stem & words:
            total += QUANTITIES[quantity]
    return total


# -------------------------------------------------------------------- tests
@pytest.mark.parametrize("spec", GENERATORS)
def test_generators_are_deterministic_per_seed(spec):
    a = load_task(spec, seed=11)
    assert a == load_task(spec, seed=11)
    assert [e.input for e in a.dev] != [e.input for e in load_task(spec, seed=12).dev]
    assert (len(a.ini), len(a.dev), len(a.test)) == (10, 50, 200)
    assert [e.id for e in a.dev[:2]] == ["dev/0", "dev/1"]
    assert a.description and a.answer_hint


@pytest.mark.parametrize("spec", GENERATORS)
def test_split_streams_are_independent_of_sizes(spec):
    small = load_task(spec, seed=4, dev_size=10, test_size=30)
    large = load_task(spec, seed=4, dev_size=80, test_size=60)
    assert large.dev[:10] == small.dev
    assert large.test[:30] == small.test
    assert large.ini == small.ini


@pytest.mark.parametrize("spec", GENERATORS)
def test_inputs_within_a_split_are_distinct(spec):
    task = load_task(spec, seed=2, dev_size=300)
    assert len({e.input for e in task.dev}) == 300


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_navigate_ground_truth_matches_resimulation(seed):
    task = load_task("gen:navigate", seed=seed, dev_size=300, test_size=300)
    for ex in task.ini + task.dev + task.test:
        assert ex.input.endswith(CHOICES)
        expected = ("A", "A.", "A. True", "True") if returns_to_start(ex.input) else ("B", "B.", "B. False", "False")
        assert ex.targets == expected, ex.input


def test_navigate_labels_are_balanced_and_both_styles_occur():
    examples = load_task("gen:navigate", seed=7, dev_size=400).dev
    share_true = sum(e.targets[0] == "A" for e in examples) / len(examples)
    assert 0.35 <= share_true <= 0.65
    styles = {e.input.startswith("Always face forward.") for e in examples}
    assert styles == {True, False}
    turns = " ".join(e.input for e in examples)
    assert all(f"Turn {t}." in turns for t in ("left", "right", "around"))
    assert all(f"steps {d}." in turns for d in ("forward", "backward", "left", "right"))


def test_navigate_false_examples_include_near_misses():
    """Not every False walk is obviously far away: some miss by a step or two."""
    examples = load_task("gen:navigate", seed=3, dev_size=400).dev
    fixed_false = [e for e in examples if e.targets[0] == "B" and e.input.startswith("Always")]
    near = 0
    for ex in fixed_false:
        steps = re.findall(r"Take (\d+) steps? (\w+)", ex.input)
        x = sum(int(n) * {"left": -1, "right": 1}.get(d, 0) for n, d in steps)
        y = sum(int(n) * {"backward": -1, "forward": 1}.get(d, 0) for n, d in steps)
        near += abs(x) + abs(y) <= 2
    assert near >= 5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_object_counting_ground_truth_matches_recount(seed):
    task = load_task("gen:object_counting", seed=seed, dev_size=300, test_size=300)
    words = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen " \
            "fifteen sixteen seventeen eighteen nineteen twenty".split()
    for ex in task.ini + task.dev + task.test:
        count = recount(ex.input)
        assert 1 <= count <= 20
        assert ex.targets == (str(count), words[count]), ex.input


def test_object_counting_mixes_categories_with_distractors():
    examples = load_task("gen:object_counting", seed=5, dev_size=300).dev
    questions = {re.search(r"How many (.+) do I have", e.input).group(1) for e in examples}
    assert questions == {"animals", "musical instruments", "fruits", "vegetables", "objects"}
    with_distractors = 0
    for ex in examples:
        total = sum(
            {"a": 1, "an": 1}.get(item.removeprefix("and ").split()[0], 2)  # at least 2 when a word
            for item in ex.input.split(". How")[0].removeprefix("I have ").split(", ")
        )
        with_distractors += total > int(ex.targets[0])
    assert with_distractors >= 100
    assert any(re.search(r"\b(two|three|four|five) ", e.input) for e in examples)


@pytest.mark.parametrize("spec", GENERATORS)
def test_generated_gold_answers_are_accepted(spec):
    task = load_task(spec, seed=1)
    for ex in task.dev + task.test:
        for gold in ex.targets:
            assert is_correct(gold, ex.targets)
            assert score_output('{"answer": "%s"}' % gold, ex.targets) == (gold, True, True)
