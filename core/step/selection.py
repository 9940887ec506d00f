"""The loop's selection hook: how a method picks the parents of a step and
what it keeps after it.

The loop owns the review points and the evaluations; a ``Selection`` owns
the choices between them.  Each step the loop lends the selection a
``StepOps`` (evolve a parent through REFLECT → review → REFINE → review,
score prompts, note, emit) and gets a ``StepOutcome`` back: what survives,
which prompt is tested, and for a method that plans iterations (GEPA) its
picks and gates.  The study's six methods share ``BeamSelection``; GEPA's
Pareto front is ``core.methods.gepa.ParetoSelection``.  Nothing in the loop
knows which one it drives.

Under adaptive evaluation the beam races its candidates (``core.step.adaptive``)
instead of scoring each on the whole dev set; the members it keeps end with
full scores, the ones it drops keep partial ones, marked so.

A prompt with no score (every example it was asked errored) is never kept,
selected or tested: a selection ranks only what was measured.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from reflectloop.core.step.adaptive import FIRST_BATCH, example_order, race
from reflectloop.core.events import Event
from reflectloop.core.step.failures import unscored
from reflectloop.core.types import Evaluation, ExampleResult, Gate, Pick, Prompt


@dataclass(frozen=True)
class Focus:
    """What a selection asks the loop to evolve one parent on."""

    parent_id: str
    examples: tuple[str, ...] | None = None  # dev examples shown whole, right or wrong; None: sampled errors
    tag: str = ""  # keeps proposal ids of several iterations on one parent in one step apart
    iteration: int | None = None  # GEPA's iteration, part of the optimizer's draw


class StepOps(Protocol):
    """What the loop lends a selection for one step."""

    evaluation: str  # "full" or "adaptive": how the run scores a step's candidates
    adaptive_z: float  # the race's confidence (``core.step.adaptive.race``'s ``z``)

    def kept(self) -> list[Prompt]:
        """What the previous step kept (the beam), in order."""

    async def evolve(self, focus: Focus) -> list[Prompt]:
        """REFLECT → review → REFINE → review (→ demonstrations): the kept candidates, not yet evaluated."""

    async def score(self, prompts: Sequence[Prompt], examples: Sequence[str] | None = None) -> dict[str, Evaluation]:
        """Evaluate the prompts on those dev examples; None: on the whole dev set, recorded."""

    def dev_ids(self) -> list[str]:
        """The dev set's example ids, in its order."""

    def record_dev_results(self, results: Mapping[str, Sequence[ExampleResult]]) -> dict[str, Evaluation]:
        """Keep each prompt's dev results gathered piecemeal as its evaluation
        of this step (recorded; marked partial when short of the dev set)."""

    def note(self, text: str) -> None: ...

    def emit(self, event: Event) -> None: ...


@dataclass(frozen=True)
class StepOutcome:
    kept: tuple[str, ...]  # what survives the step (the beam; GEPA: the Pareto front, best mean first)
    best: str  # the prompt evaluated on the test set
    picks: tuple[Pick, ...] = ()  # each iteration's parent and minibatch (skipped ones say why)
    gates: tuple[Gate, ...] = ()  # each new candidate's minibatch comparison with its parent
    front: Mapping[str, int] = field(default_factory=dict)  # front member -> examples it is best on
    evaluation: str = "full"  # how the candidates were scored ("adaptive": raced)
    calls_saved: int = 0  # scorings the race did not make, against full evaluation


class Selection(Protocol):
    """A method's selection.  ``start``, ``run_step``, ``to_dict`` and
    ``restore`` are each selection's own; the optional hooks have defaults,
    which a selection inherits by subclassing this protocol (the loop calls
    them on every one): ``next_focuses`` (what the next step evolves, so the
    loop can ask its first round ahead) and ``first_examples`` (what an
    accepted candidate is scored on first, so the loop can start it at once)."""

    def start(self, scored: Sequence[Evaluation]) -> StepOutcome:
        """Step 0: its prompts, scored on the whole dev set."""
        ...

    async def run_step(self, step: int, ops: StepOps) -> StepOutcome: ...

    def to_dict(self) -> dict[str, Any]:
        """The state a resumed run continues from (JSON-safe; kept in the step's record)."""
        ...

    def restore(self, data: Mapping[str, Any]) -> None: ...

    def next_focuses(self, outcome: StepOutcome) -> Sequence[Focus]:
        """What the next step evolves, known at the end of this one; empty
        (the default): not known before the next step runs (nothing is read ahead)."""
        return ()

    def first_examples(self, step: int, dev_ids: Sequence[str], evaluation: str) -> list[str] | None:
        """The dev examples a candidate accepted in this step is scored on
        first; None (the default): the selection plans its own scoring, and
        nothing starts at a candidate's acceptance."""
        return None


class BeamSelection(Selection):
    """The study's selection: every beam member is a parent; the next beam is
    the top ``beam`` by dev score of the parents and their children ("pool")
    or, as the study's code does, of the children alone ("children").  Ties
    are broken at random, seeded per step; with ``first_at_tie`` (``--protocol
    study``) the prompt tested is the first evaluated of those tied at the
    best score, as the study's stable sort tests it (AutoPrompter.py:309-311,341).
    Its state is the beam itself, which every step record keeps: nothing else to save."""

    def __init__(self, beam: int, mode: str, seed: int, reflects: bool, first_at_tie: bool = False):
        self.beam, self.mode, self.seed, self.reflects = beam, mode, seed, reflects
        self.first_at_tie = first_at_tie

    def start(self, scored: Sequence[Evaluation]) -> StepOutcome:
        return self._outcome(0, {ev.prompt_id: ev for ev in scored})

    async def run_step(self, step: int, ops: StepOps) -> StepOutcome:
        parents = ops.kept()
        scores = await ops.score(parents)
        if self.reflects and not any(scores[p.id].errors for p in parents):
            ops.note("no errors left on the dev set: the beam is kept")
            return self._outcome(step, scores)
        if ops.evaluation == "adaptive":
            # A metric of the whole set (macro-F1) cannot be predicted from a few examples.
            if any(scores[p.id].aggregate is not None for p in parents):
                ops.note("the metric scores the whole dev set at once: candidates are evaluated in full")
            else:
                return await self._raced(step, ops, parents, scores)

        async def children_of(parent: Prompt) -> list[Prompt]:
            children = await ops.evolve(Focus(parent.id))
            scores.update(await ops.score(children))
            return children

        groups = await asyncio.gather(*(children_of(p) for p in parents))
        children = [p.id for group in groups for p in group]
        if self.mode == "pool":
            return self._outcome(step, scores, [p.id for p in parents] + children)
        if not children:
            ops.note("no child survived review: the parents are kept")
            return self._outcome(step, scores)
        if all(scores[c].score is None for c in children):
            ops.note("no child has a score (every example errored): the parents are kept")
            return self._outcome(step, scores, [p.id for p in parents])
        return self._outcome(step, scores, children)

    async def _raced(self, step: int, ops: StepOps, parents: list[Prompt], scores: dict[str, Evaluation]) -> StepOutcome:
        """Evolve every parent, then race the pool; the parents' full scores are known."""
        groups = await asyncio.gather(*(ops.evolve(Focus(p.id)) for p in parents))
        children = [c for group in groups for c in group]
        if not children and self.mode == "children":
            ops.note("no child survived review: the parents are kept")
            return self._outcome(step, scores)
        pool = {p.id: p for p in ([*parents] if self.mode == "pool" else []) + children}
        known = {i: {r.example_id: r.value for r in scores[i].scored} for i in pool if i in scores}
        gathered: dict[str, dict[str, ExampleResult]] = {}

        async def score(candidate: str, ids: tuple[str, ...]) -> dict[str, float]:
            ev = (await ops.score([pool[candidate]], ids))[candidate]
            if candidate not in known:  # a parent keeps its full evaluation of an earlier step
                gathered.setdefault(candidate, {}).update({r.example_id: r for r in ev.results})
            return {r.example_id: r.value for r in ev.scored}

        result = await race(list(pool), ops.dev_ids(), score, self.beam, seed=f"{self.seed}:select:{step}",
                            known=known, z=ops.adaptive_z)
        ops.record_dev_results({i: tuple(rs.values()) for i, rs in gathered.items()})
        if not result.beam:
            raise unscored(step, list(pool))
        return StepOutcome(result.beam, result.beam[0], evaluation="adaptive", calls_saved=result.saved)

    def next_focuses(self, outcome: StepOutcome) -> list[Focus]:
        """What the next step evolves: every member of the beam kept now (the
        loop asks their first round ahead, ``core.step.readahead``)."""
        return [Focus(i) for i in outcome.kept]

    def first_examples(self, step: int, dev_ids: Sequence[str], evaluation: str) -> list[str]:
        """The dev examples a candidate accepted in this step is scored on
        first, so the loop can start them at its acceptance: the whole dev set,
        or under adaptive evaluation the race's first batch, in its order."""
        if step == 0 or evaluation != "adaptive":
            return list(dev_ids)
        return example_order(dev_ids, f"{self.seed}:select:{step}")[:FIRST_BATCH]

    def _outcome(self, step: int, scores: Mapping[str, Evaluation], pool: Sequence[str] | None = None) -> StepOutcome:
        """Top ``beam`` of ``pool`` (default: every prompt scored) among those
        with a score; a smaller pool is kept whole.  ``pool`` is in the order
        the step evaluated it: parents, then children in proposal order."""
        rng = random.Random(f"{self.seed}:select:{step}")
        unique = list(dict.fromkeys(scores if pool is None else pool))
        keys = {i: rng.random() for i in unique}  # drawn for every member, so the ties fall as they always did
        if not unique:
            raise RuntimeError("no prompt survived review: accept or add at least one initial prompt")
        rated = {i: s for i in unique if (s := scores[i].score) is not None}
        if not rated:
            raise unscored(step, unique)
        ranked = sorted(rated, key=lambda i: (-rated[i], keys[i]))[: self.beam]
        if self.first_at_tie:  # ``rated`` keeps the evaluation order: the first at the top score
            return StepOutcome(tuple(ranked), next(i for i in rated if rated[i] == rated[ranked[0]]))
        return StepOutcome(tuple(ranked), ranked[0])

    def to_dict(self) -> dict[str, Any]:
        return {}

    def restore(self, data: Mapping[str, Any]) -> None:
        pass
