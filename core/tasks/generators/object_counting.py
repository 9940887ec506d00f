"""Procedural ``object_counting``: "I have a cat, two violins, ... How many
animals do I have?"

Items of the asked category are mixed with distractors from other
categories, quantities are written as words ("a", "three"), and the answer is
the sum of the asked category's quantities — at most twenty, so it always has
a number word too.  "How many objects" asks about household objects only (is a
cat an object?  the question should not hinge on that), so it has no
distractors.
"""
from __future__ import annotations

import random

from reflectloop.core.evaluation.scoring import NUMBER_WORDS

NAME = "object_counting"
DESCRIPTION = (
    "Questions that involve enumerating objects of different types and asking the model to count them"
)
MAX_ANSWER = 20

# (singular, plural) per category.
CATEGORIES: dict[str, tuple[tuple[str, str], ...]] = {
    "animals": (
        ("bear", "bears"), ("cat", "cats"), ("chicken", "chickens"), ("cow", "cows"),
        ("dog", "dogs"), ("donkey", "donkeys"), ("duck", "ducks"), ("fish", "fish"),
        ("frog", "frogs"), ("goat", "goats"), ("mouse", "mice"), ("pig", "pigs"),
        ("rabbit", "rabbits"), ("snail", "snails"), ("snake", "snakes"),
    ),
    "musical instruments": (
        ("accordion", "accordions"), ("clarinet", "clarinets"), ("drum", "drums"),
        ("flute", "flutes"), ("piano", "pianos"), ("trombone", "trombones"),
        ("trumpet", "trumpets"), ("violin", "violins"),
    ),
    "fruits": (
        ("apple", "apples"), ("banana", "bananas"), ("blackberry", "blackberries"),
        ("grape", "grapes"), ("nectarine", "nectarines"), ("orange", "oranges"),
        ("peach", "peaches"), ("plum", "plums"), ("raspberry", "raspberries"),
        ("strawberry", "strawberries"),
    ),
    "vegetables": (
        ("cabbage", "cabbages"), ("carrot", "carrots"), ("cauliflower", "cauliflowers"),
        ("garlic", "garlics"), ("head of broccoli", "heads of broccoli"),
        ("lettuce head", "lettuce heads"), ("onion", "onions"), ("potato", "potatoes"),
        ("stalk of celery", "stalks of celery"), ("yam", "yams"),
    ),
    "objects": (
        ("bed", "beds"), ("car", "cars"), ("chair", "chairs"), ("couch", "couches"),
        ("fridge", "fridges"), ("lamp", "lamps"), ("microwave", "microwaves"),
        ("oven", "ovens"), ("stove", "stoves"), ("table", "tables"), ("toaster", "toasters"),
    ),
}


def make_example(rng: random.Random) -> tuple[str, tuple[str, ...]]:
    category = rng.choice(list(CATEGORIES))
    while True:
        counted = _pick(rng, CATEGORIES[category], rng.randint(1, 8))
        if sum(q for q, _ in counted) <= MAX_ANSWER:
            break
    items = counted + _distractors(rng, category)
    rng.shuffle(items)
    answer = sum(q for q, _ in counted)
    text = f"I have {_join([_phrase(q, kind) for q, kind in items])}. How many {category} do I have?"
    return text, (str(answer), NUMBER_WORDS[answer])


def _pick(rng: random.Random, kinds, how_many: int) -> list[tuple[int, tuple[str, str]]]:
    """Distinct kinds, mostly one of each, sometimes two to five."""
    chosen = rng.sample(kinds, min(how_many, len(kinds)))
    return [(1 if rng.random() < 0.7 else rng.randint(2, 5), kind) for kind in chosen]


def _distractors(rng: random.Random, category: str) -> list[tuple[int, tuple[str, str]]]:
    if category == "objects":
        return []
    others = [k for name, kinds in CATEGORIES.items() if name != category for k in kinds]
    return _pick(rng, others, rng.choice((0, 1, 2, 2, 3, 4)))


def _phrase(quantity: int, kind: tuple[str, str]) -> str:
    singular, plural = kind
    if quantity > 1:
        return f"{NUMBER_WORDS[quantity]} {plural}"
    return f"{'an' if singular[0] in 'aeiou' else 'a'} {singular}"


def _join(phrases: list[str]) -> str:
    """The study's style: a comma before "and", even for two items."""
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + ", and " + phrases[-1]
