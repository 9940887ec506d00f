"""GEPA's search as plain data: a pool of candidates scored per dev example,
the Pareto front over those examples, the parent draw, the epoch-shuffled
minibatches, the acceptance gate and the budget of metric calls.

Nothing here calls a model or knows the loop.  The search says what to do
next (a ``Pick``: this parent, these examples), is told the scores that came
back, and answers with decisions (a ``Gate``).  That keeps it testable with
scripted scores and comparable, decision by decision, with the reference
``gepa`` package: at the same seed it draws from one ``random.Random`` in the
package's order (the parent first, then the minibatch), so the same scores
lead to the same parents, minibatches and gate decisions.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from reflectloop.core.methods.rounds import Sampling, choose, parse_sampling, parse_selection
from reflectloop.core.types import Gate, Pick  # plain data: a step's record keeps them

Scores = Mapping[str, float]  # dev example id -> score in [0, 1]; an example whose call failed is absent


# --------------------------------------------------------------------- pool
@dataclass
class Pool:
    """Every candidate evaluated on the whole dev set, in the order added."""

    dev_ids: tuple[str, ...]
    ids: list[str] = field(default_factory=list)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)

    def add(self, candidate_id: str, scores: Scores, parent_id: str | None = None) -> None:
        if candidate_id in self.scores:
            raise ValueError(f"candidate {candidate_id!r} is already in the pool")
        unknown = set(scores) - set(self.dev_ids)
        if unknown:
            raise ValueError(f"candidate {candidate_id!r}: scores for examples not in the dev set: {sorted(unknown)}")
        self.ids.append(candidate_id)
        self.scores[candidate_id] = {i: float(scores[i]) for i in self.dev_ids if i in scores}
        self.parents[candidate_id] = parent_id

    def mean(self, candidate_id: str) -> float:
        got = self.scores[candidate_id]
        return sum(got.values()) / len(got) if got else -math.inf

    def best(self) -> str:
        """Highest mean; a tie goes to the one scored on more examples, then the earliest.
        A candidate scored on no example has no mean and is never the best."""
        rated = [c for c in self.ids if self.scores[c]]
        if not rated:
            raise ValueError("no candidate in the pool has a dev score" if self.ids else "the pool is empty")
        return max(rated, key=lambda c: (self.mean(c), len(self.scores[c]), -self.ids.index(c)))

    def fronts(self) -> dict[str, list[str]]:
        """Per dev example (that anyone was scored on): the candidates with its best score."""
        return {example: [self.ids[k] for k in front] for example, front in self._front_sets().items()}

    def _front_sets(self) -> dict[str, set[int]]:
        """The fronts as pool positions, kept as the package keeps them: per
        example a set begun afresh by a better score and added to on a tie,
        candidate by candidate, then copied.  Their order of iteration (CPython's,
        for sets of ints, which depends on how a set was built) orders the
        parent draw's tickets, so the same sets are built the same way."""
        top: dict[str, float] = {}
        sets: dict[str, set[int]] = {}
        for k, c in enumerate(self.ids):
            for example, score in self.scores[c].items():
                if score > top.get(example, -math.inf):
                    top[example], sets[example] = score, {k}
                elif score == top[example]:
                    sets[example].add(k)
        return {example: set(front) for example, front in sets.items()}

    def wins(self) -> dict[str, int]:
        """The Pareto front: each candidate left standing, with how many examples it is best on.

        A candidate is dropped when every example it is best on is also won by
        another candidate still standing; the weakest (by mean, then first
        appearance) are considered first, one at a time, as in the package."""
        fronts = self._front_sets()
        appearing = list(dict.fromkeys(k for front in fronts.values() for k in front))
        order = sorted(appearing, key=lambda k: self.mean(self.ids[k]))  # stable: ties keep their first appearance
        dropped: set[int] = set()
        while True:
            standing = set(order) - dropped
            weak = next((k for k in order if k in standing and _covered(k, standing - {k}, fronts)), None)
            if weak is None:
                break
            dropped.add(weak)
        wins: dict[str, int] = {}
        for front in fronts.values():
            for k in {k for k in front if k not in dropped}:  # a new set, as the package's, in its order
                wins[self.ids[k]] = wins.get(self.ids[k], 0) + 1
        return wins

    def front(self) -> list[str]:
        """The Pareto front, best mean first (ties: pool order)."""
        return sorted(self.wins(), key=lambda c: (-self.mean(c), self.ids.index(c)))


def _covered(candidate: int, others: set[int], fronts: Mapping[str, set[int]]) -> bool:
    return all(any(o in others for o in front) for front in fronts.values() if candidate in front)


def draw_parent(pool: Pool, rng: random.Random) -> str:
    """A front candidate, drawn with probability proportional to its wins."""
    tickets = [c for c, n in pool.wins().items() for _ in range(n)]
    if not tickets:
        raise ValueError("no candidate in the pool has a dev score to draw a parent from")
    return rng.choice(tickets)


# ------------------------------------------------------------------ sampler
@dataclass
class EpochSampler:
    """Minibatches that walk through a shuffled dev set, epoch after epoch.

    An epoch's order is padded to a multiple of the minibatch size with the
    least used examples (ties: the one shuffled last), so every minibatch is
    full; iteration ``i`` takes the ``i``-th slice."""

    size: int
    order: list[str] = field(default_factory=list)
    epoch: int = -1

    def minibatch(self, ids: Sequence[str], iteration: int, rng: random.Random, call: int = 0) -> tuple[str, ...]:
        """Iteration ``iteration``'s minibatch; a round's ``call``-th of several
        takes the ``call``-th slice after it (the epoch is the iteration's, so
        a round never reshuffles midway; past the end the slices wrap)."""
        if not ids:
            raise ValueError("cannot draw a minibatch from an empty dev set")
        start = iteration * self.size
        epoch = 0 if self.epoch == -1 else start // len(self.order)
        if not self.order or epoch > self.epoch:
            self.epoch = epoch
            self.order = self._shuffled(ids, rng)
        start = (start + call * self.size) % len(self.order)
        return tuple(self.order[start : start + self.size])

    def _shuffled(self, ids: Sequence[str], rng: random.Random) -> list[str]:
        order = list(ids)
        rng.shuffle(order)
        uses = {i: 1 for i in order}
        position = {i: k for k, i in enumerate(order)}
        for _ in range(-len(order) % self.size):
            pad = min(order, key=lambda i: (uses[i], -position[i]))
            uses[pad] += 1
            order.append(pad)
        return order


# ------------------------------------------------------------------- search
@dataclass
class GepaSearch:
    """The decisions of GEPA's reflective-mutation loop, one iteration (a
    round of one or more proposals) at a time.

    Metric calls are counted as the package counts them: every full dev
    evaluation, the parent's minibatch (it supplies the outputs reflected on)
    and the candidate's minibatch.  The budget is checked before an iteration
    begins, never inside one."""

    dev_ids: tuple[str, ...]
    minibatch_size: int = 3
    max_metric_calls: int | None = None
    skip_perfect: bool = True
    perfect: float = 1.0
    seed: int = 0
    sampling: str = "single"  # a round's proposals (``core.methods.rounds``)
    selection: str = "all"  # which of a round's passing candidates join the pool
    shape: Sampling = field(init=False)
    keep: int | None = field(init=False)  # of a round's passing candidates: None, all
    pool: Pool = field(init=False)
    sampler: EpochSampler = field(init=False)
    rng: random.Random = field(init=False, repr=False)
    iteration: int = -1  # the last iteration begun
    metric_calls: int = 0

    def __post_init__(self) -> None:
        if self.minibatch_size < 1:
            raise ValueError(f"the minibatch size must be at least 1, got {self.minibatch_size}")
        if not self.dev_ids:
            raise ValueError("GEPA needs a dev set of at least one example")
        self.shape = parse_sampling(self.sampling)
        self.keep = parse_selection(self.selection)
        self.pool = Pool(tuple(self.dev_ids))
        self.sampler = EpochSampler(self.minibatch_size)
        self.rng = random.Random(self.seed)

    @property
    def spent(self) -> bool:
        return self.max_metric_calls is not None and self.metric_calls >= self.max_metric_calls

    def seed_candidate(self, candidate_id: str, scores: Scores) -> None:
        """A starting candidate (a prompt of step 0), evaluated on the whole dev set."""
        self.metric_calls += len(self.dev_ids)
        self.pool.add(candidate_id, scores)

    def plan(self) -> list[Pick] | None:
        """The next round: its parents, each drawn from the front as it stands
        now, and their minibatches, in the package's order (a parent, then its
        minibatches); None once the budget is spent (checked per round).
        A parent's minibatch counts its metric calls once, however many picks share it."""
        if self.spent:
            return None
        if not self.pool.ids:
            raise ValueError("the pool is empty: seed it with the step-0 prompts first")
        self.iteration += 1
        picks: list[Pick] = []
        for _ in range(self.shape.parents):
            parent = draw_parent(self.pool, self.rng)
            for _ in range(self.shape.per_parent):
                minibatch = self.sampler.minibatch(self.dev_ids, self.iteration, self.rng, call=len(picks))
                if not any(p.parent_id == parent and p.minibatch == minibatch for p in picks):
                    self.metric_calls += len(minibatch)
                picks.append(self._pick(parent, minibatch, len(picks)))
        return picks

    def next(self) -> Pick | None:
        """The next iteration's one pick (a sampling of one proposal per round)."""
        if self.shape.size != 1:
            raise ValueError(f"sampling {self.sampling!r} plans rounds of {self.shape.size}: use plan()")
        picks = self.plan()
        return picks[0] if picks else None

    def _pick(self, parent: str, minibatch: tuple[str, ...], task: int) -> Pick:
        known = self.pool.scores[parent]
        if self.skip_perfect and all(known.get(i, -math.inf) >= self.perfect for i in minibatch):
            return Pick(self.iteration, parent, minibatch, "the parent is already perfect on its minibatch", task)
        return Pick(self.iteration, parent, minibatch, task=task)

    def gate(self, pick: Pick, candidate_id: str, scores: Scores) -> Gate:
        """Compare the candidate with its parent on the pick's minibatch."""
        self.metric_calls += len(pick.minibatch)
        parent = self.pool.scores[pick.parent_id]
        both = [i for i in pick.minibatch if i in parent and i in scores]
        before = sum(parent[i] for i in both)
        after = sum(float(scores[i]) for i in both)
        return Gate(pick.iteration, pick.parent_id, candidate_id, before, after, len(both), pick.task)

    def select(self, gates: Sequence[Gate], texts: Mapping[str, str]) -> tuple[list[Gate], list[Gate]]:
        """A round's gates with its selection applied, and the kept ones in the
        order they are to be admitted (``core.methods.rounds.choose``)."""
        return choose(gates, self.keep, texts)

    def admit(self, gate: Gate, scores: Scores) -> None:
        """An accepted candidate's full dev scores: it joins the pool."""
        if not gate.accepted:
            raise ValueError(f"{gate.candidate_id}: the gate rejected it ({gate.reason})")
        self.metric_calls += len(self.dev_ids)
        self.pool.add(gate.candidate_id, scores, gate.parent_id)

    # ------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this left off (JSON-safe)."""
        version, internal, gauss = self.rng.getstate()
        return {
            "settings": {
                "dev_ids": list(self.dev_ids), "minibatch_size": self.minibatch_size,
                "max_metric_calls": self.max_metric_calls, "skip_perfect": self.skip_perfect,
                "perfect": self.perfect, "seed": self.seed, "sampling": self.sampling, "selection": self.selection,
            },
            "pool": [{"id": c, "parent": self.pool.parents[c], "scores": self.pool.scores[c]} for c in self.pool.ids],
            "sampler": {"order": list(self.sampler.order), "epoch": self.sampler.epoch},
            "rng": [version, list(internal), gauss],
            "iteration": self.iteration,
            "metric_calls": self.metric_calls,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GepaSearch:
        settings = dict(data["settings"])
        search = cls(dev_ids=tuple(settings.pop("dev_ids")), **settings)
        for entry in data["pool"]:
            search.pool.add(entry["id"], entry["scores"], entry["parent"])
        search.sampler.order = list(data["sampler"]["order"])
        search.sampler.epoch = int(data["sampler"]["epoch"])
        version, internal, gauss = data["rng"]
        search.rng.setstate((version, tuple(internal), gauss))
        search.iteration = int(data["iteration"])
        search.metric_calls = int(data["metric_calls"])
        return search
