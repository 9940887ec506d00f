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
from reflectloop.core.methods.rounds import SAMPLINGS, SELECTIONS, parse_sampling, parse_selection
from reflectloop.core.step.failures import settled, unscored
from reflectloop.core.step.selection import Focus, Selection, StepOutcome
from reflectloop.core.types import Evaluation, Task

__all__ = ["GEPA", "GepaOptions", "GepaSettings", "ParetoSelection", "exact_match_feedback", "rollouts", "scores_of"]


@dataclass(frozen=True)
class GepaOptions:
    """GEPA's own settings, as a person sets them (``--gepa-iterations``, ...)."""

    # per step: about as many new candidates as the study's methods write
    iterations: int = setting(10, "GEPA iterations per step: each reflects on a minibatch of --errors dev "
                              "examples and writes one candidate", minimum=1)
    max_metric_calls: int | None = setting(None, "GEPA's budget of metric calls, counted as the gepa package "
                                           "counts them; unset: the steps bound the run", minimum=1)
    # gepa 0.1.4's proposal sampling and selection (``core.methods.rounds``); each iteration is a round
    sampling: str = setting("single", f"GEPA proposals per iteration, run at once: {SAMPLINGS} (P parents "
                            "drawn from the front, N minibatches each)")
    selection: str = setting("all", f"which of an iteration's candidates that beat their parents join the pool: "
                             f"{SELECTIONS}")


@dataclass(frozen=True)
class GepaSettings:
    """What the search runs with: the options, and the minibatch (the run's errors)."""

    minibatch: int = 3  # dev examples per reflection, as in the package
    iterations: int = GepaOptions.iterations
    max_metric_calls: int | None = GepaOptions.max_metric_calls
    skip_perfect: bool = True  # no mutation of a parent already perfect on its minibatch
    sampling: str = GepaOptions.sampling
    selection: str = GepaOptions.selection


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
        self.settings = settings or GepaSettings(config.n_errors, options.iterations, options.max_metric_calls,
                                                 sampling=options.sampling, selection=options.selection)

    @classmethod
    def refusal(cls, settings: RunSettings) -> str | None:
        if settings.errors is not None and settings.errors < 1:
            return "method 'gepa' reflects on a minibatch of 'errors' dev examples: it must be at least 1"
        options = settings.options_of(GepaOptions)
        try:
            parse_sampling(options.sampling)
            parse_selection(options.selection)
        except ValueError as exc:
            return str(exc)
        return None

    @classmethod
    def step_calls(cls, settings: RunSettings) -> StepCalls:
        # A reflection and a candidate per proposal; each candidate scored on
        # its minibatch, and at most each on the whole dev set.
        options = settings.options_of(GepaOptions)
        proposals = options.iterations * parse_sampling(options.sampling).size
        return StepCalls(2 * proposals, proposals * (settings.n_errors + settings.dev_size))

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
def focus_of(pick: Pick) -> Focus:
    """What the loop evolves for a pick.  The tag keeps the ids of one
    iteration's proposals apart: ``i3.`` (its first, the only one of a
    sequential run, as ever), ``i3.1.``, ``i3.2.``, ... for the rest."""
    tag = f"i{pick.iteration}." + (f"{pick.task}." if pick.task else "")
    return Focus(pick.parent_id, pick.examples, tag=tag, iteration=pick.iteration)


class ParetoSelection(Selection):
    """GEPA's way of choosing parents and keeping candidates, one step at a time."""

    def __init__(self, dev_ids: Sequence[str], settings: GepaSettings, seed: int):
        self.settings = settings
        self.search = GepaSearch(
            tuple(dev_ids), settings.minibatch, settings.max_metric_calls, settings.skip_perfect, seed=seed,
            sampling=settings.sampling, selection=settings.selection,
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
            planned = self.search.plan()
            if planned is None:
                ops.note(f"the budget of {self.search.max_metric_calls} metric calls is spent")
                break
            picks += planned
            gates += await self._round(step, ops, planned)
        return self._outcome(picks, gates)

    async def _round(self, step: int, ops, planned: list[Pick]) -> list[Gate]:
        """One iteration's proposals: asked and scored on their minibatches at
        once, then gated, selected, scored on the whole dev set and admitted in
        plan order, so the order the calls come back in changes nothing."""
        for pick in planned:
            ops.emit(IterationStarted(step, pick))
            if pick.skipped:
                ops.note(f"iteration {pick.iteration}: {pick.parent_id}: {pick.skipped}")
        tried = [p for p in planned if not p.skipped]
        evolved = await settled(ops.evolve(focus_of(p)) for p in tried)
        for pick, children in zip(tried, evolved):
            if not children:
                ops.note(f"iteration {pick.iteration}: {pick.parent_id}: no new candidate to gate")
        made = [(pick, children) for pick, children in zip(tried, evolved) if children]
        scored = await settled(ops.score(children, pick.examples) for pick, children in made)
        candidates = {c.id: c for _, children in made for c in children}
        gates = [self.search.gate(pick, c.id, scores_of(minibatch[c.id]))
                 for (pick, children), minibatch in zip(made, scored) for c in children]
        marked, kept = self.search.select(gates, {i: c.instruction for i, c in candidates.items()})
        for gate in marked:
            ops.emit(GateDecided(step, gate))
            ops.note(f"iteration {gate.iteration}: {gate.candidate_id}: {gate.reason}: "
                     f"{'accepted' if gate.accepted else 'rejected'}")
        if kept:  # the whole dev set for every kept one at once; they join the pool in order
            full = await ops.score([candidates[g.candidate_id] for g in kept])
            for gate in kept:
                self.search.admit(gate, scores_of(full[gate.candidate_id]))
                pool = self.search.pool
                ops.emit(FrontUpdated(step, pool.wins(), pool.best()))
        return marked

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
