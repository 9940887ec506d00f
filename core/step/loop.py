"""The step of the study's unified setting as an explicit state machine.

    evaluate beam on dev → pick errors → REFLECT → review → REFINE → review
      (ABO: demonstrations → review) → evaluate candidates → select beam
      → evaluate best on test → record step

Which parents a step evolves and what it keeps is the method's selection
(``core.step.selection``): the study's beam, or GEPA's Pareto front.  The loop
lends it the review points and the evaluations (it is the ``StepOps``) and
knows neither.

The loop never waits on a person directly: every review point goes through a
``Reviewer`` (``core.step.review_points``: how proposals become cards, decisions
and prompts).  Proposal and prompt ids are deterministic and every LLM call is
cached, so re-running a half-done step replays it exactly (with recorded
decisions replayed by ``ReplayReviewer``) — that is how resuming works.

The person never waits on a step's candidates more than need be: a candidate
accepted card by card starts its first scoring at once (``core.step.overlap``),
which the step's evaluation then takes instead of asking again.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.evaluation.evaluate import evaluate, evaluate_one
from reflectloop.core.events import Emit, EvaluationDone, Event, Note, PhaseStarted, Progress, PromptAdded, StepDone
from reflectloop.core.step.failures import check, settled, unscored
from reflectloop.core.methods.base import Method, StepContext
from reflectloop.core.methods.parsing import Draft
from reflectloop.core.methods.context import Contexts
from reflectloop.core.methods.initial import load_initial_prompts
from reflectloop.core.step.overlap import EarlyStarts, merged
from reflectloop.core.step.readahead import ReadAhead
from reflectloop.core.review import ReflectRequest, Reviewer
from reflectloop.core.step.review_points import ReviewPoints
from reflectloop.core.step.selection import Focus, StepOutcome
from reflectloop.core.types import Evaluation, Example, Params, Prompt, StepRecord, Task


@dataclass
class LoopState:
    """Everything the loop knows; rebuilt from a session to resume."""

    prompts: dict[str, Prompt] = field(default_factory=dict)
    dev: dict[str, Evaluation] = field(default_factory=dict)
    test: dict[str, Evaluation] = field(default_factory=dict)
    beam: list[str] = field(default_factory=list)
    records: list[StepRecord] = field(default_factory=list)

    @property
    def next_step(self) -> int:
        return len(self.records)


class Loop:
    def __init__(self, *, task: Task, config: RunConfig, method: Method, target, optimizer, reviewer: Reviewer,
                 emit: Emit | None = None, state: LoopState | None = None, judge=None, annotator: str = ""):
        self.task = task
        self.judge = judge  # a task file's LLM judge: its calls count in the step's usage
        self.config = config
        self.method = method
        self.target = target
        self.optimizer = optimizer
        self._observers: Emit = emit or (lambda event: None)
        self.state = state or LoopState()
        self._contexts = Contexts(task, config.seed, config.n_errors)
        self.selection = method.selection()
        self.evaluation, self.adaptive_z = config.evaluation, config.adaptive_z  # StepOps: how candidates are scored
        self._early = EarlyStarts(lambda prompt, example: evaluate_one(
            self.target, prompt, example, self._target_params(), self.config.protocol, self.task.scorer),
            self.emit)
        self.steps = config.steps  # the steps the run is to have in total (step 0 included)
        self._ahead: ReadAhead | None = None  # this step's first round, asked during the last one's test evaluation
        self.points = ReviewPoints(reviewer=reviewer, emit=self.emit, note=self.note, early=self._early,
                                   prompts=self.state.prompts, annotator=annotator)
        if self.state.records:  # a resumed run continues from the state its last step saved
            self.selection.restore(self.state.records[-1].method_state)

    # ------------------------------------------------------------- public
    @property
    def reviewer(self) -> Reviewer:
        return self.points.reviewer

    @property
    def next_step(self) -> int:
        return self.state.next_step

    def emit(self, event: Event) -> None:
        """StepOps: an event goes to the run's observers, then to the overlap,
        which listens for the decisions on the candidates under review."""
        self._observers(event)
        self._early.heard(event)

    def beam_prompts(self) -> list[Prompt]:
        return [self.state.prompts[i] for i in self.state.beam]

    kept = beam_prompts  # StepOps: what the previous step kept

    def dev_ids(self) -> list[str]:
        return [e.id for e in self.task.dev]

    async def run(self, steps: int | None = None) -> list[StepRecord]:
        """Run until ``steps`` steps exist in total (step 0 included)."""
        total = self.steps = self.config.steps if steps is None else steps
        while self.next_step < total:
            await self.run_step()
        return self.state.records

    async def run_step(self) -> StepRecord:
        step = self._step = self.next_step
        usage_before = self._usage()
        self._notes: list[str] = []
        self._scored: list[str] = []  # every prompt scored on dev in this step, for its record
        try:
            if step == 0:
                outcome = await self._initialize()
            else:
                self.emit(PhaseStarted(step, "evaluate", f"{len(self.state.beam)} prompts kept from step {step - 1}"))
                outcome = await self.selection.run_step(step, self)
            return await self._finish(step, outcome, usage_before)
        except BaseException:
            self._early.clear()  # a step that stopped leaves no scoring running behind it
            raise

    # ------------------------------------------------------- step 0: init
    async def _initialize(self) -> StepOutcome:
        self.emit(PhaseStarted(0, "init", f"{self.config.init_prompts} initial prompts"))
        drafts = await self._initial_drafts()
        proposals = self.points.proposals(0, "task", "candidate", drafts)
        accepted = await self.points.candidates(0, "candidate", None, (), proposals, origin="init",
                                                first=self._first_examples(0))
        prompts = await self._with_demonstrations(0, self.points.deduplicate(accepted))
        if not prompts:
            raise RuntimeError("no prompt survived review: accept or add at least one initial prompt")
        return self.selection.start(list((await self.score(prompts)).values()))

    async def _initial_drafts(self) -> list[Draft]:
        given = self.config.initial_prompts
        if given:
            texts = load_initial_prompts(given, self.task)[: self.config.init_prompts]
            return [Draft(t, t) for t in texts]
        return await self.method.initialize(self.config.init_prompts)

    # ------------------------------------------------ steps 1..n (StepOps)
    async def evolve(self, focus: Focus) -> list[Prompt]:
        """One parent's REFLECT → REFINE (→ DEMONSTRATE): its kept candidates, not yet evaluated."""
        step, parent = self._step, self.state.prompts[focus.parent_id]
        ctx = self._contexts.build(step, parent, focus, self.state.prompts, self.state.dev)
        if not self._asks_on(ctx):
            self.note(f"{parent.id}: no errors on the dev set, nothing to reflect on")
            return []
        groups = await self._reflect(ctx, focus.tag) if self.method.reflects else [("", (), ())]
        candidates: list[Prompt] = []
        for tag, feedback_ids, texts in groups:
            self.emit(PhaseStarted(step, "refine", parent.id))
            drafts = await self._asked(ctx, (focus.tag + tag, "refine", texts), lambda: self.method.refine(ctx, texts))
            proposals = self.points.proposals(step, parent.id, "candidate", drafts, errors=ctx.errors,
                                              tag=focus.tag + tag)
            candidates += await self.points.candidates(
                step, "candidate", parent, ctx.errors, proposals, origin="llm", feedback_ids=feedback_ids,
                context=self.method.implicit_reflection(ctx), tag=focus.tag + tag,  # "hf": apart from the LLM group's
                first=self._first_examples(step),
            )
        return await self._with_demonstrations(step, self.points.deduplicate(candidates))

    async def score(self, prompts: Sequence[Prompt], examples: Sequence[str] | None = None) -> dict[str, Evaluation]:
        """On the whole dev set (recorded, and kept for the rest of the run), or on
        some dev examples only (GEPA's minibatch, a race's batch: the caller keeps the result)."""
        if examples is None:
            await self._evaluate_dev(self._step, prompts)
            return {p.id: self.state.dev[p.id] for p in prompts}
        chosen = [self._contexts.examples[i] for i in examples]
        for p in prompts:
            self._add(p)
        self.emit(PhaseStarted(self._step, "evaluate", f"{len(prompts)} prompts on {len(chosen)} minibatch examples"))
        tick = self._ticker("minibatch", len(prompts) * len(chosen))
        evs = await settled(self._evaluate(p, chosen, "dev", tick) for p in prompts)
        return {ev.prompt_id: ev for ev in evs}

    def record_dev_results(self, results) -> dict[str, Evaluation]:
        """StepOps: dev results gathered piecemeal (a race) as this step's
        evaluations, in dev order; short of the dev set: marked partial."""
        order = {e.id: k for k, e in enumerate(self.task.dev)}
        kept = {}
        for pid, got in results.items():
            ordered = tuple(sorted(got, key=lambda r: order[r.example_id]))
            ev = Evaluation(pid, "dev", ordered, partial=len({r.example_id for r in ordered}) < len(order))
            self.state.dev[pid] = kept[pid] = ev
            self._scored.append(pid)
            self.emit(EvaluationDone(self._step, ev))
            self._note_errored(ev)
        return kept

    async def _reflect(self, ctx: StepContext, round_tag: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
        """Feedback groups to refine from, as (id tag, feedback ids, texts): the
        LLM's (accepted/edited) and the person's own ("hf": candidates refined
        from human feedback), kept apart so their refinements can be compared.
        ``round_tag`` keeps the ids of GEPA's iterations on one parent apart."""
        step, parent = ctx.step, ctx.parent
        own = await self.reviewer.reflect_first(ReflectRequest(step, parent, ctx.errors))
        self.emit(PhaseStarted(step, "reflect", parent.id))
        drafts = await self._asked(ctx, (round_tag, "reflect", ()), lambda: self.method.reflect(ctx))
        proposals = self.points.proposals(step, parent.id, "feedback", drafts, errors=ctx.errors, tag=round_tag)
        llm, human = await self.points.feedback(step, parent, ctx.errors, proposals, own, round_tag)
        groups = []
        for tag, chosen in (("", llm), ("hf", human)):
            if chosen:
                groups.append((tag, tuple(p.id for p, _ in chosen), tuple(t for _, t in chosen)))
        if not groups:
            self.note(f"{parent.id}: every feedback was rejected: no refinement")
        return groups

    async def _asked(self, ctx: StepContext, key, ask) -> list[Draft]:
        """An optimizer call read ahead during the previous step's test evaluation, or asked now."""
        drafts = await self._ahead.take(ctx, key) if self._ahead is not None else None
        return drafts if drafts is not None else await ask()

    def _asks_on(self, ctx: StepContext) -> bool:
        """Whether ``evolve`` asks the optimizer for ``ctx``: a method that reflects needs errors to reflect on."""
        return not self.method.reflects or bool(ctx.errors or ctx.minibatch)

    def _read_ahead(self, step: int, outcome: StepOutcome) -> ReadAhead | None:
        """The next step's first calls, started before this step's test evaluation (``core.step.readahead``)."""
        if step + 1 >= self.steps or not self.task.test or outcome.best in self.state.test:
            return None
        if self.reviewer.asks_first:
            return None  # blind mode: the person writes their reflection before the LLM's exists
        contexts = []
        for focus in self.selection.next_focuses(outcome):
            dev = self.state.dev.get(focus.parent_id)
            if dev is None or dev.partial:
                continue  # the next step scores it again before it reflects: its context is not known yet
            parent = self.state.prompts[focus.parent_id]
            ctx = self._contexts.build(step + 1, parent, focus, self.state.prompts, self.state.dev)
            if self._asks_on(ctx):
                contexts.append((ctx, focus.tag))
        return ReadAhead.start(contexts, self.method, self.points.foreseen_feedback)

    def _first_examples(self, step: int) -> list[Example] | None:
        """What an accepted candidate starts its scoring on at once (``core.step.overlap``); None: no
        overlap, when a demonstration is written after review (ABO) or the selection plans its own (GEPA)."""
        if self.method.uses_demonstration:
            return None
        ids = self.selection.first_examples(step, self.dev_ids(), self.config.evaluation)
        if not ids:
            return None
        return [self._contexts.examples[i] for i in ids]

    async def _with_demonstrations(self, step: int, prompts: list[Prompt]) -> list[Prompt]:
        if not self.method.uses_demonstration:
            return prompts
        self.emit(PhaseStarted(step, "demonstrate", f"{len(prompts)} prompts"))
        return list(await asyncio.gather(*(self._demonstrate(step, p) for p in prompts)))

    async def _demonstrate(self, step: int, prompt: Prompt) -> Prompt:
        draft = await self.method.demonstrate(prompt.instruction, self.demo_example(), draw=f"s{step}/{prompt.id}")
        if draft is None:
            return prompt
        parent = self.state.prompts.get(prompt.parent_id or "")
        proposals = self.points.proposals(
            step, prompt.parent_id or "task", "demonstration", [draft], for_candidate=prompt.id
        )
        text = await self.points.demonstration(step, parent, proposals)
        if text is None:
            self.note(f"{prompt.id}: demonstration rejected; the instruction stands alone")
            return prompt
        return replace(prompt, demonstration=text)

    def demo_example(self) -> Example:
        """The one fixed example every ABO demonstration works through."""
        pool = self.task.ini or self.task.dev
        return pool[random.Random(f"{self.config.seed}:demo").randrange(len(pool))]

    # ----------------------------------------------------- evaluation etc.
    def _target_params(self) -> Params:
        return Params(temperature=self.config.target_temperature, max_tokens=self.config.target_max_tokens)

    async def _evaluate(self, prompt: Prompt, examples, split, tick) -> Evaluation:
        """Results started at the prompt's acceptance are taken, the rest run now."""
        early = await self._early.take(prompt, examples) if split == "dev" else {}
        for result in early.values():
            tick(result)
        rest = [e for e in examples if e.id not in early]
        ev = await evaluate(self.target, prompt, rest, split=split, params=self._target_params(), on_result=tick,
                            protocol=self.config.protocol, scorer=self.task.scorer)
        ev = merged(ev, early, examples, self.task.scorer) if early else ev
        # An evaluation that failed is never taken as a result (``core.step.failures``).
        check(ev, self._step, self.config.max_errored, self.task)
        return ev

    def _add(self, prompt: Prompt) -> None:
        if prompt.id not in self.state.prompts:
            self.state.prompts[prompt.id] = prompt
            self.emit(PromptAdded(prompt))

    def _ticker(self, label: str, total: int) -> Callable[[object], None]:
        done = 0

        def tick(_result) -> None:
            nonlocal done
            done += 1
            self.emit(Progress(self._step, label, done, total))

        return tick

    async def _evaluate_dev(self, step: int, prompts: Sequence[Prompt]) -> None:
        for p in prompts:
            self._add(p)
            self._scored.append(p.id)
        todo = [p for p in prompts if p.id not in self.state.dev or self.state.dev[p.id].partial]
        if not todo:
            return
        self.emit(PhaseStarted(step, "evaluate", f"{len(todo)} prompts on {len(self.task.dev)} dev examples"))
        tick = self._ticker("dev", len(todo) * len(self.task.dev))
        for ev in await settled(self._evaluate(p, self.task.dev, "dev", tick) for p in todo):
            self.state.dev[ev.prompt_id] = ev
            self.emit(EvaluationDone(step, ev))
            self._note_errored(ev)

    async def _evaluate_test(self, step: int, prompt: Prompt) -> Evaluation | None:
        if not self.task.test:
            return None
        if prompt.id not in self.state.test:
            self.emit(PhaseStarted(step, "test", prompt.id))
            ev = await self._evaluate(prompt, self.task.test, "test", self._ticker("test", len(self.task.test)))
            self.state.test[prompt.id] = ev
            self.emit(EvaluationDone(step, ev))
            self._note_errored(ev)
        return self.state.test[prompt.id]

    def note(self, text: str) -> None:
        """A note is shown as it happens and kept in the step's record."""
        self._notes.append(text)
        self.emit(Note(self._step, text))

    def _note_errored(self, ev: Evaluation) -> None:
        """Failed calls are left out of the score, never counted wrong: say so."""
        errored = [r for r in ev.results if r.errored]
        if errored:
            self.note(f"{ev.prompt_id}: {len(errored)} of {len(ev.results)} {ev.split} examples "
                      f"errored and are left out of its score ({errored[0].errored})")

    async def _finish(self, step: int, outcome: StepOutcome, usage_before: tuple[int, int, float]) -> StepRecord:
        self.emit(PhaseStarted(step, "select", f"{len(self._scored)} prompts scored this step"))
        unrated = [i for i in dict.fromkeys([outcome.best, *outcome.kept]) if self.state.dev[i].score is None]
        if unrated:  # a selection keeps only what was measured; this guards the record, whatever the selection
            raise unscored(step, unrated)
        self.state.beam = list(outcome.kept)
        best = self.state.prompts[outcome.best]
        # Asked first, the next step's reflections answer after the test's first
        # round and its refinements fill the slots the test's last round leaves.
        ahead = self._read_ahead(step, outcome)
        try:
            test = await self._evaluate_test(step, best)
            if ahead is not None:
                await ahead.settle()
        except BaseException:
            if ahead is not None:
                ahead.cancel()
            raise
        # What the last step read ahead is this step's spending; what this one reads ahead, the next's.
        carried, lent = (a.meter.totals() if a is not None else (0, 0, 0.0) for a in (self._ahead, ahead))
        tokens, calls, cost = (now - before + got - gave
                               for now, before, got, gave in zip(self._usage(), usage_before, carried, lent))
        self._ahead = ahead
        dev_scores = {i: self.state.dev[i].score for i in dict.fromkeys([*self._scored, *outcome.kept])}
        record = StepRecord(
            step, outcome.kept, dev_scores, best.id, self.state.dev[best.id].score, test.score if test else None,
            int(tokens), int(calls), float(cost), tuple(self._notes), outcome.picks, outcome.gates,
            dict(outcome.front), self.selection.to_dict(), outcome.evaluation, outcome.calls_saved,
        )
        self._early.clear()
        self.state.records.append(record)
        self.emit(StepDone(record, tuple(self.beam_prompts())))
        return record

    def models(self) -> list:
        """Each model the step calls, once (target and optimizer may be one model), with a metric's own
        (a promptfoo similar assertion's embeddings model)."""
        metric = self.task.taskfile.scorer.metric if self.task.taskfile is not None else None
        own: list = getattr(metric, "models", list)()
        return list({id(m): m for m in (self.target, self.optimizer, self.judge, *own) if m is not None}.values())

    def _usage(self) -> tuple[int, int, float]:
        models = self.models()
        tokens = sum(m.prompt_tokens + m.completion_tokens for m in models)
        return tokens, sum(m.calls for m in models), sum(m.cost for m in models)

