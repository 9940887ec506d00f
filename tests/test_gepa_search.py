"""GEPA's search logic with scripted scores: the Pareto front, the parent
draw, the minibatches, the gate, the budget, and a step run through scripted
loop operations."""
from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.evaluation.evaluate import evaluate
from reflectloop.core.events import FrontUpdated, GateDecided, IterationStarted
from reflectloop.core.methods.base import StepContext
from reflectloop.core.methods.gepa import GEPA, GepaSettings, ParetoSelection, rollouts
from tests.support.gepa_direct import DirectOps
from reflectloop.core.methods.pareto import EpochSampler, GepaSearch, Pool, draw_parent
from reflectloop.core.methods.rounds import choose, parse_sampling, parse_selection
from reflectloop.core.step.selection import Focus
from reflectloop.core.metrics.task import EXACT_MATCH
from reflectloop.core.types import ErrorCase, Evaluation, Example, ExampleResult, Gate, Params, Prompt, Task
from tests.scripted import optimizer_by_rules, scripted_llm

DEV = tuple(f"e{i}" for i in range(6))


def pool_of(table: dict[str, list[float]]) -> Pool:
    pool = Pool(DEV)
    for cid, row in table.items():
        pool.add(cid, dict(zip(DEV, row)))
    return pool


# ------------------------------------------------------------------ front
def test_each_example_front_holds_every_candidate_with_its_best_score():
    pool = pool_of({"a": [1, 0, 1, 0, 0, 0], "b": [1, 1, 0, 0, 0, 0], "c": [0, 0, 0, 0, 0, 0]})
    fronts = pool.fronts()
    assert fronts["e0"] == ["a", "b"]
    assert fronts["e1"] == ["b"] and fronts["e2"] == ["a"]
    assert fronts["e3"] == ["a", "b", "c"]  # nobody right: all tie at 0


def test_an_example_nobody_was_scored_on_has_no_front():
    pool = Pool(DEV)
    pool.add("a", {"e0": 1.0, "e1": 0.0})
    assert set(pool.fronts()) == {"e0", "e1"}


def test_a_candidate_whose_wins_are_all_shared_leaves_the_front():
    # b is best only where a is best too; a also wins e2 alone.
    pool = pool_of({"a": [1, 1, 1, 1, 1, 1], "b": [1, 1, 0, 1, 1, 1]})
    assert pool.wins() == {"a": 6}


def test_of_two_identical_records_the_weaker_mean_is_dropped_first():
    # a and b share every win; c wins e5 alone.  b's mean is lower only by e4.
    pool = pool_of({"a": [1, 1, 0, 0, 0.5, 0], "b": [1, 1, 0, 0, 0.4, 0], "c": [0, 0, 0, 0, 0, 1]})
    wins = pool.wins()
    assert "b" not in wins and wins["a"] >= 2 and wins["c"] >= 1


def test_the_best_mean_can_be_off_the_front_and_is_still_the_best():
    # a ties b on e0 and c on e1; b and c each win one example alone, so a
    # (considered after the weaker b and c) is covered and leaves the front.
    pool = pool_of({
        "a": [1, 1, 0.9, 0.9, 0, 0],
        "b": [1, 0, 0, 0, 1, 0],
        "c": [0, 1, 0, 0, 0, 1],
        "d": [0, 0, 1, 1, 0, 0],
    })
    assert pool.mean("a") > max(pool.mean(c) for c in "bcd")
    assert "a" not in pool.wins()
    assert pool.best() == "a"
    assert set(pool.front()) == {"b", "c", "d"}


def test_best_breaks_ties_by_coverage_then_pool_order():
    pool = Pool(DEV)
    pool.add("a", {"e0": 1.0})
    pool.add("b", {"e0": 1.0, "e1": 1.0})
    pool.add("c", {"e0": 1.0, "e1": 1.0})
    assert pool.best() == "b"


def test_parents_are_drawn_from_the_front_by_their_wins():
    pool = pool_of({"a": [1, 1, 1, 0, 0, 0], "b": [0, 0, 0, 1, 0, 0], "c": [0, 0, 0, 0, 0, 0]})
    # e4 and e5: all tie at 0, so everyone standing is on them.
    rng = random.Random(7)
    counts = Counter(draw_parent(pool, rng) for _ in range(4000))
    wins = pool.wins()
    assert set(counts) == set(wins)
    expected = {c: n / sum(wins.values()) for c, n in wins.items()}
    for c, share in expected.items():
        assert counts[c] / 4000 == pytest.approx(share, abs=0.03)


def test_adding_a_candidate_twice_or_with_unknown_examples_is_refused():
    pool = Pool(DEV)
    pool.add("a", {"e0": 1.0})
    with pytest.raises(ValueError, match="already in the pool"):
        pool.add("a", {"e0": 1.0})
    with pytest.raises(ValueError, match="not in the dev set"):
        pool.add("b", {"zz": 1.0})


# ---------------------------------------------------------------- sampler
def test_every_epoch_walks_all_examples_once_padded_with_the_least_used():
    sampler = EpochSampler(4)
    rng = random.Random(3)
    epoch = [sampler.minibatch(DEV, i, rng) for i in range(2)]  # 6 ids padded to 8
    flat = [i for mb in epoch for i in mb]
    assert all(len(mb) == 4 for mb in epoch)
    assert set(flat) == set(DEV) and len(flat) == 8
    assert max(Counter(flat).values()) == 2
    next_epoch = [sampler.minibatch(DEV, i, rng) for i in range(2, 4)]
    assert sampler.epoch == 1
    assert set(i for mb in next_epoch for i in mb) == set(DEV)


def test_a_dev_set_smaller_than_the_minibatch_fills_it_by_repeating():
    mb = EpochSampler(3).minibatch(("x", "y"), 0, random.Random(0))
    assert len(mb) == 3 and set(mb) == {"x", "y"}


# ----------------------------------------------------------------- search
def seeded_search(**kw) -> GepaSearch:
    search = GepaSearch(DEV, minibatch_size=3, seed=5, **kw)
    search.seed_candidate("p0", dict(zip(DEV, [1, 0, 1, 0, 1, 0])))
    return search


def test_the_gate_accepts_only_a_strict_improvement_on_the_minibatch():
    search = seeded_search()
    pick = search.next()
    parent = search.pool.scores["p0"]
    before = sum(parent[i] for i in pick.minibatch)
    same = search.gate(pick, "tie", {i: parent[i] for i in DEV})
    assert not same.accepted and same.before == same.after == before
    better = search.gate(pick, "up", {i: 1.0 for i in DEV})
    assert better.accepted and better.after == len(pick.minibatch)
    assert "improves" in better.reason and "does not improve" in same.reason


def test_the_gate_compares_only_examples_both_were_scored_on():
    search = seeded_search()
    pick = search.next()
    first = pick.minibatch[0]
    gate = search.gate(pick, "partial", {first: 1.0})
    assert gate.compared == pick.minibatch.count(first)
    nothing = search.gate(pick, "none", {})
    assert not nothing.accepted and "no minibatch example" in nothing.reason


def test_metric_calls_are_counted_as_the_package_counts_them():
    search = seeded_search()
    assert search.metric_calls == 6  # the seed's full evaluation
    pick = search.next()
    assert search.metric_calls == 9  # + the parent's minibatch
    gate = search.gate(pick, "c1", {i: 1.0 for i in DEV})
    assert search.metric_calls == 12  # + the candidate's minibatch
    search.admit(gate, {i: 1.0 for i in DEV})
    assert search.metric_calls == 18  # + the accepted candidate's full evaluation
    assert search.pool.ids == ["p0", "c1"] and search.pool.parents["c1"] == "p0"


def test_a_rejected_candidate_cannot_join_the_pool():
    search = seeded_search()
    pick = search.next()
    gate = search.gate(pick, "c1", {i: 0.0 for i in DEV})
    with pytest.raises(ValueError, match="the gate rejected it"):
        search.admit(gate, {i: 0.0 for i in DEV})


def test_a_parent_perfect_on_its_minibatch_is_skipped_but_its_calls_count():
    search = GepaSearch(DEV, minibatch_size=3, seed=5)
    search.seed_candidate("p0", {i: 1.0 for i in DEV})
    pick = search.next()
    assert pick.skipped and search.metric_calls == 9
    keep_going = GepaSearch(DEV, minibatch_size=3, seed=5, skip_perfect=False)
    keep_going.seed_candidate("p0", {i: 1.0 for i in DEV})
    assert keep_going.next().skipped is None


def test_the_budget_is_checked_before_an_iteration_never_inside():
    search = seeded_search(max_metric_calls=10)
    pick = search.next()  # 6 spent: below the budget, the iteration runs whole
    gate = search.gate(pick, "c1", {i: 1.0 for i in DEV})
    search.admit(gate, {i: 1.0 for i in DEV})
    assert search.metric_calls == 18 and search.spent
    assert search.next() is None


def test_a_restored_search_makes_the_same_decisions_as_one_never_stopped():
    def play(search: GepaSearch, n: int) -> list[tuple]:
        out = []
        for _ in range(n):
            pick = search.next()
            scores = {i: float((pick.iteration + j) % 2) for j, i in enumerate(DEV)}
            gate = search.gate(pick, f"c{pick.iteration}", scores)
            if gate.accepted:
                search.admit(gate, scores)
            out.append((pick.parent_id, pick.minibatch, gate.accepted))
        return out

    straight = seeded_search()
    whole = play(straight, 8)
    first = seeded_search()
    head = play(first, 3)
    resumed = GepaSearch.from_dict(json.loads(json.dumps(first.to_dict())))
    assert head + play(resumed, 5) == whole
    assert resumed.to_dict() == straight.to_dict()


def test_bad_settings_are_refused_with_their_reason():
    with pytest.raises(ValueError, match="minibatch size"):
        GepaSearch(DEV, minibatch_size=0)
    with pytest.raises(ValueError, match="dev set"):
        GepaSearch(())
    with pytest.raises(ValueError, match="pool is empty"):
        GepaSearch(DEV).next()


# ------------------------------------------------------- one step, scripted
class ScriptedOps:
    """Candidates know the examples they were shown; a candidate is right on
    an example when its parent was or when the example was in its minibatch,
    except that it forgets e0 (so the gate sees both kinds of outcome)."""

    def __init__(self, first: dict[str, float]):
        self.right: dict[str, set[str]] = {"p0": {i for i, s in first.items() if s}}
        self.notes: list[str] = []
        self.events: list = []
        self.scored: list[tuple[str, tuple[str, ...] | None]] = []
        self.focuses: list[Focus] = []

    async def evolve(self, focus: Focus) -> list[Prompt]:
        self.focuses.append(focus)
        cid = f"{focus.parent_id}/{focus.tag}0"
        self.right[cid] = (self.right[focus.parent_id] | set(focus.examples)) - {"e0"}
        return [Prompt(cid, f"text of {cid}", parent_id=focus.parent_id)]

    async def score(self, prompts, examples=None):
        self.scored += [(p.id, None if examples is None else tuple(examples)) for p in prompts]
        ids = DEV if examples is None else examples
        return {p.id: evaluation(p.id, {i: i in self.right[p.id] for i in ids}) for p in prompts}

    def note(self, text: str) -> None:
        self.notes.append(text)

    def emit(self, event) -> None:
        self.events.append(event)


def evaluation(prompt_id: str, right: dict[str, bool]) -> Evaluation:
    return Evaluation(prompt_id, "dev", tuple(ExampleResult(i, "", None, ok, True) for i, ok in right.items()))


async def test_a_step_runs_its_iterations_and_evaluates_only_what_passed_the_gate():
    first = dict(zip(DEV, [1, 0, 0, 0, 0, 0]))
    selection = ParetoSelection(DEV, GepaSettings(minibatch=2, iterations=4), seed=1)
    start = selection.start([evaluation("p0", {i: bool(s) for i, s in first.items()})])
    assert start.kept == ("p0",) and start.best == "p0"
    ops = ScriptedOps(first)
    outcome = await selection.run_step(1, ops)
    assert len(ops.focuses) + sum("perfect" in n for n in ops.notes) == 4
    assert [f.iteration for f in ops.focuses] == [int(f.tag[1:-1]) for f in ops.focuses]
    for gate in outcome.gates:
        assert ((gate.candidate_id, None) in ops.scored) == gate.accepted
        assert (gate.candidate_id in selection.search.pool.ids) == gate.accepted
    assert any(g.accepted for g in outcome.gates)
    assert outcome.best == selection.search.pool.best()
    assert set(outcome.kept) == set(selection.search.pool.wins()) == set(outcome.front)
    # Each iteration, gate and change of the front is an event, in the order it happened.
    kinds = [type(e) for e in ops.events]
    assert kinds.count(IterationStarted) == len(outcome.picks) == 4
    assert [e.gate for e in ops.events if isinstance(e, GateDecided)] == list(outcome.gates)
    fronts = [e for e in ops.events if isinstance(e, FrontUpdated)]
    assert len(fronts) == sum(g.accepted for g in outcome.gates)
    assert fronts[-1].front == outcome.front and fronts[-1].best == outcome.best


async def test_a_step_stops_when_the_budget_is_spent_and_says_so():
    first = dict(zip(DEV, [1, 0, 0, 0, 0, 0]))
    selection = ParetoSelection(DEV, GepaSettings(minibatch=2, iterations=50, max_metric_calls=30), seed=1)
    selection.start([evaluation("p0", {i: bool(s) for i, s in first.items()})])
    ops = ScriptedOps(first)
    await selection.run_step(1, ops)
    assert selection.search.spent
    assert ops.notes[-1] == "the budget of 30 metric calls is spent"
    assert len(ops.focuses) < 50


# ------------------------------------------------------ what the optimizer sees
def sums_task() -> Task:
    dev = (Example("d0", "2 + 2", ("4",)), Example("d1", "3 + 3", ("6",)))
    return Task("sums", "add the numbers", ini=(), dev=dev, test=(), scorer=EXACT_MATCH)


async def reflect_and_refine(iteration: int):
    task = sums_task()
    target, _ = scripted_llm("fake:t", lambda text, p: '{"answer": "4"}', role="target")
    rules = {"Write one improved instruction": "<START>Add the two numbers.<END>",
             "Write your analysis": "<START>It never says to add.<END>"}
    optimizer, provider = scripted_llm("fake:o", optimizer_by_rules(rules), role="optimizer")
    parent = Prompt("p0", "Compute.")
    ev = await evaluate(target, parent, task.dev, split="dev", params=Params())
    method = GEPA(optimizer, task, RunConfig(seed=3))
    shown = rollouts(ev, {e.id: e for e in task.dev}, ["d0", "d1"])
    ctx = StepContext(1, parent, (), minibatch=shown, iteration=iteration)
    feedback = await method.reflect(ctx)
    drafts = await method.refine(ctx, [f.text for f in feedback])
    return provider, feedback, drafts


async def test_the_reflection_sees_the_whole_minibatch_with_scores_and_feedback():
    provider, feedback, drafts = await reflect_and_refine(0)
    reflect, refine = provider.prompts
    for shown in ("2 + 2", "3 + 3", '{"answer": "4"}', "Score: 1", "Score: 0",
                  'Correct. The expected answer is "4".',
                  'Incorrect. The expected answer is "6"; the answer read from the output was "4".'):
        assert shown in reflect and shown in refine
    assert [f.text for f in feedback] == ["It never says to add."]
    assert "- It never says to add." in refine
    assert [d.text for d in drafts] == ["Add the two numbers."]


async def test_each_iteration_asks_afresh_on_the_same_parent_and_minibatch():
    first, *_ = await reflect_and_refine(0)
    again, *_ = await reflect_and_refine(0)
    other, *_ = await reflect_and_refine(1)
    assert first.prompts == other.prompts  # the same request text …
    seeds = lambda provider: [params.seed for _, params in provider.requests]  # noqa: E731
    assert seeds(first) == seeds(again)
    assert all(a != b for a, b in zip(seeds(first), seeds(other)))  # … drawn with another seed


async def test_gepa_refuses_a_context_without_a_minibatch_or_errors():
    with pytest.raises(ValueError, match="neither"):
        await GEPA(None, sums_task(), RunConfig()).reflect(StepContext(1, Prompt("p", "x"), ()))


async def test_an_error_set_without_a_minibatch_is_shown_as_failed_rollouts():
    # The audit's control re-asks a method with plain error sets.
    optimizer, provider = scripted_llm("fake:o", lambda text, p: "<START>x<END>", role="optimizer")
    error = ErrorCase("d1", "3 + 3", ("6",), '{"answer": "5"}', "5")
    await GEPA(optimizer, sums_task(), RunConfig(seed=3)).reflect(StepContext(1, Prompt("p", "Compute."), (error,)))
    assert ("Input:\n3 + 3" in provider.prompts[0] and "Score: 0" in provider.prompts[0]
            and 'Incorrect. The expected answer is "6"; the answer read from the output was "5".' in provider.prompts[0])


async def test_a_candidate_repeating_an_existing_prompt_is_dropped_before_the_gate():
    task = sums_task()
    target, _ = scripted_llm("fake:t", lambda text, p: '{"answer": "4"}', role="target")
    rules = {"Write one improved instruction": "<START>compute.<END>", "Write your analysis": "<START>no.<END>"}
    optimizer, _ = scripted_llm("fake:o", optimizer_by_rules(rules), role="optimizer")
    method = GEPA(optimizer, task, RunConfig(seed=3), GepaSettings(minibatch=2, iterations=2))
    selection = method.selection()
    ops = DirectOps(method, target, Params())
    await ops.start(selection, [Prompt("p0", "Compute.")])
    outcome = await ops.run_step(selection, 1)
    assert outcome.gates == () and selection.search.pool.ids == ["p0"]
    assert sum("duplicates an existing prompt" in n for n in ops.notes) == 2


# ------------------------------------------------------------ rounds
def test_a_rounds_parents_are_drawn_from_one_front_and_its_minibatches_follow_one_another():
    search = GepaSearch(DEV, minibatch_size=2, seed=3, sampling="pxn:2,2")
    search.seed_candidate("a", {"e0": 1, "e1": 1, "e2": 0, "e3": 0, "e4": 0, "e5": 0})
    search.seed_candidate("b", {"e0": 0, "e1": 0, "e2": 1, "e3": 1, "e4": 1, "e5": 1})
    picks = search.plan()
    assert [p.task for p in picks] == [0, 1, 2, 3]
    assert picks[0].parent_id == picks[1].parent_id and picks[2].parent_id == picks[3].parent_id
    order = search.sampler.order
    assert [p.minibatch for p in picks] == [tuple(order[k:k + 2]) for k in (0, 2, 4, 0)]  # the 4th wraps round
    assert all(p.iteration == 0 for p in picks)
    # Counted as the package counts them: a parent's minibatch once, however many picks share it.
    shared = 1 if picks[0].parent_id == picks[3].parent_id else 0
    assert search.metric_calls == 12 + 2 * (4 - shared)
    assert search.plan()[0].iteration == 1


def test_a_round_of_one_is_the_sequential_iteration():
    for shape in ("independent:1", "same-parent:1", "pxn:1,1"):
        one, single = seeded_search(sampling=shape), seeded_search()
        for _ in range(4):
            assert one.plan() == [single.next()]
        assert one.metric_calls == single.metric_calls
    with pytest.raises(ValueError, match="use plan"):
        seeded_search(sampling="independent:2").next()


def gate(task: int, before: float, after: float, candidate: str | None = None) -> Gate:
    return Gate(0, "p", candidate or f"c{task}", before, after, 3, task)


def test_a_rounds_selection_keeps_the_passing_ones_it_names_and_says_why_it_dropped_the_others():
    gates = [gate(0, 1, 2), gate(1, 1, 3), gate(2, 2, 2), gate(3, 0, 2)]
    texts = {f"c{k}": f"text {k}" for k in range(4)}
    marked, kept = choose(gates, None, texts)
    assert [g.candidate_id for g in kept] == ["c0", "c1", "c3"] and [g.accepted for g in marked] == [1, 1, 0, 1]
    marked, kept = choose(gates, 1, texts)
    assert [g.candidate_id for g in kept] == ["c1"]
    assert [g.accepted for g in marked] == [0, 1, 0, 0] and "not among what selection best keeps" in marked[0].reason
    assert not marked[2].dropped  # a tie never passed: it is rejected, not dropped
    marked, kept = choose(gates, 2, texts)
    assert [g.candidate_id for g in kept] == ["c1", "c3"]  # by improvement (+2, +2, +1); ties in plan order
    marked, kept = choose(gates, None, {**texts, "c3": " text  0 "})  # the same text as c0's, kept first
    assert [g.candidate_id for g in kept] == ["c0", "c1"] and "the same text as c0" in marked[3].reason


@pytest.mark.parametrize("text,shape", [("single", (1, 1)), ("same-parent:3", (1, 3)), ("independent:4", (4, 1)),
                                        ("pxn:2,3", (2, 3)), (" PXN: 2 , 2 ", (2, 2))])
def test_a_sampling_reads_as_parents_times_minibatches(text, shape):
    got = parse_sampling(text)
    assert (got.parents, got.per_parent) == shape


def test_a_selection_reads_as_how_many_it_keeps():
    assert [parse_selection(t) for t in ("all", "best", "top:3", " Top:1 ")] == [None, 1, 3, 1]
