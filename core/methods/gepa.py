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
from typing import Any, Mapping, Sequence

from reflectloop.core.events import FrontUpdated, GateDecided, IterationStarted
from reflectloop.core.methods.base import Method, Rollout, RunSettings, StepContext, draw_of, fill
from reflectloop.core.methods.parsing import Draft, parse_at_most
from reflectloop.core.methods.context import error_feedback, exact_match_feedback, rollouts, scores_of
from reflectloop.core.methods.facts import MethodFacts, StepCalls, setting
from reflectloop.core.methods.pareto import Gate, GepaSearch, Pick
from reflectloop.core.step.failures import unscored
from reflectloop.core.step.selection import Focus, Selection, StepOutcome
from reflectloop.core.types import Evaluation, Prompt, Task

__all__ = ["GEPA", "GepaOptions", "GepaSettings", "ParetoSelection", "exact_match_feedback", "rollouts", "scores_of"]


@dataclass(frozen=True)
class GepaOptions:
    """GEPA's own settings, as a person sets them (``--gepa-iterations``, ...)."""

    # per step: about as many new candidates as the study's methods write
    iterations: int = setting(10, "GEPA iterations per step: each reflects on a minibatch of --errors dev "
                              "examples and writes one candidate", minimum=1)
    max_metric_calls: int | None = setting(None, "GEPA's budget of metric calls, counted as the gepa package "
                                           "counts them; unset: the steps bound the run", minimum=1)


@dataclass(frozen=True)
class GepaSettings:
    """What the search runs with: the options, and the minibatch (the run's errors)."""

    minibatch: int = 3  # dev examples per reflection, as in the package
    iterations: int = GepaOptions.iterations
    max_metric_calls: int | None = GepaOptions.max_metric_calls
    skip_perfect: bool = True  # no mutation of a parent already perfect on its minibatch


def format_rollouts(minibatch: Sequence[Rollout]) -> str:
    return "\n\n".join(
        f"## Example {k}\nInput:\n{r.input}\nModel's output:\n{r.output.strip()}\n"
        f"Score: {r.score:g}\nFeedback: {r.feedback}"
        for k, r in enumerate(minibatch, 1)
    )


def shown(ctx: StepContext) -> str:
    """The minibatch the optimizer reflects on.  An error set given without one
    (the audit's control re-asks a method so) is shown as failed rollouts."""
    minibatch = ctx.minibatch or tuple(
        Rollout(e.example_id, e.input, e.output, e.score or 0.0, error_feedback(e)) for e in ctx.errors
    )
    if not minibatch:
        raise ValueError("GEPA reflects on a minibatch or an error set: this context has neither")
    return format_rollouts(minibatch)


class GEPA(Method):
    name = "gepa"
    # errors: the minibatch; one candidate per iteration, from one sample.
    defaults = MethodFacts(errors=3, per_parent=1, samples=1)
    options_class = GepaOptions
    notes = {"errors": "GEPA: its minibatch of dev examples", "selection": "GEPA keeps its Pareto front instead"}

    def __init__(self, optimizer, task: Task, config: RunSettings, settings: GepaSettings | None = None):
        super().__init__(optimizer, task, config)
        options = config.options_of(GepaOptions)
        self.settings = settings or GepaSettings(config.n_errors, options.iterations, options.max_metric_calls)

    @classmethod
    def refusal(cls, settings: RunSettings) -> str | None:
        if settings.errors is not None and settings.errors < 1:
            return "method 'gepa' reflects on a minibatch of 'errors' dev examples: it must be at least 1"
        return None

    @classmethod
    def step_calls(cls, settings: RunSettings) -> StepCalls:
        # A reflection and a candidate per iteration; each candidate scored on
        # its minibatch, and at most each on the whole dev set.
        iterations = settings.options_of(GepaOptions).iterations
        return StepCalls(2 * iterations, iterations * (settings.n_errors + settings.dev_size))

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        text = fill("gepa_reflect", prompt=ctx.parent.instruction, examples=shown(ctx))
        return parse_at_most(await self.ask(text, purpose="reflect", draw=draw_of(ctx)), 1)

    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        text = fill(
            "gepa_refine", prompt=ctx.parent.instruction, examples=shown(ctx),
            feedback="\n".join(f"- {f}" for f in feedback),
        )
        return parse_at_most(await self.ask(text, purpose="refine", draw=draw_of(ctx)), 1)

    def selection(self) -> ParetoSelection:
        return ParetoSelection([e.id for e in self.task.dev], self.settings, self.config.seed)


# ------------------------------------------------------ the selection hook
class ParetoSelection(Selection):
    """GEPA's way of choosing parents and keeping candidates, one step at a time."""

    def __init__(self, dev_ids: Sequence[str], settings: GepaSettings, seed: int):
        self.settings = settings
        self.search = GepaSearch(
            tuple(dev_ids), settings.minibatch, settings.max_metric_calls, settings.skip_perfect, seed=seed,
        )

    def start(self, scored: Sequence[Evaluation]) -> StepOutcome:
        """Step 0's prompts, with their dev scores, become the pool."""
        for ev in scored:
            self.search.seed_candidate(ev.prompt_id, scores_of(ev))
        if not any(self.search.pool.scores.values()):  # nothing measured: no front to keep, no best to test
            raise unscored(0, [ev.prompt_id for ev in scored])
        return self._outcome([], [])

    async def run_step(self, step: int, ops) -> StepOutcome:
        picks: list[Pick] = []
        gates: list[Gate] = []
        for _ in range(self.settings.iterations):
            pick = self.search.next()
            if pick is None:
                ops.note(f"the budget of {self.search.max_metric_calls} metric calls is spent")
                break
            picks.append(pick)
            ops.emit(IterationStarted(step, pick))
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
                gate = await self._gate(step, ops, pick, child, minibatch[child.id])
                gates.append(gate)
        return self._outcome(picks, gates)

    async def _gate(self, step: int, ops, pick: Pick, child: Prompt, minibatch: Evaluation) -> Gate:
        """The gate on one child; an accepted one is scored on the whole dev set and joins the pool."""
        gate = self.search.gate(pick, child.id, scores_of(minibatch))
        ops.emit(GateDecided(step, gate))
        verdict = "accepted" if gate.accepted else "rejected"
        ops.note(f"iteration {pick.iteration}: {child.id}: {gate.reason}: {verdict}")
        if gate.accepted:
            full = await ops.score([child])
            self.search.admit(gate, scores_of(full[child.id]))
            pool = self.search.pool
            ops.emit(FrontUpdated(step, pool.wins(), pool.best()))
        return gate

    def to_dict(self) -> dict[str, Any]:
        """The search's whole state, for the step's record: a resumed run continues from it."""
        return self.search.to_dict()

    def restore(self, data: Mapping[str, Any]) -> None:
        if not data:
            raise ValueError("the session's last step holds no GEPA state: it cannot be continued as gepa")
        self.search = GepaSearch.from_dict(data)

    def _outcome(self, picks: list[Pick], gates: list[Gate]) -> StepOutcome:
        pool = self.search.pool
        return StepOutcome(tuple(pool.front()), pool.best(), picks=tuple(picks), gates=tuple(gates), front=pool.wins())
