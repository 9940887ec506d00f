"""The control experiment for repetitiveness: re-ask the optimizer for
feedback on the same prompt with a *different* error set, and see whether
the feedback changes more than it does when only the sample changes.

For each of (at most ``max_sets``) recorded LLM reflections, the method's
own ``reflect(StepContext)`` is called again through the session's optimizer
with fresh samples (sample indices the run never used, so nothing comes from
the cache) under these conditions:

``same``      the very error set the recorded feedback answered — the
              baseline: how much feedback varies by sampling alone;
``shuffled``  a fresh seeded draw from the parent's own dev errors (other
              errors when it has more than the method shows, else the same
              ones in another order);
``other``     errors another prompt of the session made (its inputs, its
              outputs), preferring examples outside the original set;
``correct``   examples the parent got *right*, presented as errors.

Each new reflection is compared with the recorded one (all feedback texts of
the set joined).  Feedback that follows the errors should be much less
similar under ``shuffled``/``other``/``correct`` than under ``same``; the
study's finding 1 is that it is not.  ``insensitivity`` = mean similarity
under different error sets / mean under the same one: near 1 (or above)
means the feedback ignores the errors.
"""
from __future__ import annotations

import asyncio
import copy
import math
import random
from dataclasses import dataclass, field, replace
from typing import Sequence

from reflectloop.core.analysis.data import AuditData
from reflectloop.core.analysis.repetition import Distribution
from reflectloop.core.analysis.stats import mean
from reflectloop.core.analysis.text import Similarity, TfIdfSimilarity
from reflectloop.core.settings.config import RunConfig
from reflectloop.core.methods.base import Method, StepContext
from reflectloop.core.types import ErrorCase, Evaluation, Example, Prompt, Task

CONDITIONS = ("same", "shuffled", "other", "correct")
DIFFERENT = ("shuffled", "other", "correct")
SAMPLE_OFFSET = 1000  # control sample k uses sample index (original) + 1000 * (k + 1)


@dataclass(frozen=True)
class ControlSample:
    step: int
    parent_id: str
    condition: str
    sample: int
    errors: tuple[str, ...]  # example ids shown
    text: str  # the new feedback, joined
    similarity: float  # to the recorded feedback on the original error set
    overlap: float = 0.0  # share of the original error examples this set shows too

    def to_dict(self) -> dict:
        return dict(self.__dict__, errors=list(self.errors))


@dataclass
class ControlResult:
    backend: str
    method: str
    samples: list[ControlSample] = field(default_factory=list)
    skipped: list[tuple[int, str, str, str]] = field(default_factory=list)  # (step, parent, condition, why)
    originals: dict[str, str] = field(default_factory=dict)  # "step|parent[|round]" -> recorded feedback, joined

    def by_condition(self) -> dict[str, Distribution]:
        return {c: Distribution(tuple(s.similarity for s in self.samples if s.condition == c)) for c in CONDITIONS}

    @property
    def same(self) -> float:
        return mean(s.similarity for s in self.samples if s.condition == "same")

    @property
    def different(self) -> float:
        return mean(s.similarity for s in self.samples if s.condition in DIFFERENT)

    @property
    def insensitivity(self) -> float:
        """Similarity under different error sets relative to the same one."""
        same, diff = self.same, self.different
        if math.isnan(same) or math.isnan(diff) or same == 0:
            return math.nan
        return diff / same

    def to_dict(self) -> dict:
        f = lambda x: None if math.isnan(x) else x
        return {
            "backend": self.backend, "method": self.method,
            "conditions": {c: d.to_dict() for c, d in self.by_condition().items()},
            "same": f(self.same), "different": f(self.different), "insensitivity": f(self.insensitivity),
            "samples": [s.to_dict() for s in self.samples],
            "skipped": [dict(step=s, parent_id=p, condition=c, reason=r) for s, p, c, r in self.skipped],
        }


class _Resampled:
    """The optimizer, asked for a sample the run never drew."""

    def __init__(self, llm, offset: int):
        self._llm = llm
        self._offset = offset

    async def complete(self, messages, params, *, purpose: str = ""):
        return await self._llm.complete(messages, replace(params, sample=params.sample + self._offset), purpose=f"control-{purpose}")

    async def choices(self, messages, params, *, purpose: str = ""):
        # A request of n choices (released sampling) is re-asked the same way.
        return await self._llm.choices(messages, replace(params, sample=params.sample + self._offset), purpose=f"control-{purpose}")

    def __getattr__(self, name):
        return getattr(self._llm, name)


def _case(example: Example, output: str, answer: str | None) -> ErrorCase:
    return ErrorCase(example.id, example.input, example.targets, output, answer)


def _lineage(data: AuditData, prompt: Prompt) -> tuple[Prompt, ...]:
    chain, seen = [], {prompt.id}
    while prompt.parent_id and prompt.parent_id in data.prompts and prompt.parent_id not in seen:
        prompt = data.prompts[prompt.parent_id]
        seen.add(prompt.id)
        chain.append(prompt)
    return tuple(reversed(chain))


def error_sets_for(
    data: AuditData, task: Task, step: int, parent_id: str, original: Sequence[ErrorCase], *, seed: int = 0
) -> dict[str, tuple[tuple[ErrorCase, ...] | None, str]]:
    """condition -> (error set, "" ) or (None, why it cannot be built)."""
    examples = {e.id: e for e in (*task.ini, *task.dev, *task.test)}
    n = max(1, len(original))
    rng = random.Random(f"{seed}:control:{step}:{parent_id}")
    out: dict[str, tuple[tuple[ErrorCase, ...] | None, str]] = {"same": (tuple(original), "")}
    parent_dev: Evaluation | None = data.dev.get(parent_id)

    # shuffled: another draw from the parent's own dev errors
    pool = [r for r in parent_dev.errors if r.example_id in examples] if parent_dev else []
    if pool:
        drawn = rng.sample(pool, min(n, len(pool)))
        cases = [_case(examples[r.example_id], r.output, r.answer) for r in drawn]
        if [c.example_id for c in cases] == [c.example_id for c in original] and len(cases) > 1:
            cases = cases[1:] + cases[:1]
        out["shuffled"] = (tuple(cases), "")
    elif len(original) > 1:
        out["shuffled"] = (tuple(original[1:]) + tuple(original[:1]), "")
    else:
        out["shuffled"] = (None, "one error and no dev evaluation of the parent to draw others from")

    # other: errors another prompt made, preferring examples outside the original set
    shown = {c.example_id for c in original}
    others = []
    for pid, ev in data.dev.items():
        errs = [r for r in ev.errors if r.example_id in examples] if pid != parent_id else []
        if errs:
            fresh = [r for r in errs if r.example_id not in shown]
            others.append((min(len(fresh), n), len(errs), fresh, errs))
    if not others:
        out["other"] = (None, "no other prompt of the session made dev errors")
    else:
        _, _, fresh, errs = max(others, key=lambda o: o[:2])  # the first of equals
        pool = fresh if len(fresh) >= n else fresh + [r for r in errs if r.example_id in shown][: n - len(fresh)]
        drawn = rng.sample(pool, min(n, len(pool)))
        out["other"] = (tuple(_case(examples[r.example_id], r.output, r.answer) for r in drawn), "")

    # correct: the parent's right answers, labelled as errors
    right = [r for r in parent_dev.scored if r.correct and r.example_id in examples] if parent_dev else []
    if right:
        drawn = rng.sample(right, min(n, len(right)))
        out["correct"] = (tuple(_case(examples[r.example_id], r.output, r.answer) for r in drawn), "")
    else:
        out["correct"] = (None, "the parent got no dev example right")
    return out


async def run_control(
    data: AuditData,
    task: Task,
    method: Method,
    *,
    conditions: Sequence[str] = CONDITIONS,
    samples: int = 1,
    max_sets: int = 3,
    seed: int = 0,
    backend: Similarity | None = None,
) -> ControlResult:
    """Re-ask ``method`` (whose ``optimizer`` is the real model) for feedback.
    Every control call goes through the optimizer's cache and call records
    with purpose ``control-reflect``."""
    if not method.reflects:
        raise ValueError(f"method {method.name!r} writes no feedback: there is nothing to control")
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"unknown control condition(s) {', '.join(unknown)} (known: {', '.join(CONDITIONS)})")
    backend = backend or TfIdfSimilarity()
    result = ControlResult(backend.name, method.name)
    sets: dict[tuple[int, str, str], list] = {}  # (step, parent, round) -> its feedback
    for f in data.feedback("llm"):
        if f.text.strip() and f.errors:
            sets.setdefault(f.error_set, []).append(f)
    usable = [k for k in sets if k[1] in data.prompts]
    for k in sets:
        if k[1] not in data.prompts:
            result.skipped.append((k[0], k[1], "*", "the parent prompt is not in the data"))
    chosen = spread_evenly(usable, max_sets)

    jobs = []
    for key in chosen:
        step, parent_id, _ = key
        feedback = sets[key]
        parent = data.prompts[parent_id]
        result.originals[_label(key)] = "\n".join(f.text for f in feedback)
        built = error_sets_for(data, task, step, parent_id, feedback[0].errors, seed=seed)
        history = tuple((data.prompts[i], ev.score) for i, ev in data.dev.items()
                        if i in data.prompts and ev.score is not None)
        for condition in conditions:
            errors, why = built[condition]
            if errors is None:
                result.skipped.append((step, parent_id, condition, why))
                continue
            ctx = StepContext(step, parent, errors, _lineage(data, parent), history, tuple(task.dev[:2]))
            for s in range(samples):
                jobs.append((key, condition, s, errors, _reflect(method, ctx, SAMPLE_OFFSET * (s + 1))))
    drafts = await asyncio.gather(*(j[-1] for j in jobs))

    texts = ["\n".join(d.text for d in ds) for ds in drafts]
    keys = list(result.originals)
    originals = [result.originals[k] for k in keys]
    m = backend.matrix(originals + texts) if texts else []
    index = {k: i for i, k in enumerate(keys)}
    for j, (key, condition, s, errors, _) in enumerate(jobs):
        step, parent_id, _ = key
        sim = m[index[_label(key)]][len(keys) + j]
        shown = tuple(e.example_id for e in errors)
        original = {e.example_id for e in sets[key][0].errors}
        result.samples.append(ControlSample(
            step, parent_id, condition, s, shown, texts[j], sim, len(original & set(shown)) / len(original),
        ))
    return result


def _label(key: tuple[int, str, str]) -> str:
    """``step|parent`` (GEPA: ``step|parent|round``) of an error set."""
    return "|".join(str(part) for part in key if part != "")


def spread_evenly(items: list, k: int) -> list:
    """At most k items, spread from the first to the last (all steps, not just the early ones)."""
    if k <= 0 or not items:
        return []
    if len(items) <= k:
        return list(items)
    if k == 1:
        return [items[0]]
    picks = sorted({round(i * (len(items) - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in picks]


async def _reflect(method: Method, ctx: StepContext, offset: int):
    clone = copy.copy(method)
    clone.optimizer = _Resampled(method.optimizer, offset)
    return await clone.reflect(ctx)


def control_method(config: RunConfig, task: Task, *, cache=..., on_call=None) -> Method:
    """The session's method with its real optimizer (``make_llm`` from the
    config's spec and base URL).  Close it with ``await method.optimizer.aclose()``."""
    from reflectloop.core.llm import make_llm
    from reflectloop.core.methods import make_method

    optimizer = make_llm(
        config.optimizer, role="optimizer", base_url=config.optimizer_base_url, concurrency=config.concurrency,
        cache=cache, on_call=on_call,
    )
    return make_method(config.method, optimizer, task, config)


def session_task(config: RunConfig, data_dir: str | None = None) -> Task:
    """The session's task, loaded as the run loaded it (same seed and sizes)."""
    from reflectloop.core.tasks import load_task

    return load_task(
        config.task, data_dir=data_dir or config.data_dir, seed=config.seed,
        dev_size=config.dev_size, test_size=config.test_size,
    )
