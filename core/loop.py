"""The step of the study's unified setting as an explicit state machine.

    evaluate beam on dev → pick errors → REFLECT → review → REFINE → review
      (ABO: demonstrations → review) → evaluate candidates → select beam
      → evaluate best on test → record step

Which parents a step evolves and what it keeps is the method's selection
(``core.selection``): the study's beam, or GEPA's Pareto front.  The loop
lends it the review points and the evaluations (it is the ``StepOps``) and
knows neither.

The loop never waits on a person directly: every review point goes through a
``Reviewer``.  Proposal and prompt ids are deterministic and every LLM call is
cached, so re-running a half-done step replays it exactly (with recorded
decisions replayed by ``ReplayReviewer``) — that is how resuming works.

The person never waits on a step's candidates more than need be: a candidate
accepted card by card starts its first scoring at once (``core.overlap``),
which the step's evaluation then takes instead of asking again.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from core.config import RunConfig
from core.evaluate import evaluate, evaluate_one
from core.events import (
    DecisionMade,
    Emit,
    EvaluationDone,
    Note,
    PhaseStarted,
    Progress,
    PromptAdded,
    ProposalMade,
    StepDone,
)
from core.methods.base import Draft, Method, StepContext
from core.methods.context import Contexts
from core.methods.initial import load_initial_prompts
from core.overlap import EarlyStarts, merged
from core.review import ReflectRequest, Reviewer, ReviewRequest
from core.selection import Focus, StepOutcome
from core.types import (
    Decision,
    ErrorCase,
    Evaluation,
    Example,
    Params,
    Prompt,
    Proposal,
    ProposalKind,
    StepRecord,
    Task,
)


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


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
                 emit: Emit | None = None, state: LoopState | None = None, judge=None):
        self.task = task
        self.judge = judge  # a task file's LLM judge: its calls count in the step's usage
        self.config = config
        self.method = method
        self.target = target
        self.optimizer = optimizer
        self.reviewer = reviewer
        self.emit: Emit = emit or (lambda event: None)
        self.state = state or LoopState()
        self._recorded: dict[str, Decision] = {}  # what reached the emitter, so nothing is written twice
        self._contexts = Contexts(task, config.seed, config.n_errors)
        self.selection = method.selection()
        self.evaluation, self.adaptive_z = config.evaluation, config.adaptive_z  # StepOps: how candidates are scored
        self._early = EarlyStarts(lambda prompt, example: evaluate_one(
            self.target, prompt, example, self._target_params(), self.config.protocol, self.task.taskfile))
        if self.state.records:  # a resumed run continues from the state its last step saved
            self.selection.restore(self.state.records[-1].method_state)

    # ------------------------------------------------------------- public
    @property
    def next_step(self) -> int:
        return self.state.next_step

    def beam_prompts(self) -> list[Prompt]:
        return [self.state.prompts[i] for i in self.state.beam]

    kept = beam_prompts  # StepOps: what the previous step kept

    def dev_ids(self) -> list[str]:
        return [e.id for e in self.task.dev]

    async def run(self, steps: int | None = None) -> list[StepRecord]:
        """Run until ``steps`` steps exist in total (step 0 included)."""
        total = self.config.steps if steps is None else steps
        while self.next_step < total:
            await self.run_step()
        return self.state.records

    async def run_step(self) -> StepRecord:
        step = self._step = self.next_step
        usage_before = self._usage()
        self._notes: list[str] = []
        self._scored: list[str] = []  # every prompt scored on dev in this step, for its record
        if step == 0:
            outcome = await self._initialize()
        else:
            self.emit(PhaseStarted(step, "evaluate", f"{len(self.state.beam)} prompts kept from step {step - 1}"))
            outcome = await self.selection.run_step(step, self)
        return await self._finish(step, outcome, usage_before)

    # ------------------------------------------------------- step 0: init
    async def _initialize(self) -> StepOutcome:
        self.emit(PhaseStarted(0, "init", f"{self.config.init_prompts} initial prompts"))
        drafts = await self._initial_drafts()
        proposals = self._proposals(0, "task", "candidate", drafts)
        accepted = await self._review(0, "candidate", None, (), proposals, origin="init")
        prompts = await self._with_demonstrations(0, self._deduplicate(0, accepted))
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
        if self.method.reflects and not (ctx.errors or ctx.minibatch):
            self.note(f"{parent.id}: no errors on the dev set, nothing to reflect on")
            return []
        groups = await self._reflect(ctx, focus.tag) if self.method.reflects else [("", (), ())]
        candidates: list[Prompt] = []
        for tag, feedback_ids, texts in groups:
            self.emit(PhaseStarted(step, "refine", parent.id))
            drafts = await self.method.refine(ctx, texts)
            proposals = self._proposals(step, parent.id, "candidate", drafts, errors=ctx.errors, tag=focus.tag + tag)
            candidates += await self._review(
                step, "candidate", parent, ctx.errors, proposals, origin="llm", feedback_ids=feedback_ids,
                context=self.method.implicit_reflection(ctx), tag=focus.tag + tag,  # "hf": apart from the LLM group's
            )
        return await self._with_demonstrations(step, self._deduplicate(step, candidates))

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
        evs = await asyncio.gather(*(self._evaluate(p, chosen, "dev", tick) for p in prompts))
        return {ev.prompt_id: ev for ev in evs}

    def record(self, results) -> dict[str, Evaluation]:
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
        drafts = await self.method.reflect(ctx)
        proposals = self._proposals(step, parent.id, "feedback", drafts, errors=ctx.errors, tag=round_tag)
        result = await self.reviewer.review(
            ReviewRequest(step, "feedback", parent, ctx.errors, tuple(proposals), allow_add=True, record=self._record)
        )
        llm = self._apply(proposals, result.decisions)
        human = self._human(step, parent.id, "feedback", (*own, *result.added), ctx.errors, round_tag)
        groups = []
        for tag, chosen in (("", llm), ("hf", human)):
            if chosen:
                groups.append((tag, tuple(p.id for p, _ in chosen), tuple(t for _, t in chosen)))
        if not groups:
            self.note(f"{parent.id}: every feedback was rejected: no refinement")
        return groups

    # ------------------------------------------------------- review points
    def _proposals(self, step: int, parent_id: str, kind: ProposalKind, drafts: Sequence[Draft], *,
                   errors: tuple[ErrorCase, ...] = (), tag: str = "", for_candidate: str | None = None,
                   ) -> list[Proposal]:
        proposals = []
        base = f"s{step}/{for_candidate or parent_id}/{kind}"
        for k, d in enumerate(drafts):
            p = Proposal(
                f"{base}/{tag}{k}", step, kind, parent_id, d.text, errors, d.raw, d.parse_error,
                for_candidate=for_candidate, truncated=d.truncated,
            )
            self.emit(ProposalMade(p))
            proposals.append(p)
        return proposals

    def _human(self, step, parent_id, kind, texts, errors, tag="") -> list[tuple[Proposal, str]]:
        chosen = []
        for k, text in enumerate(t for t in texts if t.strip()):
            p = Proposal(f"s{step}/{parent_id}/{kind}/{tag}h{k}", step, kind, parent_id, text, errors, author="human")
            self.emit(ProposalMade(p))
            self._record(Decision(p.id, "add", text, by="human"))
            chosen.append((p, text))
        return chosen

    def _record(self, decision: Decision) -> None:
        """The one way a decision reaches the session (``ReviewRequest.record``)."""
        if self._recorded.get(decision.proposal_id) != decision:
            self._recorded[decision.proposal_id] = decision
            self.emit(DecisionMade(decision))

    def _apply(self, proposals: Sequence[Proposal], decisions) -> list[tuple[Proposal, str]]:
        """Record each decision; keep accepted texts and edits (edit text wins)."""
        kept = []
        for p in proposals:
            d = decisions.get(p.id) or Decision(p.id, "reject", by="auto")
            self._record(d)
            if d.kind == "accept":  # for unparsed output: the reviewer chose to use it as is
                kept.append((p, p.text))
            elif d.kind == "edit" and d.text and d.text.strip():
                kept.append((p, d.text))
        return kept

    async def _review(self, step: int, kind: ProposalKind, parent: Prompt | None, errors: tuple[ErrorCase, ...],
                      proposals: list[Proposal], *, origin: str, feedback_ids: tuple[str, ...] = (), context: str = "",
                      tag: str = "") -> list[Prompt]:
        record = self._record
        if kind == "candidate":
            record = self._starting(step, parent, proposals, origin, feedback_ids)
        request = ReviewRequest(step, kind, parent, errors, tuple(proposals), True, context, record=record)
        result = await self.reviewer.review(request)
        parent_id = parent.id if parent else "task"
        kept = self._apply(proposals, result.decisions)
        prompts = [self._candidate(p, text, parent, step, origin, feedback_ids) for p, text in kept]
        for p, text in self._human(step, parent_id, kind, result.added, errors, tag):
            prompts.append(self._prompt(p.id, text, parent, step, "human", ()))
        return prompts

    def _candidate(self, p: Proposal, text: str, parent, step, origin, feedback_ids) -> Prompt:
        return self._prompt(p.id, text, parent, step, "edited" if text != p.text else origin, feedback_ids)

    def _starting(self, step, parent, proposals, origin, feedback_ids) -> Callable[[Decision], None]:
        """The review's ``record``, which also starts each accepted candidate's
        first scoring at once (``core.overlap``), while the person reads on."""
        first = getattr(self.selection, "first_examples", None)
        ids = first(step, self.dev_ids(), self.config.evaluation) if first else None
        if not ids or self.method.uses_demonstration:  # a demonstration is written after review
            return self._record
        examples = [self._contexts.examples[i] for i in ids]
        known = {_normalized(p.instruction) for p in self.state.prompts.values()}
        return self._early.starting(
            self._record, proposals, examples, lambda p, text: self._candidate(p, text, parent, step, origin, feedback_ids),
            lambda prompt: _normalized(prompt.instruction) in known,  # ``_deduplicate`` would drop it
            _normalized,
        )

    def _prompt(self, pid, text, parent, step, origin, feedback_ids) -> Prompt:
        return Prompt(pid, text.strip(), None, parent.id if parent else None, step, origin, tuple(feedback_ids))

    def _deduplicate(self, step: int, candidates: list[Prompt]) -> list[Prompt]:
        seen = {_normalized(p.instruction) for p in self.state.prompts.values()}
        fresh = []
        for p in candidates:
            key = _normalized(p.instruction)
            if key in seen:
                self.note(f"{p.id}: duplicate of an existing prompt, dropped")
                continue
            seen.add(key)
            fresh.append(p)
        return fresh

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
        proposals = self._proposals(
            step, prompt.parent_id or "task", "demonstration", [draft], for_candidate=prompt.id
        )
        request = ReviewRequest(step, "demonstration", parent, (), tuple(proposals), False, record=self._record)
        result = await self.reviewer.review(request)
        kept = self._apply(proposals, result.decisions)
        if not kept:
            self.note(f"{prompt.id}: demonstration rejected; the instruction stands alone")
            return prompt
        return replace(prompt, demonstration=kept[0][1].strip())

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
                            protocol=self.config.protocol, taskfile=self.task.taskfile)
        return merged(ev, early, examples, self.task.taskfile) if early else ev

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
        for ev in await asyncio.gather(*(self._evaluate(p, self.task.dev, "dev", tick) for p in todo)):
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
        self.state.beam = list(outcome.kept)
        best = self.state.prompts[outcome.best]
        test = await self._evaluate_test(step, best)
        tokens, calls, cost = (a - b for a, b in zip(self._usage(), usage_before))
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

    def _usage(self) -> tuple[int, int, float]:
        models = {id(m): m for m in (self.target, self.optimizer, self.judge) if m is not None}.values()
        tokens = sum(m.prompt_tokens + m.completion_tokens for m in models)
        return tokens, sum(m.calls for m in models), sum(m.cost for m in models)

