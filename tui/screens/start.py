"""The start screen: a new run (task, method, models, a preset, seed and
sizes, with an estimate of one step) or a recent session to open.  The
defaults start at once: Enter on Start."""
from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, OptionList, Select, Static

from reflectloop.core.settings.config import ConfigError, RunConfig
from reflectloop.core.methods import METHODS, facts_of
from reflectloop.core.settings.presets import preset, preset_of
from reflectloop.tui.messages import RunRequested, SessionChosen, SessionsListed
from reflectloop.tui.slash_commands import bindings
from reflectloop.tui.widgets.input.fields import LineInput
from reflectloop.tui.widgets.start import EstimatePanel, PresetPicker, SessionList, TaskPicker, summarize
from reflectloop.tui.widgets.text import clean

RECENT = 30  # sessions listed
SIZES = (("seed", "seed"), ("steps", "steps"), ("beam", "beam"), ("dev_size", "dev"), ("test_size", "test"))


def method_label(name: str, protocol: str) -> Text:
    d = facts_of(name, protocol)
    what = f"{d.errors} errors, {d.per_parent} per parent" if d.reflects else f"{d.per_parent} per parent, no feedback"
    return Text.assemble((name, "bold"), (f"  {what}", "dim"))


class StartScreen(Screen):
    BINDINGS = [
        *bindings("start"),
    ]
    AUTO_FOCUS = "#start"

    def __init__(self, config: RunConfig, *, blind: bool = False) -> None:
        super().__init__()
        self.config = config
        self.blind = blind

    def compose(self) -> ComposeResult:
        c = self.config
        title = Text.assemble((" reflectloop ", "bold reverse"), "  prompt optimization with you in the loop")
        yield Static(title, id="title-bar")
        with Horizontal(id="start-columns"):
            with VerticalScroll(id="new-run"):
                yield Static(Text("New run", style="bold"), classes="section-title")
                yield Label(Text("task (a spec, or pick one below)"))
                yield LineInput(c.task, id="task")
                yield TaskPicker(self._task_specs(), id="task-list")
                yield Label(Text("method"))
                yield Select([(method_label(m, c.protocol), m) for m in METHODS], value=c.method, allow_blank=False,
                             id="method")
                with Grid(id="models"):
                    with Vertical():
                        yield Label(Text("target model"))
                        yield LineInput(c.target, id="target")
                    with Vertical():
                        yield Label(Text("optimizer model"))
                        yield LineInput(c.optimizer, id="optimizer")
                yield Label(Text("preset (sets the sizes below and the answer caps)"))
                yield PresetPicker(preset_of(c), id="preset")
                with Grid(id="sizes"):
                    for field, label in SIZES:
                        with Vertical():
                            yield Label(Text(label))
                            yield LineInput(str(getattr(c, field)), type="integer", id=field)
                yield EstimatePanel(id="estimate")
                yield Checkbox("blind mode: my reflection before the optimizer's", self.blind, id="blind")
                yield Static("", id="form-error")
                yield Button("Start", variant="primary", id="start")
            with Vertical(id="recent"):
                yield Static(Text("Recent sessions (Enter opens and resumes)", style="bold"), classes="section-title")
                yield SessionList(id="sessions")
        yield Footer()

    def _task_specs(self) -> list[str]:
        from reflectloop.core.tasks import list_tasks

        try:
            return list_tasks(self.config.data_dir)
        except Exception:  # a broken --data-dir still leaves the generators
            return list_tasks(None)

    def on_mount(self) -> None:
        self.query_one(SessionList).show([])
        self.show_estimate()
        self.load_sessions()

    @work(thread=True, exclusive=True, group="sessions")
    def load_sessions(self) -> None:
        # Imported here, in the worker thread: the start screen paints before the engine loads.
        from reflectloop.sessions.service import find_sessions

        self.post_message(SessionsListed([summarize(p) for p in find_sessions(limit=RECENT)]))

    def on_sessions_listed(self, message: SessionsListed) -> None:
        self.query_one(SessionList).show(message.summaries)

    def action_refresh_sessions(self) -> None:
        self.load_sessions()

    @on(OptionList.OptionSelected, "#task-list")
    def pick_task(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#task", Input).value = event.option.id or ""
        self._suite_target(event.option.id or "")

    def _suite_target(self, spec: str) -> None:
        """A promptfoo suite's provider, where it maps onto reflectloop's,
        fills the target (still editable), as on the command line."""
        from reflectloop.core.tasks.promptfoo import default_target

        settings, _ = default_target(spec, {})
        if "target" in settings:
            self.query_one("#target", Input).value = settings["target"]
        if "target_base_url" in settings:
            self.config = self.config.replace(target_base_url=settings["target_base_url"])

    @on(Select.Changed, "#preset")
    def pick_preset(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        # The preset's settings off the form (answer caps, initial prompts) ride on the config;
        # a field it does not set (the seed) keeps what was typed.
        chosen = preset(str(event.value))
        self.config = self.config.replace(**chosen.settings)
        for field, _ in SIZES:
            if field in chosen.settings:
                self.query_one(f"#{field}", Input).value = str(chosen.settings[field])
        self.show_estimate()

    @on(Input.Changed)
    @on(Select.Changed, "#method")
    def show_estimate(self) -> None:
        panel = self.query_one(EstimatePanel)
        try:
            panel.show(self._read())
        except ConfigError as exc:
            panel.cannot(str(exc))

    @on(OptionList.OptionSelected, "#sessions")
    def open_session(self, event: OptionList.OptionSelected) -> None:
        path = self.query_one(SessionList).paths.get(event.option.id or "")
        if path is not None:
            self.post_message(SessionChosen(path))

    def _read(self) -> RunConfig:
        changes: dict = {}
        for name in ("task", "target", "optimizer"):
            value = self.query_one(f"#{name}", Input).value.strip()
            if not value:
                raise ConfigError(f"the {name} may not be empty")
            changes[name] = value
        changes["method"] = self.query_one("#method", Select).value
        for field, label in SIZES:
            raw = self.query_one(f"#{field}", Input).value.strip()
            try:
                changes[field] = int(raw)
            except ValueError:
                raise ConfigError(f"{label} must be a whole number, not {raw!r}") from None
        return self.config.replace(**changes)

    def action_start(self) -> None:
        try:
            config = self._read()
        except ConfigError as exc:
            self.query_one("#form-error", Static).update(Text(clean(str(exc)), style="bold red"))
            return
        self.post_message(RunRequested(config, self.query_one("#blind", Checkbox).value))

    @on(Button.Pressed, "#start")
    def start_pressed(self) -> None:
        self.action_start()

    @on(Input.Submitted)
    def input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()
