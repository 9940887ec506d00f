"""The chat-style loop screen.

The loop runs in a Textual worker (``_drive``).  Its events come back as
messages (``tui.messages.from_event``) and become transcript widgets; review
points come as ``ReviewRequested`` / ``ReflectRequested`` from the
``TuiReviewer``, each with a future that this screen resolves once the person
has decided every card (or typed their reflection).  Decisions are recorded in
the session as they are made, so a half-reviewed step resumes at the first
undecided card.
"""
from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from core.config import METHOD_DEFAULTS, RunConfig
from core.llm.base import BudgetExceeded
from core.review import AutoReviewer, ReplayReviewer, ReviewRequest, ReviewResult
from core.types import Decision, Example, Prompt, Proposal
from tui.messages import (
    DecisionArrived,
    DecisionChosen,
    EvaluationArrived,
    GroupDone,
    NoteArrived,
    PhaseChanged,
    ProgressUpdated,
    PromptArrived,
    ProposalArrived,
    QueuedReflectionUsed,
    ReflectRequested,
    ReviewFinished,
    ReviewRequested,
    RunFailed,
    RunIdle,
    RunOpened,
    RunRequested,
    StepFinished,
    from_event,
)
from tui.reviewer import TuiReviewer
from tui.runner import Run, default_session_path, resume_run, start_run
from tui.screens.commands import Command, CommandError, count, help_text, parse
from tui.widgets.input import CommandLine
from tui.widgets.review import ProposalCard, ReflectPrompt, ReviewGroup
from tui.widgets.scores import ScoresPanel
from tui.widgets.status import StatusBar
from tui.widgets.status.status_bar import ModelState
from tui.widgets.text import clean
from tui.widgets.transcript import (
    EvaluationMessage,
    NoteLine,
    PhaseLine,
    StepSummary,
    SystemLine,
    Transcript,
    UserLine,
)

Injected = tuple | Callable[[RunConfig], tuple] | None


@dataclass
class OpenReview:
    """A review request waiting on the person."""

    request: ReviewRequest
    future: asyncio.Future
    group: ReviewGroup
    decisions: dict[str, Decision] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)


def group_key(p: Proposal) -> str:
    """Proposals of one review request share their id up to the index
    (``s1/p0/candidate/hf0`` → ``s1/p0/candidate/hf``); a person's own get ``/h``."""
    base, _, last = p.id.rpartition("/")
    return f"{base}/{last.rstrip('0123456789')}"


class LoopScreen(Screen):
    BINDINGS = [
        Binding("f2", "toggle_scores", "Scores", id="scores"),
        Binding("escape", "switch_focus", "Cards/input", id="switch-focus"),
        Binding("n", "next_step", "Next step", id="next"),
        Binding("slash", "command", "Command", id="command", show=False),
    ]
    AUTO_FOCUS = "#command-line"

    def __init__(
        self,
        *,
        config: RunConfig,
        session: str | Path | None = None,
        resume: bool = False,
        injected: Injected = None,
        autostart: bool = False,
        blind: bool = False,
    ) -> None:
        super().__init__()
        self.config = config
        self.resume = resume
        self.default_path = session is None
        self.session_path = Path(session) if session else default_session_path(config)
        self.injected = injected
        self.autostart = autostart
        self.reviewer = TuiReviewer(self.post_message)
        self.reviewer.blind = blind
        self.run: Run | None = None
        self.worker: Worker | None = None
        self.budget = 0  # steps still to run in this go
        self.auto_until: int | None = None  # /auto: run up to the configured steps
        self.started = False  # a step has begun (this sitting or an earlier one)
        self.stepping = False
        self.closing = False
        self.closed = False
        self.pending_method: str | None = None
        self.groups: dict[str, ReviewGroup] = {}  # groups still collecting cards, by key
        self.cards: dict[str, ReviewGroup] = {}  # proposal id -> its group
        self.reviews: list[OpenReview] = []
        self.reflects: list[tuple[ReflectPrompt, ReflectRequested]] = []
        self.prompts: dict[str, Prompt] = {}
        self.examples: dict[str, Example] = {}
        self._empty = 0

    # ------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="title-bar")
        with Horizontal(id="main"):
            with Vertical(id="chat"):
                yield Transcript(id="transcript")
                yield CommandLine(id="command-line")
            yield ScoresPanel(id="scores")
        yield StatusBar(id="status")
        yield Footer()

    def _title(self) -> Text:
        c = self.config
        text = Text()
        text.append(" reflectloop ", style="bold reverse")
        text.append(f"  {clean(c.task)} · {clean(c.method)} · target {clean(c.target)} · optimizer {clean(c.optimizer)}")
        text.append(f" · seed {c.seed} · {c.steps} steps · beam {c.beam} · dev {c.dev_size} · test {c.test_size}",
                    style="dim")
        return text

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def command_line(self) -> CommandLine:
        return self.query_one(CommandLine)

    def say(self, text: str | Text, level: str = "info") -> None:
        self.transcript.mount(SystemLine(text, level=level))

    def on_mount(self) -> None:
        self.query_one(ScoresPanel).display = False
        self.status.session = self.session_path.name
        self.status.blind = self.reviewer.blind
        self.status.show()
        self.set_interval(0.25, self._poll_models)
        if self.resume:
            self.say(f"opening session {self.session_path.name} …")
            self._go(0)
        else:
            self.say(Text.assemble(
                ("new session ", "bold"), clean(self.session_path.name),
                "\nEach step: evaluate → errors → feedback (reflect) → candidate prompts (refine) → select → test. "
                "You review the feedback and candidates as cards. /help lists the commands.",
            ))
            if self.autostart:
                self._go(1)
            else:
                self.say("ready: /next (or n) runs step 0")

    # ------------------------------------------------------------ the run
    def _injected(self):
        if callable(self.injected):
            return self.injected(self.config)
        return self.injected

    def _go(self, steps: int) -> None:
        """Run ``steps`` more steps (0: only open the run)."""
        self.budget += steps
        if self.worker is None or self.worker.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self.worker = self._drive()

    def _listen(self, event) -> None:
        self.post_message(from_event(event))

    async def _open(self) -> Run:
        if self.run is not None:
            return self.run
        listeners = (self._listen,)
        injected = self._injected()
        if self.resume:
            build = lambda: resume_run(self.session_path, self.reviewer, listeners=listeners, injected=injected)
        else:
            build = lambda: start_run(self.config, self.reviewer, session=self.session_path, listeners=listeners,
                                      injected=injected)
        future = asyncio.get_running_loop().run_in_executor(None, build)
        try:
            run = await asyncio.shield(future)
        except asyncio.CancelledError:
            # Quit while the session was opening: close it once it is open.
            future.add_done_callback(lambda f: f.exception() is None and f.result().store.close())
            raise
        resumed = self.resume
        self.run = run
        self.config = run.config
        self.session_path = run.store.path
        self.resume = True  # from now on, reopening this run means resuming it
        if isinstance(run.loop.reviewer, ReplayReviewer):
            self.reviewer.known = run.loop.reviewer.decisions
        self.prompts.update(run.loop.state.prompts)
        task = run.loop.task
        self.examples = {e.id: e for e in (*task.ini, *task.dev, *task.test)}
        state = run.store.state() or {}
        mid = bool(state) and state.get("phase") not in (None, "start") and state.get("step") == run.loop.next_step
        self.started = self.started or bool(run.loop.state.records) or mid
        self.post_message(RunOpened(run.store.path, run.config, resumed, tuple(run.loop.state.records), mid))
        if mid and self.budget == 0:
            self.budget = 1
        return run

    @work(group="loop", exit_on_error=False, name="loop")
    async def _drive(self) -> None:
        ran = False
        try:
            run = await self._open()
            while self.budget > 0 and not self.closing:
                if self.auto_until is not None and run.loop.next_step >= self.auto_until:
                    self.budget = 0
                    break
                self.budget -= 1
                self.started = self.stepping = ran = True
                try:
                    await run.loop.run_step()
                finally:
                    self.stepping = False
            if ran and not self.closing:
                done = run.loop.next_step >= run.config.steps
                self.post_message(RunIdle("finished" if done else "paused", run.loop.next_step))
        except asyncio.CancelledError:
            raise
        except BudgetExceeded as exc:
            await self._discard()
            self.post_message(RunFailed(str(exc), stopped=True))
        except Exception as exc:  # shown in the transcript; the session stays resumable
            await self._discard()
            self.post_message(RunFailed(f"{type(exc).__name__}: {exc}"))
        finally:
            self.budget = 0
            self.auto_until = None

    async def _discard(self) -> None:
        """Close a run whose step broke off; the next step reopens the session."""
        run, self.run = self.run, None
        for review in self.reviews:
            review.group.close()
        self.reviews.clear()
        self.reflects.clear()
        self.groups.clear()
        if run is not None:
            await run.close()

    async def shutdown(self) -> None:
        """Stop the loop and close the session (it stays resumable). Idempotent."""
        if self.closed:
            return
        self.closing = True
        worker = self.worker
        if worker is not None and worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
            worker.cancel()
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass
        run, self.run = self.run, None
        if run is not None:
            await run.close()
        self.closed = True

    async def on_unmount(self) -> None:
        await self.shutdown()

    def _poll_models(self) -> None:
        run = self.run
        if run is None:
            return
        states = []
        for role, model in (("target", run.target), ("optimizer", run.optimizer)):
            shared = role == "optimizer" and model is run.target
            states.append(ModelState(
                role, getattr(model, "spec", "?"), getattr(model, "busy", 0),
                0 if shared else model.prompt_tokens + model.completion_tokens,
                0 if shared else model.calls, 0.0 if shared else model.cost,
            ))
        self.status.set_models(states)

    # -------------------------------------------------- the loop's events
    async def on_run_opened(self, message: RunOpened) -> None:
        self.status.session = message.path.name
        self.query_one("#title-bar", Static).update(self._title())
        if not message.resumed:
            return
        beam_of = lambda r: [self.prompts[i] for i in r.beam if i in self.prompts]
        for record in message.records:
            await self.transcript.mount(StepSummary(record, beam_of(record), replayed=True))
            self.query_one(ScoresPanel).add(record)
        n = len(message.records)
        if message.mid_step:
            self.say(f"step {n} was half done: it continues where it stood; decisions made before are replayed")
        elif n >= message.config.steps:
            self.say(f"all {message.config.steps} steps of this session are done: /next runs one more")
        else:
            self.say(f"{n} steps done: /next runs step {n}, /run N runs N steps, /auto the rest")

    def on_phase_changed(self, message: PhaseChanged) -> None:
        self.status.set_phase(message.step, message.phase, message.detail)
        self.transcript.mount(PhaseLine(message.step, message.phase, message.detail))

    def on_progress_updated(self, message: ProgressUpdated) -> None:
        self.status.set_progress(message.label, message.done, message.total)

    def on_prompt_arrived(self, message: PromptArrived) -> None:
        self.prompts[message.prompt.id] = message.prompt

    def on_evaluation_arrived(self, message: EvaluationArrived) -> None:
        ev = message.evaluation
        self.transcript.mount(EvaluationMessage(message.step, ev, self.prompts.get(ev.prompt_id), self.examples))

    def on_note_arrived(self, message: NoteArrived) -> None:
        self.transcript.mount(NoteLine(message.step, message.text))

    def on_step_finished(self, message: StepFinished) -> None:
        self.transcript.mount(StepSummary(message.record, message.beam))
        self.query_one(ScoresPanel).add(message.record)
        self.status.set_phase(message.record.step, "done")

    def on_run_idle(self, message: RunIdle) -> None:
        self.status.set_phase(self.status.step, "idle")
        steps = self.config.steps
        if message.reason == "finished":
            self.say(f"all {steps} steps done (the best prompt is in the last summary). /next runs one more; "
                     "q quits, the session is kept")
        else:
            self.say(f"paused before step {message.next_step} of {steps}: /next, /run N or /auto")
        self._focus_next_card()

    def on_run_failed(self, message: RunFailed) -> None:
        self.status.set_phase(self.status.step, "stopped" if message.stopped else "failed")
        self.status.waiting = ""
        self.status.show()
        prefix = "stopped: " if message.stopped else "could not go on: "
        self.say(prefix + message.error + f"\nThe session keeps everything done so far; /next resumes it "
                 f"(or later: reflectloop tui --session {self.session_path})", level="error")

    def on_queued_reflection_used(self, message: QueuedReflectionUsed) -> None:
        self.say(f"your reflection went to step {message.step}'s error set of {message.parent_id}")

    async def on_proposal_arrived(self, message: ProposalArrived) -> None:
        p = message.proposal
        key = group_key(p) + ("h" if p.author == "human" else "")
        group = self.groups.get(key)
        if group is None or group.finished or group.is_open:
            parent = self.prompts.get(p.for_candidate or p.parent_id) if p.kind != "demonstration" else None
            group = ReviewGroup(key, p, parent_text=parent.instruction if parent else None)
            self.groups[key] = group
            await self.transcript.mount(group)
        await group.add_card(p)
        self.cards[p.id] = group

    def on_decision_arrived(self, message: DecisionArrived) -> None:
        d = message.decision
        group = self.cards.get(d.proposal_id)
        if group is None:
            return
        card = group.cards[d.proposal_id]
        if card.decision is None:
            card.show_decision(d, recorded=d.kind != "add")
        if not group.is_open and not group.undecided() and not group.finished:
            group.close()
            self.groups.pop(group.key, None)

    # ---------------------------------------------------------- reviewing
    async def on_review_requested(self, message: ReviewRequested) -> None:
        request = message.request
        if message.future.done():
            return
        if request.proposals and request.proposals[0].id in self.cards:
            group = self.cards[request.proposals[0].id]
        else:  # nothing proposed: an empty group the person can add to
            self._empty += 1
            parent = request.parent.id if request.parent else "task"
            first = Proposal(f"s{request.step}/{parent}/{request.kind}/empty{self._empty}", request.step,
                             request.kind, parent, "", request.errors)
            group = ReviewGroup(group_key(first), first,
                                parent_text=request.parent.instruction if request.parent else None)
            await self.transcript.mount(group)
        self.groups.pop(group.key, None)
        review = OpenReview(request, message.future, group, dict(message.known))
        for pid, decision in message.known.items():
            group.cards[pid].show_decision(decision, recorded=True)
        group.open(allow_add=request.allow_add, context=request.context)
        for card in group.undecided():
            card.open()
        self.reviews.append(review)
        if self.reviewer.auto:
            self._auto_decide(review)
            return
        if request.proposals and not group.undecided():
            self._finish(review)
            return
        self._set_waiting()
        self._focus_next_card()

    def _review_of(self, proposal_id: str) -> OpenReview | None:
        return next((r for r in self.reviews if proposal_id in r.group.cards), None)

    def on_decision_chosen(self, message: DecisionChosen) -> None:
        message.stop()
        d = message.decision
        review = self._review_of(d.proposal_id)
        if review is None:
            return
        card = review.group.cards[d.proposal_id]
        if card.decision is not None:
            return
        request = review.request
        if (request.step == 0 and request.kind == "candidate" and d.kind == "reject" and not review.added
                and all(c.decision is not None and c.decision.kind == "reject"
                        for c in review.group.cards.values() if c is not card)):
            self.say("keep at least one initial prompt: accept or edit one, or type your own first", level="warning")
            return
        self._decide(review, card, d)
        self._focus_next_card(after=card)

    def _decide(self, review: OpenReview, card: ProposalCard, decision: Decision) -> None:
        review.decisions[decision.proposal_id] = decision
        card.show_decision(decision, recorded=decision.by == "auto")
        if self.run is not None:
            # Durable at once: quitting mid-review keeps the decisions made so far.
            self.run.store.add_decision(decision)
        if not review.group.undecided():
            self._finish(review)

    def _finish(self, review: OpenReview) -> None:
        if review in self.reviews:
            self.reviews.remove(review)
        review.group.close()
        result = ReviewResult(dict(review.decisions), tuple(review.added))
        if not review.future.done():
            review.future.set_result(result)
        self.post_message(ReviewFinished(review.request, result))
        self._set_waiting()

    def on_group_done(self, message: GroupDone) -> None:
        review = next((r for r in self.reviews if r.group.key == message.key), None)
        if review is not None and not review.group.undecided():
            self._finish(review)
            self._focus_next_card()

    def _auto_decide(self, review: OpenReview) -> None:
        auto = AutoReviewer()
        for card in review.group.undecided():
            accepted = auto._accepts(card.proposal)
            self._decide(review, card, Decision(card.proposal.id, "accept" if accepted else "reject", by="auto"))
        if review in self.reviews:  # an empty request
            self._finish(review)

    async def on_reflect_requested(self, message: ReflectRequested) -> None:
        if message.future.done():
            return
        if self.reviewer.auto or not self.reviewer.blind:
            message.future.set_result(())
            return
        prompt = ReflectPrompt(message.request)
        await self.transcript.mount(prompt)
        self.reflects.append((prompt, message))
        self.command_line.placeholder = f"your reflection on the errors of {clean(message.request.parent.id)} (Enter)"
        self._set_waiting()
        self.command_line.focus()

    def _answer_reflection(self, texts: tuple[str, ...]) -> None:
        prompt, message = self.reflects.pop(0)
        prompt.answer(texts)
        if not message.future.done():
            message.future.set_result(texts)
        if not self.reflects:
            self.command_line.placeholder = CommandLine.PLACEHOLDER
        self._set_waiting()

    def _set_waiting(self) -> None:
        waiting = []
        if self.reflects:
            waiting.append("your reflection")
        if self.reviews:
            waiting.append("your review")
        self.status.waiting = " and ".join(waiting)
        self.status.show()

    def _open_cards(self) -> list[ProposalCard]:
        return [c for r in self.reviews for c in r.group.undecided()]

    def _focus_next_card(self, after: ProposalCard | None = None) -> None:
        """Focus the first card waiting for a decision, else the input line;
        never while a modal is open or the person is typing."""
        if self.app.screen is not self:
            return
        line = self.command_line
        if self.reflects:
            line.focus()
            return
        if line.has_focus and line.value:
            return
        cards = self._open_cards()
        if not cards:
            line.focus()
            return
        focused = self.focused
        if focused is None or focused is line or focused is after or not (
                isinstance(focused, ProposalCard) and focused.is_open):
            cards[0].focus()

    # --------------------------------------------------------- the input
    @on(Input.Submitted, "#command-line")
    async def on_line(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value
        event.input.clear()
        if not text.strip():
            return
        if text.lstrip().startswith("/"):
            await self.transcript.mount(UserLine(text.strip()))
            try:
                await self.command(parse(text))
            except CommandError as exc:
                self.say(str(exc), level="warning")
            return
        await self.transcript.mount(UserLine(text))
        if self.reflects:
            self._answer_reflection((text,))
            self._focus_next_card()
            return
        review = self._review_for_own_text()
        if review is not None:
            review.added.append(text)
            review.group.add_own(text)
            return
        if not self.config.method_defaults().reflects:
            self.say(f"{self.config.method} has no reflection step: type your own candidate prompt while a "
                     "candidate review is open", level="warning")
            return
        self.reviewer.queued.append(text)
        self.say("kept as your reflection on the next error set the optimizer reflects on")

    def _review_for_own_text(self) -> OpenReview | None:
        addable = [r for r in self.reviews if r.request.allow_add and r.request.kind in ("feedback", "candidate")]
        focused = self.focused
        for review in addable:
            if focused is not None and focused in review.group.cards.values():
                return review
        return addable[0] if addable else None

    def _audit(self) -> None:
        from tui.screens.audit import AuditScreen

        if self.run is None:
            self.say("no session yet: /audit audits the session once step 0 has started")
            return
        self.run.store.flush()  # the audit reads the session from disk
        self.app.push_screen(AuditScreen(self.run.store.path))

    async def command(self, cmd: Command) -> None:
        name = cmd.name
        if name == "help":
            self.say(help_text())
        elif name in ("next", "run"):
            n = count(cmd) if name == "run" else 1
            running = self.stepping or self.budget > 0
            self._go(n)
            if self.reviews or self.reflects:
                self.say(f"{n} more step(s) queued; the loop waits for your review first")
            elif running:
                self.say(f"{n} more step(s) queued after the current one")
        elif name == "auto":
            self.reviewer.auto = True
            self.status.auto = True
            for review in list(self.reviews):
                self._auto_decide(review)
            while self.reflects:
                self._answer_reflection(())
            left = max(self.config.steps - (self.run.loop.next_step if self.run else 0) - (1 if self.stepping else 0), 0)
            self.auto_until = self.config.steps
            self.say(f"auto mode: every proposal is accepted from here on, up to step {self.config.steps - 1}; "
                     "/pause stops after the current step")
            self._go(left if left else 0)
            self.status.show()
        elif name == "pause":
            self.budget = 0
            self.reviewer.auto = False
            self.status.auto = False
            self.status.show()
            self.say("pausing after the current step" if self.stepping else "paused")
        elif name == "blind":
            if not cmd.args or cmd.args[0].lower() not in ("on", "off"):
                raise CommandError("/blind on or /blind off")
            self.reviewer.blind = cmd.args[0].lower() == "on"
            self.status.blind = self.reviewer.blind
            self.status.show()
            if not self.reviewer.blind:
                while self.reflects:
                    self._answer_reflection(())
            self.say("blind mode on: you write your reflection before the optimizer's is generated"
                     if self.reviewer.blind else "blind mode off")
        elif name == "method":
            await self._method(cmd)
        elif name == "export":
            await self._export(cmd)
        elif name == "scores":
            self.action_toggle_scores()
        elif name == "audit":
            self._audit()
        elif name == "skip":
            if self.reflects:
                self._answer_reflection(())
                self._focus_next_card()
            else:
                self.say("nothing to skip: /skip answers a blind-mode request for your reflection")
        elif name == "quit":
            await self.app.action_quit()

    async def _method(self, cmd: Command) -> None:
        if not cmd.args:
            raise CommandError(f"/method NAME, one of: {', '.join(METHOD_DEFAULTS)}")
        name = cmd.args[0].lower()
        if name not in METHOD_DEFAULTS:
            raise CommandError(f"unknown method {name!r}; known: {', '.join(METHOD_DEFAULTS)}")
        if name == self.config.method:
            self.say(f"the method already is {name}")
            return
        if self.run is None and not self.started and not self.resume:
            self.config = self.config.replace(method=name)
            if self.default_path:
                self.session_path = default_session_path(self.config)
                self.status.session = self.session_path.name
            self.query_one("#title-bar", Static).update(self._title())
            self.status.show()
            self.say(f"method: {name}")
            return
        if self.pending_method != name:
            self.pending_method = name
            self.say(f"step 0 has started, so this session's method stays {self.config.method}. "
                     f"/method {name} again starts a new session with {name} and the same settings "
                     f"(this one stays resumable from the start screen)", level="warning")
            return
        config = self.config.replace(method=name)
        self.say(f"starting a new session with {name}; {self.session_path.name} is kept")
        await self.shutdown()
        self.app.post_message(RunRequested(config, self.reviewer.blind, replace=True))

    async def _export(self, cmd: Command) -> None:
        fmt = cmd.args[0].lower() if cmd.args else "jsonl"
        suffix = {"jsonl": ".jsonl", "csv": ".csv", "hf": "-hf"}
        if fmt not in suffix:
            raise CommandError("/export jsonl, /export csv or /export hf")
        shell = f"reflectloop export {self.session_path} --format {fmt}"
        if importlib.util.find_spec("sessions.export") is None:
            self.say(f"this build has no exporter; from a shell: {shell}", level="warning")
            return
        if self.run is None and not (self.session_path / "log.jsonl").is_file():
            self.say("nothing to export yet: the session starts with step 0", level="warning")
            return
        export = importlib.import_module("sessions.export").export
        out = self.session_path.with_name(self.session_path.name.removesuffix(".session") + suffix[fmt])

        def write() -> int:
            if self.run is not None:
                return export(self.run.store, fmt, out)
            from sessions.store import SessionStore

            with SessionStore.open(self.session_path, read_only=True) as store:
                return export(store, fmt, out)

        try:
            n = await asyncio.to_thread(write)
        except Exception as exc:
            self.say(f"export failed: {type(exc).__name__}: {exc}\n(from a shell: {shell})", level="error")
            return
        self.say(f"{n} reviewed proposals written to {out}")

    # ----------------------------------------------------------- actions
    def action_toggle_scores(self) -> None:
        panel = self.query_one(ScoresPanel)
        panel.display = not panel.display

    def action_switch_focus(self) -> None:
        if self.focused is self.command_line:
            cards = self._open_cards()
            (cards[0] if cards else self.transcript).focus()
        else:
            self.command_line.focus()

    def action_next_step(self) -> None:
        self.run_worker(self.command(parse("/next")), group="commands")

    def action_command(self) -> None:
        line = self.command_line
        line.focus()
        if not line.value:
            line.value = "/"
            line.cursor_position = 1
