"""The step of the study's unified setting as an explicit state machine.

    evaluate beam on dev → pick errors → REFLECT → review → REFINE → review
      (ABO: demonstrations → review) → evaluate candidates → select beam
      → evaluate best on test → record step

The next beam comes from parents and children (``selection`` "pool") or,
as the study's code does, from the step's children alone ("children").

The loop never waits on a person directly: every review point goes through a
``Reviewer``.  Proposal and prompt ids are deterministic and every LLM call is
cached, so re-running a half-done step replays it exactly (with recorded
decisions replayed by ``ReplayReviewer``) — that is how resuming works.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field, replace
from typing import Sequence

from core.config import RunConfig
from core.evaluate import evaluate
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
from core.methods.initial import load_initial_prompts
from core.review import ReflectRequest, Reviewer, ReviewRequest
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
    def __init__(
        self,
        *,
        task: Task,
        config: RunConfig,
        method: Method,
        target,
        optimizer,
        reviewer: Reviewer,
        emit: Emit | None = None,
        state: LoopState | None = None,
    ):
        self.task = task
        self.config = config
        self.method = method
        self.target = target
        self.optimizer = optimizer
        self.reviewer = reviewer
        self.emit: Emit = emit or (lambda event: None)
        self.state = state or LoopState()
        self._recorded: dict[str, Decision] = {}  # what reached the emitter, so nothing is written twice
        self._examples = {e.id: e for e in (*task.ini, *task.dev, *task.test)}

    # ------------------------------------------------------------- public
    @property
    def next_step(self) -> int:
        return self.state.next_step

    def beam_prompts(self) -> list[Prompt]:
        return [self.state.prompts[i] for i in self.state.beam]

    async def run(self, steps: int | None = None) -> list[StepRecord]:
        """Run until ``steps`` steps exist in total (step 0 included)."""
        total = self.config.steps if steps is None else steps
        while self.next_step < total:
            await self.run_step()
        return self.state.records

    async def run_step(self) -> StepRecord:
        step = self.next_step
        usage_before = self._usage()
        self._notes: list[str] = []
        self._scored: list[str] = []  # every prompt scored on dev in this step, for its record
        pool = await (self._initialize() if step == 0 else self._update(step))
        return await self._finish(step, pool, usage_before)

    # ------------------------------------------------------- step 0: init
    async def _initialize(self) -> list[str]:
        self.emit(PhaseStarted(0, "init", f"{self.config.init_prompts} initial prompts"))
        drafts = await self._initial_drafts()
        proposals = self._proposals(0, "task", "candidate", drafts)
        accepted = await self._review(0, "candidate", None, (), proposals, origin="init")
        prompts = await self._with_demonstrations(0, self._deduplicate(0, accepted))
        await self._evaluate_dev(0, prompts)
        return [p.id for p in prompts]

    async def _initial_drafts(self) -> list[Draft]:
        given = self.config.initial_prompts
        if given:
            texts = load_initial_prompts(given, self.task)[: self.config.init_prompts]
            return [Draft(t, t) for t in texts]
        return await self.method.initialize(self.config.init_prompts)

    # ------------------------------------------------------ steps 1..n
    async def _update(self, step: int) -> list[str]:
        parents = self.beam_prompts()
        self.emit(PhaseStarted(step, "evaluate", f"beam of {len(parents)}"))
        await self._evaluate_dev(step, parents)
        if self.method.reflects and not any(self.state.dev[p.id].errors for p in parents):
            self._note(step, "no errors left on the dev set: the beam is kept")
            return list(self.state.beam)
        groups = await asyncio.gather(*(self._evolve(step, p) for p in parents))
        children = [p.id for group in groups for p in group]
        if self.config.selection_mode == "pool":
            return list(self.state.beam) + children
        # The study's selection: the next beam comes from the new candidates only.
        if not children:
            self._note(step, "no child survived review: the parents are kept")
            return list(self.state.beam)
        return children

    async def _evolve(self, step: int, parent: Prompt) -> list[Prompt]:
        """One parent's REFLECT → REFINE (→ DEMONSTRATE) → evaluate."""
        ctx = self._context(step, parent)
        if self.method.reflects and not ctx.errors:
            self._note(step, f"{parent.id}: no errors on the dev set, nothing to reflect on")
            return []
        groups = await self._reflect(ctx) if self.method.reflects else [("", (), ())]
        candidates: list[Prompt] = []
        for tag, feedback_ids, texts in groups:
            self.emit(PhaseStarted(step, "refine", parent.id))
            drafts = await self.method.refine(ctx, texts)
            proposals = self._proposals(step, parent.id, "candidate", drafts, errors=ctx.errors, tag=tag)
            candidates += await self._review(
                step, "candidate", parent, ctx.errors, proposals, origin="llm", feedback_ids=feedback_ids,
                context=self.method.implicit_reflection(ctx),
            )
        fresh = self._deduplicate(step, candidates)
        prompts = await self._with_demonstrations(step, fresh)
        await self._evaluate_dev(step, prompts)
        return prompts

    async def _reflect(self, ctx: StepContext) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
        """Feedback groups to refine from, as (id tag, feedback ids, texts): the
        LLM's (accepted/edited) and the person's own ("hf": candidates refined
        from human feedback), kept apart so their refinements can be compared."""
        step, parent = ctx.step, ctx.parent
        own = await self.reviewer.reflect_first(ReflectRequest(step, parent, ctx.errors))
        self.emit(PhaseStarted(step, "reflect", parent.id))
        drafts = await self.method.reflect(ctx)
        proposals = self._proposals(step, parent.id, "feedback", drafts, errors=ctx.errors)
        result = await self.reviewer.review(
            ReviewRequest(step, "feedback", parent, ctx.errors, tuple(proposals), allow_add=True, record=self._record)
        )
        llm = self._apply(proposals, result.decisions)
        human = self._human(step, parent.id, "feedback", (*own, *result.added), ctx.errors)
        groups = []
        for tag, chosen in (("", llm), ("hf", human)):
            if chosen:
                groups.append((tag, tuple(p.id for p, _ in chosen), tuple(t for _, t in chosen)))
        if not groups:
            self._note(step, f"{parent.id}: every feedback was rejected: no refinement")
        return groups

    # ------------------------------------------------------- review points
    def _proposals(
        self,
        step: int,
        parent_id: str,
        kind: ProposalKind,
        drafts: Sequence[Draft],
        *,
        errors: tuple[ErrorCase, ...] = (),
        tag: str = "",
        for_candidate: str | None = None,
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

    def _human(self, step, parent_id, kind, texts, errors) -> list[tuple[Proposal, str]]:
        chosen = []
        for k, text in enumerate(t for t in texts if t.strip()):
            p = Proposal(f"s{step}/{parent_id}/{kind}/h{k}", step, kind, parent_id, text, errors, author="human")
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

    async def _review(
        self,
        step: int,
        kind: ProposalKind,
        parent: Prompt | None,
        errors: tuple[ErrorCase, ...],
        proposals: list[Proposal],
        *,
        origin: str,
        feedback_ids: tuple[str, ...] = (),
        context: str = "",
    ) -> list[Prompt]:
        request = ReviewRequest(step, kind, parent, errors, tuple(proposals), True, context, record=self._record)
        result = await self.reviewer.review(request)
        parent_id = parent.id if parent else "task"
        kept = self._apply(proposals, result.decisions)
        prompts = []
        for p, text in kept:
            edited = text != p.text
            prompts.append(self._prompt(p.id, text, parent, step, "edited" if edited else origin, feedback_ids))
        for p, text in self._human(step, parent_id, kind, result.added, errors):
            prompts.append(self._prompt(p.id, text, parent, step, "human", ()))
        return prompts

    def _prompt(self, pid, text, parent, step, origin, feedback_ids) -> Prompt:
        return Prompt(pid, text.strip(), None, parent.id if parent else None, step, origin, tuple(feedback_ids))

    def _deduplicate(self, step: int, candidates: list[Prompt]) -> list[Prompt]:
        seen = {_normalized(p.instruction) for p in self.state.prompts.values()}
        fresh = []
        for p in candidates:
            key = _normalized(p.instruction)
            if key in seen:
                self._note(step, f"{p.id}: duplicate of an existing prompt, dropped")
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
            self._note(step, f"{prompt.id}: demonstration rejected; the instruction stands alone")
            return prompt
        return replace(prompt, demonstration=kept[0][1].strip())

    def demo_example(self) -> Example:
        """The one fixed example every ABO demonstration works through."""
        pool = self.task.ini or self.task.dev
        return pool[random.Random(f"{self.config.seed}:demo").randrange(len(pool))]

    # ----------------------------------------------------- evaluation etc.
    def _context(self, step: int, parent: Prompt) -> StepContext:
        dev = self.state.dev[parent.id]
        rng = random.Random(f"{self.config.seed}:{step}:{parent.id}")
        errors = list(dev.errors)
        picked = rng.sample(errors, min(self.config.n_errors, len(errors)))
        cases = tuple(self._error_case(r) for r in picked)
        examples = tuple(rng.sample(list(self.task.dev), min(2, len(self.task.dev))))
        return StepContext(step, parent, cases, self._lineage(parent), self._history(), examples)

    def _error_case(self, result) -> ErrorCase:
        ex = self._examples[result.example_id]
        return ErrorCase(ex.id, ex.input, ex.targets, result.output, result.answer)

    def _lineage(self, prompt: Prompt) -> tuple[Prompt, ...]:
        chain = []
        while prompt.parent_id and prompt.parent_id in self.state.prompts:
            prompt = self.state.prompts[prompt.parent_id]
            chain.append(prompt)
        return tuple(reversed(chain))

    def _history(self) -> tuple[tuple[Prompt, float], ...]:
        return tuple((self.state.prompts[i], ev.score) for i, ev in self.state.dev.items() if i in self.state.prompts)

    def _target_params(self) -> Params:
        return Params(temperature=self.config.target_temperature, max_tokens=self.config.target_max_tokens)

    def _evaluate(self, prompt: Prompt, examples, split, tick):
        return evaluate(self.target, prompt, examples, split=split, params=self._target_params(), on_result=tick,
                        protocol=self.config.protocol)

    async def _evaluate_dev(self, step: int, prompts: Sequence[Prompt]) -> None:
        for p in prompts:
            if p.id not in self.state.prompts:
                self.state.prompts[p.id] = p
                self.emit(PromptAdded(p))
            self._scored.append(p.id)
        todo = [p for p in prompts if p.id not in self.state.dev]
        if not todo:
            return
        self.emit(PhaseStarted(step, "evaluate", f"{len(todo)} prompts on {len(self.task.dev)} dev examples"))
        total = len(todo) * len(self.task.dev)
        done = 0

        def tick(_result) -> None:
            nonlocal done
            done += 1
            self.emit(Progress(step, "dev", done, total))

        evs = await asyncio.gather(
            *(self._evaluate(p, self.task.dev, "dev", tick) for p in todo)
        )
        for ev in evs:
            self.state.dev[ev.prompt_id] = ev
            self.emit(EvaluationDone(step, ev))
            self._note_errored(step, ev)

    async def _evaluate_test(self, step: int, prompt: Prompt) -> Evaluation | None:
        if not self.task.test:
            return None
        if prompt.id not in self.state.test:
            self.emit(PhaseStarted(step, "test", prompt.id))
            n = len(self.task.test)
            done = 0

            def tick(_result) -> None:
                nonlocal done
                done += 1
                self.emit(Progress(step, "test", done, n))

            ev = await self._evaluate(prompt, self.task.test, "test", tick)
            self.state.test[prompt.id] = ev
            self.emit(EvaluationDone(step, ev))
            self._note_errored(step, ev)
        return self.state.test[prompt.id]

    def _note(self, step: int, text: str) -> None:
        """A note is shown as it happens and kept in the step's record."""
        self._notes.append(text)
        self.emit(Note(step, text))

    def _note_errored(self, step: int, ev: Evaluation) -> None:
        """Failed calls are left out of the score, never counted wrong: say so."""
        errored = [r for r in ev.results if r.errored]
        if errored:
            self._note(step, f"{ev.prompt_id}: {len(errored)} of {len(ev.results)} {ev.split} examples "
                             f"errored and are left out of its score ({errored[0].errored})")

    def _select(self, step: int, pool: Sequence[str]) -> list[str]:
        """Top ``beam`` by dev score; ties broken at random, seeded per step.
        A pool smaller than the beam is kept whole."""
        rng = random.Random(f"{self.config.seed}:select:{step}")
        unique = list(dict.fromkeys(pool))
        keys = {i: rng.random() for i in unique}
        ranked = sorted(unique, key=lambda i: (-self.state.dev[i].score, keys[i]))
        return ranked[: self.config.beam]

    async def _finish(self, step: int, pool: list[str], usage_before: tuple[int, int, float]) -> StepRecord:
        self.emit(PhaseStarted(step, "select", f"{len(pool)} prompts"))
        if not pool:
            raise RuntimeError("no prompt survived review: accept or add at least one initial prompt")
        self.state.beam = self._select(step, pool)
        best = self.state.prompts[self.state.beam[0]]
        test = await self._evaluate_test(step, best)
        tokens, calls, cost = (a - b for a, b in zip(self._usage(), usage_before))
        record = StepRecord(
            step=step,
            beam=tuple(self.state.beam),
            dev_scores={i: self.state.dev[i].score for i in dict.fromkeys([*self._scored, *pool])},
            best_id=best.id,
            dev_best=self.state.dev[best.id].score,
            test=test.score if test else None,
            tokens=int(tokens),
            calls=int(calls),
            cost=float(cost),
            notes=tuple(self._notes),
        )
        self.state.records.append(record)
        self.emit(StepDone(record, tuple(self.beam_prompts())))
        return record

    def _usage(self) -> tuple[int, int, float]:
        models = {id(m): m for m in (self.target, self.optimizer)}.values()
        tokens = sum(m.prompt_tokens + m.completion_tokens for m in models)
        return tokens, sum(m.calls for m in models), sum(m.cost for m in models)

