"""GEPA (Agrawal et al., "Reflective Prompt Evolution Can Outperform
Reinforcement Learning", ICLR 2026) as reflectloop's eighth method.

Each iteration: a parent drawn from the Pareto front of the pool, a minibatch
of dev examples, a reflection on the parent's outputs there with the metric's
feedback, one new candidate, scored on the same minibatch; only if it beats
its parent there is it scored on the whole dev set and added to the pool.  A
step is a fixed number of iterations.  The search itself is ``pareto``; this
module is the method's side of it: the meta-prompts, the minibatch as the
optimizer sees it, and ``ParetoSelection``, which runs one step's iterations
through the operations the loop lends it (``StepOps``).

The reflection and the new candidate are two optimizer calls, not the
package's one, so each is a card a person can accept, edit, reject or
replace with their own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

from core.evaluate import evaluate
from core.methods.base import Draft, Method, StepContext, draw_of, fill, parse_at_most
from core.methods.facts import MethodFacts
from core.methods.pareto import Gate, GepaSearch, Pick, Scores
from core.types import Evaluation, Example, ExampleResult, Params, Prompt, Task


@dataclass(frozen=True)
class GepaSettings:
    minibatch: int = 3  # dev examples per reflection, as in the package
    iterations: int = 10  # per step: about as many new candidates as the study's methods write
    max_metric_calls: int | None = None  # the package's budget; None: the steps bound the run
    skip_perfect: bool = True  # no mutation of a parent already perfect on its minibatch


@dataclass(frozen=True)
class Rollout:
    """One minibatch example as the optimizer sees it."""

    example_id: str
    input: str
    output: str
    score: float
    feedback: str


@dataclass(frozen=True)
class GepaContext(StepContext):
    minibatch: tuple[Rollout, ...] = ()
    iteration: int = 0  # part of every draw: a new iteration on the same parent asks afresh

    @property
    def draw(self) -> str:
        return f"{draw_of(self)}/i{self.iteration}"


def exact_match_feedback(result: ExampleResult, gold: Sequence[str]) -> str:
    """What exact match can say about an output: the expected answer, and what was read."""
    expected = " or ".join(f'"{g}"' for g in gold) or "(none given)"
    if result.correct:
        return f"Correct. The expected answer is {expected}."
    if result.answer:
        read = f'the answer read from the output was "{result.answer}"'
    else:
        read = "no answer could be read from the output"
    return f"Incorrect. The expected answer is {expected}; {read}."


def score_of(result: ExampleResult) -> float:
    return 1.0 if result.correct else 0.0


def scores_of(evaluation: Evaluation) -> dict[str, float]:
    """Per-example scores; an example whose call failed is left out, never scored 0."""
    return {r.example_id: score_of(r) for r in evaluation.scored}


def rollouts(evaluation: Evaluation, examples: Mapping[str, Example], ids: Sequence[str]) -> tuple[Rollout, ...]:
    by_id = {r.example_id: r for r in evaluation.scored}
    shown = []
    for i in ids:
        r = by_id.get(i)
        if r is not None:
            ex = examples[i]
            shown.append(Rollout(i, ex.input, r.output, score_of(r), exact_match_feedback(r, ex.targets)))
    return tuple(shown)


def format_rollouts(minibatch: Sequence[Rollout]) -> str:
    return "\n\n".join(
        f"## Example {k}\nInput:\n{r.input}\nModel's output:\n{r.output.strip()}\n"
        f"Score: {r.score:g}\nFeedback: {r.feedback}"
        for k, r in enumerate(minibatch, 1)
    )


class GEPA(Method):
    name = "gepa"
    # errors: the minibatch; one candidate per iteration, from one sample.
    defaults = MethodFacts(errors=3, per_parent=1, samples=1)

    def __init__(self, optimizer, task: Task, config, settings: GepaSettings | None = None):
        super().__init__(optimizer, task, config)
        self.settings = settings or GepaSettings()

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        ctx = _gepa(ctx)
        text = fill("gepa_reflect", prompt=ctx.parent.instruction, examples=format_rollouts(ctx.minibatch))
        return parse_at_most(await self.ask(text, purpose="reflect", draw=ctx.draw), 1)

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        ctx = _gepa(ctx)
        text = fill(
            "gepa_refine", prompt=ctx.parent.instruction, examples=format_rollouts(ctx.minibatch),
            feedback="\n".join(f"- {f}" for f in feedback),
        )
        return parse_at_most(await self.ask(text, purpose="refine", draw=ctx.draw), 1)

    async def mutate(self, ctx: GepaContext) -> Draft | None:
        """Reflection straight into a new candidate, with no review between: the package's path."""
        feedback = [d.text for d in await self.reflect(ctx) if d.text.strip()]
        drafts = [d for d in await self.refine(ctx, feedback) if d.text.strip()]
        return drafts[0] if drafts else None

    def selection(self) -> ParetoSelection:
        return ParetoSelection([e.id for e in self.task.dev], self.settings, self.config.seed)


def _gepa(ctx: StepContext) -> GepaContext:
    if not isinstance(ctx, GepaContext):
        raise TypeError("GEPA reflects on a minibatch: it needs a GepaContext, not a plain StepContext")
    return ctx


# ------------------------------------------------------ the selection hook
@dataclass(frozen=True)
class Focus:
    """What a selection asks the loop to evolve one parent on."""

    parent_id: str
    examples: tuple[str, ...] | None  # dev examples shown whole, right or wrong; None: the study's sampled errors
    tag: str = ""  # keeps proposal ids of several iterations on one parent in one step apart
    iteration: int | None = None  # GEPA's iteration, part of the optimizer's draw


class StepOps(Protocol):
    """What the loop lends a selection for one step."""

    async def evolve(self, focus: Focus) -> list[Prompt]:
        """REFLECT → review → REFINE → review: the kept candidates, not yet evaluated."""

    async def score(self, prompts: Sequence[Prompt], examples: Sequence[str] | None) -> dict[str, Scores]:
        """Evaluate (and record) the prompts on those dev examples; None: the whole dev set."""

    def note(self, text: str) -> None: ...


@dataclass(frozen=True)
class StepOutcome:
    kept: tuple[str, ...]  # what survives the step (GEPA: the Pareto front, best mean first)
    best: str  # the prompt evaluated on the test set
    evaluated: tuple[str, ...]  # prompts scored on the whole dev set this step
    picks: tuple[Pick, ...] = ()  # each iteration's parent and minibatch (skipped ones say why)
    gates: tuple[Gate, ...] = ()  # each new candidate's minibatch comparison with its parent


class ParetoSelection:
    """GEPA's way of choosing parents and keeping candidates, one step at a time."""

    def __init__(self, dev_ids: Sequence[str], settings: GepaSettings, seed: int):
        self.settings = settings
        self.search = GepaSearch(
            tuple(dev_ids), settings.minibatch, settings.max_metric_calls, settings.skip_perfect, seed=seed,
        )

    def start(self, scored: Sequence[tuple[str, Scores]]) -> StepOutcome:
        """Step 0's prompts, with their dev scores, become the pool."""
        for prompt_id, scores in scored:
            self.search.seed_candidate(prompt_id, scores)
        return self._outcome([p for p, _ in scored], [], [])

    async def run_step(self, step: int, ops: StepOps) -> StepOutcome:
        picks: list[Pick] = []
        gates: list[Gate] = []
        evaluated: list[str] = []
        for _ in range(self.settings.iterations):
            pick = self.search.next()
            if pick is None:
                ops.note(f"the budget of {self.search.max_metric_calls} metric calls is spent")
                break
            picks.append(pick)
            if pick.skipped:
                ops.note(f"iteration {pick.iteration}: {pick.parent_id}: {pick.skipped}")
                continue
            focus = Focus(pick.parent_id, pick.examples, tag=f"i{pick.iteration}.", iteration=pick.iteration)
            children = await ops.evolve(focus)
            if not children:
                ops.note(f"iteration {pick.iteration}: {pick.parent_id}: no new candidate to gate")
                continue
            minibatch = await ops.score(children, pick.examples)
            for child in children:
                gate = self.search.gate(pick, child.id, minibatch[child.id])
                gates.append(gate)
                verdict = "accepted" if gate.accepted else "rejected"
                ops.note(f"iteration {pick.iteration}: {child.id}: {gate.reason}: {verdict}")
                if gate.accepted:
                    full = await ops.score([child], None)
                    self.search.admit(gate, full[child.id])
                    evaluated.append(child.id)
        return self._outcome(evaluated, picks, gates)

    def to_dict(self) -> dict:
        """The search's whole state, for the step's record: a resumed run continues from it."""
        return self.search.to_dict()

    def restore(self, data: Mapping) -> None:
        self.search = GepaSearch.from_dict(data)

    def _outcome(self, evaluated: list[str], picks: list[Pick], gates: list[Gate]) -> StepOutcome:
        pool = self.search.pool
        return StepOutcome(tuple(pool.front()), pool.best(), tuple(evaluated), tuple(picks), tuple(gates))


# ------------------------------------------------ the path without review
class DirectOps:
    """``StepOps`` with nobody reviewing: each reflection goes straight into a
    candidate, as in the package.  The parity check and the bench drive GEPA
    through it; the loop lends its own, reviewed operations."""

    def __init__(self, method: GEPA, target, params: Params):
        self.method = method
        self.target = target
        self.params = params
        self.step = 0
        self.prompts: dict[str, Prompt] = {}
        self.dev: dict[str, Evaluation] = {}
        self.notes: list[str] = []
        self._examples = {e.id: e for e in method.task.dev}

    async def evolve(self, focus: Focus) -> list[Prompt]:
        parent = self.prompts[focus.parent_id]
        shown = rollouts(self.dev[parent.id], self._examples, focus.examples or ())
        ctx = GepaContext(self.step, parent, (), minibatch=shown, iteration=focus.iteration or 0)
        draft = await self.method.mutate(ctx)
        if draft is None:
            return []
        text = draft.text.strip()
        if any(_same(text, p.instruction) for p in self.prompts.values()):
            self.note(f"{parent.id}: the new candidate duplicates an existing prompt, dropped")
            return []
        child = Prompt(f"s{self.step}/{parent.id}/candidate/{focus.tag}0", text, None, parent.id, self.step, "llm")
        self.prompts[child.id] = child
        return [child]

    async def score(self, prompts: Sequence[Prompt], examples: Sequence[str] | None) -> dict[str, Scores]:
        out = {}
        for p in prompts:
            if examples is None:
                self.dev[p.id] = await evaluate(self.target, p, self.method.task.dev, split="dev", params=self.params)
                out[p.id] = scores_of(self.dev[p.id])
            else:
                chosen = [self._examples[i] for i in examples]
                out[p.id] = scores_of(await evaluate(self.target, p, chosen, split="dev", params=self.params))
        return out

    def note(self, text: str) -> None:
        self.notes.append(text)

    async def start(self, selection: ParetoSelection, prompts: Sequence[Prompt]) -> StepOutcome:
        """Step 0 without review: the given prompts, scored on the whole dev set."""
        for p in prompts:
            self.prompts[p.id] = p
        scored = await self.score(prompts, None)
        return selection.start([(p.id, scored[p.id]) for p in prompts])

    async def run_step(self, selection: ParetoSelection, step: int) -> StepOutcome:
        self.step = step
        return await selection.run_step(step, self)


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
