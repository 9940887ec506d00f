"""The chat-style loop screen: the transcript, the input line, the scores
panel and the status bar, over three parts that each do one job:

- :class:`~tui.screens.loop.driver.RunDriver` opens the run through the
  service layer and steps it in a worker (its state is one ``RunState``);
- :class:`~tui.screens.loop.desk.ReviewDesk` owns the review cards and the
  futures the reviewer waits on;
- :class:`~tui.screens.loop.command_table.LoopCommands` carries out the
  input line's commands.

The screen turns the loop's messages into transcript widgets and hands the
review messages to the desk.
"""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.rubric import RubricError, load_rubric, resolve_annotator
from reflectloop.sessions.service import Injected, Run
from reflectloop.tui.messages import (
    DecisionArrived,
    EarlyScoringChanged,
    DecisionChosen,
    EditRequested,
    EvaluationArrived,
    GroupDone,
    RoundDone,
    GateArrived,
    NoteArrived,
    PhaseChanged,
    ProgressUpdated,
    PromptArrived,
    ProposalArrived,
    QueuedReflectionUsed,
    ReflectRequested,
    ReviewRequested,
    RunFailed,
    RunIdle,
    RunOpened,
    StepFinished,
)
from reflectloop.tui.reviewer import TuiReviewer
from reflectloop.tui.slash_commands import Command, bindings, parse
from reflectloop.tui.screens.chat import ChatScreen
from reflectloop.tui.screens.loop.command_table import LoopCommands
from reflectloop.tui.screens.loop.desk import ReviewDesk
from reflectloop.tui.screens.loop.driver import RunDriver, RunState
from reflectloop.tui.screens.loop.keys import KeysShown
from reflectloop.tui.screens.loop.spent import Spent
from reflectloop.tui.widgets.input import CommandLine
from reflectloop.tui.widgets.review import PendingReflection
from reflectloop.tui.widgets.scores import ScoresPanel
from reflectloop.tui.widgets.status import StatusBar
from reflectloop.tui.widgets.status.status_bar import ModelState
from reflectloop.tui.widgets.text import clean
from reflectloop.tui.widgets.transcript import EvaluationMessage, NoteLine, PhaseLine, StepSummary, Transcript


class LoopScreen(KeysShown, ChatScreen):
    BINDINGS = [
        *bindings("loop"),
    ]
    AUTO_FOCUS = "#transcript"  # keys act (n runs the next step); / or a paste opens the input

    def __init__(
        self,
        *,
        config: RunConfig,
        session: str | Path | None = None,
        overrides: dict | None = None,
        injected: Injected = None,
        autostart: bool = False,
        blind: bool = False,
    ) -> None:
        super().__init__()
        self.autostart = autostart
        self.reviewer = TuiReviewer(self.post_message)
        self.reviewer.blind = blind
        self.desk = ReviewDesk(self)
        self.driver = RunDriver(self, self.reviewer, config=config, session=Path(session) if session else None,
                                overrides=overrides, injected=injected, on_discard=self.desk.abandon)
        self.commands = LoopCommands(self)
        self.examples: dict = {}
        self.dev_size: int | None = None  # what a partial (raced) evaluation fell short of
        self.annotator_setting = config.annotator  # the person at this terminal, not the session's first annotator
        self.spent: dict[str, Spent] = {}  # what the session's models spent before this sitting
        self.pending: list[PendingReflection] = []  # beside reviewer.queued, in the same order

    @property
    def config(self) -> RunConfig:
        return self.driver.config

    @property
    def session_path(self) -> Path:
        return self.driver.session_path

    @property
    def run(self) -> Run | None:
        return self.driver.run

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
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    def settings_changed(self) -> None:
        """The title and status after the settings (the method) changed."""
        self.query_one("#title-bar", Static).update(self._title())
        self.status.session = self.session_path.name
        self.status.show()

    def on_top(self) -> bool:
        return self.app.screen is self

    def set_auto(self, on: bool) -> None:
        self.reviewer.auto = self.status.auto = on
        self.status.show()

    def set_blind(self, on: bool) -> None:
        self.reviewer.blind = self.status.blind = on
        self.status.show()

    def on_mount(self) -> None:
        self.query_one(ScoresPanel).display = False
        try:
            self.desk.annotator = resolve_annotator(None, self.annotator_setting)
        except RubricError as exc:
            self.say(f"{exc}: nothing can be decided until you do", level="error")
        self.status.session = self.session_path.name
        self.status.blind = self.reviewer.blind
        self.status.show()
        self.set_interval(0.25, self._poll_models)
        if self.driver.state is RunState.SAVED:
            self.say(f"opening session {self.session_path.name} …")
            self.driver.go(0)
            return
        self.say(Text.assemble(
            ("new session ", "bold"), clean(self.session_path.name),
            "\nEach step: evaluate → errors → feedback (reflect) → candidate prompts (refine) → select → test. "
            "You review the feedback and candidates as cards. /help lists the commands.",
        ))
        if self.autostart:
            self.driver.go(1)
        else:
            self.say("ready: /next (or n) runs step 0")

    async def shutdown(self) -> None:
        """Stop the loop and close the session (it stays resumable)."""
        await self.driver.shutdown()

    async def on_unmount(self) -> None:
        await self.shutdown()

    def _poll_models(self) -> None:
        run = self.run
        if run is None:
            return
        states = []
        for role, model in (("target", run.target), ("optimizer", run.optimizer)):
            shared = role == "optimizer" and model is run.target
            before = self._spent_before(role, shared)
            states.append(ModelState(
                role, getattr(model, "spec", "?"), getattr(model, "busy", 0),
                before.tokens + (0 if shared else model.prompt_tokens + model.completion_tokens),
                before.calls + (0 if shared else model.calls), before.cost + (0.0 if shared else model.cost),
            ))
        self.status.set_models(states)

    def _spent_before(self, role: str, shared: bool) -> Spent:
        """The session's earlier spending of a role; one model in both roles counts it all as the target's."""
        if shared:
            return Spent()
        run = self.run
        one_model = run is not None and run.optimizer is run.target
        roles = ("target", "optimizer") if role == "target" and one_model else (role,)
        found = [self.spent[r] for r in roles if r in self.spent]
        return Spent(sum(s.tokens for s in found), sum(s.calls for s in found), sum(s.cost for s in found))

    # -------------------------------------------------- the loop's events
    async def on_run_opened(self, message: RunOpened) -> None:
        run = self.run
        if run is not None:
            task = run.loop.task
            self.examples = {e.id: e for e in (*task.ini, *task.dev, *task.test)}
            self.dev_size = len(task.dev)
            self.desk.prompts.update(run.loop.state.prompts)
        self.spent = dict(message.spent)
        self._load_rubric()
        self.settings_changed()
        if message.resumed:
            await self._replay(message)

    async def _replay(self, message: RunOpened) -> None:
        """The steps recorded before this sitting, as summaries."""
        prompts = self.desk.prompts
        for record in message.records:
            beam = [prompts[i] for i in record.beam if i in prompts]
            await self.transcript.mount(StepSummary(record, beam, replayed=True))
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
        self.desk.prompts[message.prompt.id] = message.prompt

    def on_evaluation_arrived(self, message: EvaluationArrived) -> None:
        ev = message.evaluation
        self.transcript.mount(EvaluationMessage(message.step, ev, self.desk.prompts.get(ev.prompt_id), self.examples,
                                                dev_size=self.dev_size))
        self.status.candidate_evaluated(ev.prompt_id)

    def on_note_arrived(self, message: NoteArrived) -> None:
        self.transcript.mount(NoteLine(message.step, message.text))

    def on_step_finished(self, message: StepFinished) -> None:
        self.transcript.mount(StepSummary(message.record, message.beam))
        self.query_one(ScoresPanel).add(message.record)
        self.status.step_over()
        self.status.set_phase(message.record.step, "done")

    def on_run_idle(self, message: RunIdle) -> None:
        self.status.set_phase(self.status.step, "idle")
        steps = self.config.steps
        if message.reason == "finished":
            self.say(f"all {steps} steps done (the best prompt is in the last summary). /next runs one more; "
                     "q quits, the session is kept")
        else:
            self.say(f"paused before step {message.next_step} of {steps}: /next, /run N or /auto")
        self.desk.focus_next_card()

    def on_run_failed(self, message: RunFailed) -> None:
        self.status.set_phase(self.status.step, "stopped" if message.stopped else "failed")
        self.status.waiting = ""
        self.status.step_over()
        self.status.show()
        prefix = "stopped: " if message.stopped else "could not go on: "
        self.say(prefix + message.error + f"\nThe session keeps everything done so far; /next resumes it "
                 f"(or later: reflectloop tui --session {self.session_path})", level="error")

    def _load_rubric(self) -> None:
        """The labels the cards offer: the session's ``rubric`` setting, else the study's questions."""
        try:
            self.desk.rubric = load_rubric(self.config.rubric)
        except RubricError as exc:
            self.desk.rubric = None
            self.say(f"{exc}\nThe cards offer no labels until the rubric is fixed (decisions still work).",
                     level="error")

    def on_queued_reflection_used(self, message: QueuedReflectionUsed) -> None:
        where = f"step {message.step}'s error set of {message.parent_id}"
        used, self.pending = self.pending[:len(message.texts)], self.pending[len(message.texts):]
        for line in used:
            line.used(where)
        self.status.pending = len(self.pending)
        self.status.show()
        self.say(f"your reflection went to {where}")

    # ---------------------------------------------------------- reviewing
    async def on_proposal_arrived(self, message: ProposalArrived) -> None:
        await self.desk.proposal_arrived(message.proposal)

    def on_gate_arrived(self, message: GateArrived) -> None:
        self.desk.rounds.gate(message.step, message.gate)

    def on_decision_arrived(self, message: DecisionArrived) -> None:
        self.desk.decision_arrived(message)

    def on_early_scoring_changed(self, message: EarlyScoringChanged) -> None:
        """What the loop started (or stopped) at a candidate's acceptance, as it reports it."""
        self.status.candidate_decided(message.prompt_id, message.started)

    async def on_review_requested(self, message: ReviewRequested) -> None:
        await self.desk.review_requested(message)

    async def on_reflect_requested(self, message: ReflectRequested) -> None:
        await self.desk.reflect_requested(message)

    def on_decision_chosen(self, message: DecisionChosen) -> None:
        message.stop()
        self.desk.choose(message.decision)

    def on_group_done(self, message: GroupDone) -> None:
        message.stop()
        self.desk.group_done(message.key)

    def on_round_done(self, message: RoundDone) -> None:
        message.stop()
        self.say(self.desk.round_done(message.step, message.iteration))

    def on_edit_requested(self, message: EditRequested) -> None:
        message.stop()
        self.edit_card(self.desk.card(message.proposal_id))

    # --------------------------------------------------------- the input
    async def run_command(self, cmd: Command) -> None:
        await self.commands(cmd)

    async def own_text(self, text: str) -> None:
        """Free text: the person's reflection (blind mode), their own proposal
        for an open review, or their reflection on the next error set."""
        if self.desk.answer_reflection((text,)):
            self.desk.focus_next_card()
            return
        if self.desk.add_own(text):
            return
        if not self.config.method_defaults().reflects:
            self.say(f"{self.config.method} has no reflection step: type your own candidate prompt while a "
                     "candidate review is open", level="warning")
            return
        self.reviewer.queued.append(text)
        line = PendingReflection(text)
        self.pending.append(line)
        self.transcript.mount(line)
        self.status.pending = len(self.pending)
        self.status.show()

    def withdraw(self) -> str:
        """Take back the newest reflection kept for the next error set."""
        if not self.reviewer.queued:
            return "nothing to withdraw: no reflection is pending"
        text = self.reviewer.queued.pop()
        self.pending.pop().withdraw()
        self.status.pending = len(self.pending)
        self.status.show()
        return f"withdrawn: {text!r} will not be used"

    # ----------------------------------------------------------- actions
    def action_toggle_scores(self) -> None:
        panel = self.query_one(ScoresPanel)
        panel.display = not panel.display

    def action_next_step(self) -> None:
        """While a review is open: the next undecided card; otherwise the next step."""
        if not self.desk.next_undecided():
            self.run_worker(self.commands(parse("/next")), group="commands")

    def action_undo(self) -> None:
        self.say(self.desk.undo())

    def action_done(self) -> None:
        self.say(self.desk.done())

    def action_command(self) -> None:
        """The input line, from a click on the footer's key (the key itself is taken by the app:
        ``tui.widgets.input.typing``)."""
        line = self.command_line
        self.set_focus(line)
        if not line.value:
            line.start("/")
