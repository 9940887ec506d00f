"""What each command of the input line does on the loop screen: one handler
per command name (``LoopCommands.table``), looked up, never dispatched by
if/elif.  The commands, their parsing and the help text are in ``tui.slash_commands``."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Awaitable, Callable, Protocol

from rich.text import Text
from textual.app import App

from reflectloop.core.methods import METHODS
from reflectloop.tui.messages import RunRequested
from reflectloop.tui.reviewer import TuiReviewer
from reflectloop.tui.screens.chat import BULK
from reflectloop.tui.slash_commands import BY_NAME, COMMANDS, Command, CommandError, count, help_text
from reflectloop.tui.screens.loop import exports
from reflectloop.tui.screens.loop.desk import ReviewDesk
from reflectloop.tui.screens.loop.driver import RunDriver, RunState

Handler = Callable[[Command], Awaitable[None]]


class CommandHost(Protocol):
    """What the commands need of their screen (the loop screen is one)."""

    desk: ReviewDesk
    driver: RunDriver
    reviewer: TuiReviewer

    @property
    def app(self) -> App: ...

    def say(self, text: str | Text, level: str = "info") -> None: ...

    def set_auto(self, on: bool) -> None: ...

    def set_blind(self, on: bool) -> None: ...

    def settings_changed(self) -> None: ...

    def withdraw(self) -> str: ...

    def action_toggle_scores(self) -> None: ...


class LoopCommands:
    def __init__(self, screen: CommandHost) -> None:
        self.screen = screen
        self.method_asked: str | None = None  # /method NAME once after step 0: asked to confirm
        self.table: dict[str, Handler] = {c.name: getattr(self, c.handler) for c in COMMANDS}

    async def __call__(self, cmd: Command) -> None:
        await self.table[cmd.name](cmd)

    @property
    def driver(self) -> RunDriver:
        return self.screen.driver

    async def help(self, cmd: Command) -> None:
        self.screen.say(help_text(getattr(self.screen.app, "action_keys", None)))

    async def next(self, cmd: Command) -> None:
        n = count(cmd) if cmd.name == "run" else 1
        desk = self.screen.desk
        if desk.reviews and not desk.open_cards():
            desk.done()  # every card is decided: moving on closes the review
        running = self.driver.busy
        self.driver.go(n)
        if self.screen.desk.waiting:
            self.screen.say(f"{n} more step(s) queued; the loop waits for your review first")
        elif running:
            self.screen.say(f"{n} more step(s) queued after the current one")

    async def auto(self, cmd: Command) -> None:
        screen = self.screen
        screen.set_auto(True)
        screen.desk.auto_decide_all()
        steps = self.driver.config.steps
        screen.say(f"auto mode: every proposal is accepted from here on, up to step {steps - 1}; "
                   "/pause stops after the current step")
        self.driver.auto()

    async def pause(self, cmd: Command) -> None:
        stepping = self.driver.stepping
        self.driver.pause()
        self.screen.set_auto(False)
        self.screen.say("pausing after the current step" if stepping else "paused")

    async def blind(self, cmd: Command) -> None:
        if not cmd.args or cmd.args[0].lower() not in ("on", "off"):
            raise CommandError("/blind on or /blind off")
        on = cmd.args[0].lower() == "on"
        self.screen.set_blind(on)
        if not on:
            self.screen.desk.answer_all_reflections()
        self.screen.say("blind mode on: you write your reflection before the optimizer's is generated"
                        if on else "blind mode off")

    async def method(self, cmd: Command) -> None:
        known = ", ".join(METHODS)
        if not cmd.args:
            raise CommandError(f"/method NAME, one of: {known}")
        name = cmd.args[0].lower()
        if name not in METHODS:
            raise CommandError(f"unknown method {name!r}; known: {known}")
        screen, driver = self.screen, self.driver
        if name == driver.config.method:
            screen.say(f"the method already is {name}")
        elif driver.state is RunState.NEW:
            driver.retarget(driver.config.replace(method=name))
            screen.settings_changed()
            screen.say(f"method: {name}")
        elif self.method_asked != name:
            self.method_asked = name
            screen.say(f"step 0 has started, so this session's method stays {driver.config.method}. "
                       f"/method {name} again starts a new session with {name} and the same settings "
                       f"(this one stays resumable from the start screen)", level="warning")
        else:
            screen.say(f"starting a new session with {name}; {driver.session_path.name} is kept")
            await driver.shutdown()
            screen.app.post_message(RunRequested(driver.config.replace(method=name), screen.reviewer.blind,
                                                 replace=True))

    async def export(self, cmd: Command) -> None:
        fmt = cmd.args[0].lower() if cmd.args else "jsonl"
        if fmt not in exports.SUFFIX:
            raise CommandError("/export jsonl, /export csv or /export hf")
        driver = self.driver
        try:
            n, out = await exports.write(driver.session_path, fmt, driver.run.store if driver.run else None)
        except exports.NothingYet as exc:
            self.screen.say(str(exc), level="warning")
            return
        except Exception as exc:
            self.screen.say(f"export failed: {type(exc).__name__}: {exc}\n(from a shell: "
                            f"{exports.shell(driver.session_path, fmt)})", level="error")
            return
        self.screen.say(f"{n} reviewed proposals written to {out}")

    async def scores(self, cmd: Command) -> None:
        self.screen.action_toggle_scores()

    async def audit(self, cmd: Command) -> None:
        from reflectloop.tui.screens.audit import AuditScreen

        driver = self.driver
        if driver.run is not None:
            driver.run.store.flush()  # the audit reads the session from disk
        elif driver.state is RunState.NEW:
            self.screen.say("no session yet: /audit audits the session once step 0 has started")
            return
        self.screen.app.push_screen(AuditScreen(driver.session_path))

    async def skip(self, cmd: Command) -> None:
        if self.screen.desk.answer_reflection(()):
            self.screen.desk.focus_next_card()
        else:
            self.screen.say("nothing to skip: /skip answers a blind-mode request for your reflection")

    async def undo(self, cmd: Command) -> None:
        self.screen.say(self.screen.desk.undo())

    async def done(self, cmd: Command) -> None:
        self.screen.say(self.screen.desk.done())

    async def bulk(self, cmd: Command) -> None:
        which = cmd.args[0].lower() if cmd.args else ""
        allowed = BULK[cmd.name]
        if which not in allowed:
            raise CommandError(f"/{cmd.name} {'|'.join(allowed)}: {BY_NAME[cmd.name].help}")
        desk = self.screen.desk
        if not desk.reviews:
            raise CommandError(f"/{cmd.name} {which}: no review is open")
        n = desk.bulk("accept" if cmd.name == "accept" else "reject", which)
        left = desk.left()
        self.screen.say(f"{n} card(s) {cmd.name}ed" + (f"; {left} left" if left else "; all decided: d (Done) closes "
                                                       "the review, after any text of your own"))

    async def withdraw(self, cmd: Command) -> None:
        self.screen.say(self.screen.withdraw())

    async def save(self, cmd: Command) -> None:
        target = cmd.text.strip().partition(" ")[2].strip()  # the rest of the line: a path may hold spaces
        if not target:
            raise CommandError("/save PATH: the best prompt, as JSON for .json, Python for .py, else text")
        driver = self.driver
        if driver.run is not None:
            driver.run.store.flush()  # the best prompt is read from the session on disk
        elif driver.state is RunState.NEW:
            self.screen.say("no session yet: /save writes the best prompt once step 0 is done", level="warning")
            return
        path = Path(target).expanduser().resolve()
        try:
            best, fmt = await asyncio.to_thread(save_best_prompt, driver.session_path, path)
        except ValueError as exc:  # no finished step yet, or the task file is gone
            self.screen.say(str(exc), level="warning")
            return
        except OSError as exc:
            self.screen.say(f"cannot write {path}: {exc.strerror or exc}", level="error")
            return
        self.screen.say(f"best prompt {best.prompt_id} (step {best.step}, dev {best.dev:.3f}) written to {path} "
                        f"as {fmt}")

    async def quit(self, cmd: Command) -> None:
        await self.screen.app.action_quit()


def save_best_prompt(session: Path, path: Path):
    """The session's best prompt written to ``path`` (format by its suffix): (best, format)."""
    from reflectloop.sessions.best import best_prompt, save_best

    best = best_prompt(session)
    return best, save_best(path, best)
