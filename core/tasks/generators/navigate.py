"""Procedural ``navigate``: do these instructions bring you back to the start?

Two styles, as in the study's data: "Always face forward." with steps
forward/backward/left/right, and a walker who turns (left/right/around) and
takes steps ahead.  The label always comes from simulating the walk; the
construction only aims at a label, so True and False come out about 50/50
(random walks alone almost never return).  Half of the False walks are near
misses — a returning walk with one step count changed — so that "the numbers
obviously don't cancel" is not a shortcut.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

NAME = "navigate"
DESCRIPTION = (
    "Given a series of navigation instructions, determine whether one would end up back "
    "at the starting point"
)
CHOICES = "\nChoices:\nA. True\nB. False"
TRUE_TARGETS = ("A", "A.", "A. True", "True")
FALSE_TARGETS = ("B", "B.", "B. False", "False")

# Positions are complex numbers: x + y·i, starting at 0 facing +y (i).
FIXED_DIRECTIONS = {"forward": 1j, "backward": -1j, "left": -1 + 0j, "right": 1 + 0j}
TURNS = {"left": 1j, "right": -1j, "around": -1 + 0j}
MAX_STEP = 10
MAX_INSTRUCTIONS = 10
FACE_FORWARD_SHARE = 0.45  # about the share in the study's data


@dataclass(frozen=True)
class Instruction:
    kind: str  # "take" | "turn"
    steps: int = 0
    direction: str = ""  # turn: left/right/around; take: a fixed direction or "" (ahead)

    def text(self) -> str:
        if self.kind == "turn":
            return f"Turn {self.direction}."
        noun = "step" if self.steps == 1 else "steps"
        return f"Take {self.steps} {noun}{' ' + self.direction if self.direction else ''}."


def simulate(instructions: list[Instruction]) -> complex:
    """Final position; the start is 0."""
    return _final_state(instructions)[0]


def _final_state(instructions: list[Instruction]) -> tuple[complex, complex]:
    position, heading = 0j, 1j
    for ins in instructions:
        if ins.kind == "turn":
            heading *= TURNS[ins.direction]
        else:
            position += ins.steps * (FIXED_DIRECTIONS[ins.direction] if ins.direction else heading)
    return position, heading


def make_example(rng: random.Random) -> tuple[str, tuple[str, ...]]:
    face_forward = rng.random() < FACE_FORWARD_SHARE
    want_true = rng.random() < 0.5
    while True:
        walk = _walk(rng, face_forward, want_true)
        returns = simulate(walk) == 0
        if returns == want_true and len(walk) <= MAX_INSTRUCTIONS:
            break
    text = ("Always face forward. " if face_forward else "") + " ".join(i.text() for i in walk)
    return text + CHOICES, TRUE_TARGETS if returns else FALSE_TARGETS


def _walk(rng: random.Random, face_forward: bool, want_true: bool) -> list[Instruction]:
    if want_true:
        return _returning(rng, face_forward)
    if rng.random() < 0.5:
        return _near_miss(rng, _returning(rng, face_forward))
    return _random_walk(rng, face_forward, rng.randint(2, 8))


def _random_walk(rng: random.Random, face_forward: bool, length: int) -> list[Instruction]:
    walk = [_random_instruction(rng, face_forward) for _ in range(length)]
    return walk if any(i.kind == "take" for i in walk) else walk + [_take(rng, "")]


def _random_instruction(rng: random.Random, face_forward: bool) -> Instruction:
    if face_forward:
        return _take(rng, rng.choice(list(FIXED_DIRECTIONS)))
    if rng.random() < 0.35:
        return Instruction("turn", direction=rng.choice(list(TURNS)))
    return _take(rng, "")


def _take(rng: random.Random, direction: str, steps: int | None = None) -> Instruction:
    return Instruction("take", steps or rng.randint(1, MAX_STEP), direction)


def _returning(rng: random.Random, face_forward: bool) -> list[Instruction]:
    """A random start, then moves that cancel its displacement."""
    walk = _random_walk(rng, face_forward, rng.randint(1, 4))
    if face_forward:
        walk += _cancel_fixed(rng, simulate(walk))
        rng.shuffle(walk)  # fixed directions commute, so any order still returns
        return walk
    walk += _cancel_turning(rng, walk)
    if rng.random() < 0.2:  # a final turn changes nothing, and hides that cue
        walk.append(Instruction("turn", direction=rng.choice(list(TURNS))))
    return walk


def _cancel_fixed(rng: random.Random, offset: complex) -> list[Instruction]:
    moves = []
    for amount, negative, positive in ((offset.real, "left", "right"), (offset.imag, "backward", "forward")):
        direction = negative if amount > 0 else positive
        moves += [_take(rng, direction, n) for n in _chunks(rng, round(abs(amount)))]
    return moves


def _cancel_turning(rng: random.Random, walk: list[Instruction]) -> list[Instruction]:
    """Turn towards the start along each axis in turn and walk back."""
    position, heading = _final_state(walk)
    legs = [(-position.real, 1 + 0j), (-position.imag, 1j)]
    rng.shuffle(legs)
    moves = []
    for amount, axis in legs:
        if round(amount) == 0:
            continue
        target = axis if amount > 0 else -axis
        moves += _turns_between(heading, target)
        heading = target
        moves += [_take(rng, "", n) for n in _chunks(rng, round(abs(amount)))]
    return moves


def _turns_between(heading: complex, target: complex) -> list[Instruction]:
    if target == heading:
        return []
    for name, factor in TURNS.items():
        if heading * factor == target:
            return [Instruction("turn", direction=name)]
    raise AssertionError("headings are always one of four unit directions")


def _chunks(rng: random.Random, total: int) -> list[int]:
    """Split a distance into step counts of 1..MAX_STEP, sometimes in two."""
    parts = []
    while total > 0:
        part = min(total, MAX_STEP)
        if total > 1 and rng.random() < 0.3:
            part = rng.randint(1, min(total - 1, MAX_STEP))
        parts.append(part)
        total -= part
    return parts


def _near_miss(rng: random.Random, walk: list[Instruction]) -> list[Instruction]:
    """Change one step count: the walk then misses the start by that change."""
    takes = [i for i, ins in enumerate(walk) if ins.kind == "take"]
    index = rng.choice(takes)
    old = walk[index]
    options = [n for n in range(old.steps - 2, old.steps + 3) if 1 <= n <= MAX_STEP and n != old.steps]
    walk = list(walk)
    walk[index] = Instruction("take", rng.choice(options), old.direction)
    return walk
