"""What a method is shown about one parent, built from the loop's prompts and
dev evaluations: the study's sampled error set, or a minibatch shown whole
(GEPA: every example with its score and the metric's feedback), plus the
parent's lineage and the history of scores.

The draws are seeded by (seed, step, parent), so a re-run of a step shows
the very same examples and its requests come back from the cache."""
from __future__ import annotations

import random
from typing import Mapping, Sequence

from reflectloop.core.methods.base import Rollout, StepContext
from reflectloop.core.step.selection import Focus
from reflectloop.core.types import ErrorCase, Evaluation, Example, ExampleResult, Prompt, Task


def _feedback(correct: bool, answer: str | None, gold: Sequence[str]) -> str:
    expected = " or ".join(f'"{g}"' for g in gold) or "(none given)"
    if correct:
        return f"Correct. The expected answer is {expected}."
    read = f'the answer read from the output was "{answer}"' if answer else "no answer could be read from the output"
    return f"Incorrect. The expected answer is {expected}; {read}."


def exact_match_feedback(result: ExampleResult, gold: Sequence[str]) -> str:
    """The metric's feedback when a task file's metric gave one; else what
    exact match can say about an output: the expected answer, and what was read."""
    if result.score is not None:
        return result.feedback or ("Correct." if result.correct else "Incorrect.")
    return _feedback(result.correct, result.answer, gold)


def error_feedback(error: ErrorCase) -> str:
    """The same feedback for an error case (an error set shown without its minibatch)."""
    if error.score is not None:
        return error.feedback or "Incorrect."
    return _feedback(False, error.answer, error.gold)


def score_of(result: ExampleResult) -> float:
    """The example's score: a task file metric's graded one, else 1 or 0."""
    return result.value


def scores_of(evaluation: Evaluation) -> dict[str, float]:
    """Per-example scores; an example whose call failed is left out, never scored 0."""
    return {r.example_id: score_of(r) for r in evaluation.scored}


def rollouts(evaluation: Evaluation, examples: Mapping[str, Example], ids: Sequence[str]) -> tuple[Rollout, ...]:
    """The examples ``ids`` as the parent did on them; failed calls are left out."""
    by_id = {r.example_id: r for r in evaluation.scored}
    shown = []
    for i in ids:
        r = by_id.get(i)
        if r is not None:
            ex = examples[i]
            shown.append(Rollout(i, ex.input, r.output, score_of(r), exact_match_feedback(r, ex.targets)))
    return tuple(shown)


class Contexts:
    """Builds the ``StepContext`` of one parent for one ``Focus``."""

    def __init__(self, task: Task, seed: int, n_errors: int):
        self.task, self.seed, self.n_errors = task, seed, n_errors
        self.examples = {e.id: e for e in (*task.ini, *task.dev, *task.test)}

    def build(self, step: int, parent: Prompt, focus: Focus, prompts: Mapping[str, Prompt],
              dev: Mapping[str, Evaluation]) -> StepContext:
        ev = dev[parent.id]
        rng = random.Random(f"{self.seed}:{step}:{parent.id}")
        shown: tuple[Rollout, ...] = ()
        if focus.examples is None:
            errors = list(ev.errors)
            picked = rng.sample(errors, min(self.n_errors, len(errors)))
        else:
            shown = rollouts(ev, self.examples, focus.examples)
            by_id = {r.example_id: r for r in ev.errors}
            picked = [by_id[i] for i in focus.examples if i in by_id]
        cases = tuple(self.error_case(r) for r in picked)
        examples = tuple(rng.sample(list(self.task.dev), min(2, len(self.task.dev))))
        history = tuple((prompts[i], e.score) for i, e in dev.items() if i in prompts and e.score is not None)
        return StepContext(step, parent, cases, lineage(parent, prompts), history, examples, shown, focus.iteration)

    def error_case(self, result: ExampleResult) -> ErrorCase:
        ex = self.examples[result.example_id]
        return ErrorCase(ex.id, ex.input, ex.targets, result.output, result.answer,
                         dict(ex.fields), result.score, result.feedback)


def lineage(prompt: Prompt, prompts: Mapping[str, Prompt]) -> tuple[Prompt, ...]:
    """The prompt's ancestors, oldest first."""
    chain = []
    while prompt.parent_id and prompt.parent_id in prompts:
        prompt = prompts[prompt.parent_id]
        chain.append(prompt)
    return tuple(reversed(chain))
