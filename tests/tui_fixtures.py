"""Helpers for the TUI tests: scripted models injected into the app, a
deterministic config, polling a running app for a condition, and the Pilot
moves every TUI test makes (open cards, type a line, finish step 0)."""
from __future__ import annotations

import asyncio
from typing import Callable

import pytest
from textual.widgets import Static

from reflectloop.core.settings.config import RunConfig, from_dict
from reflectloop.core.llm.cache import MemoryCache
from tests.scripted import optimizer_by_rules, scripted_llm, toy_target, toy_task
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import RunIdle
from reflectloop.tui.screens.loop import LoopScreen, RunState
from reflectloop.tui.widgets.review import ProposalCard
from reflectloop.tui.widgets.transcript import StepSummary

INIT = "Write one clear instruction"
REFLECT = "reasons why the instruction"
REFINE = "improved instructions"
DEMONSTRATE = "strictly follow"  # ABO's demonstration meta-prompt


def init_answers(texts):
    return lambda text, params: f"<START>{texts[params.sample % len(texts)]}<END>"


def default_rules(**over):
    rules = {
        INIT: init_answers(["Answer.", "Answer HALF."]),
        REFLECT: "<START>it ignores the number<END><START>too vague<END><START>no format<END>",
        REFINE: "<START>Answer GOOD.<END><START>Answer HALF again.<END>",
    }
    rules.update(over)
    return rules


def tui_config(**changes) -> RunConfig:
    base = dict(task="toy", method="apo", target="fake:target", optimizer="fake:opt", steps=2, beam=1,
                init_prompts=2, dev_size=6, test_size=4, seed=1)
    return from_dict({**base, **changes})  # flat names: a method's own settings too


class Injector:
    """``injected=`` for the app: fresh scripted models per run, sharing one cache."""

    def __init__(self, rules=None):
        self.rules = rules or default_rules()
        self.cache = MemoryCache()
        self.providers = []

    def __call__(self, config: RunConfig):
        target, tp = scripted_llm("fake:target", toy_target, role="target", cache=self.cache)
        optimizer, op = scripted_llm("fake:opt", optimizer_by_rules(self.rules), role="optimizer", cache=self.cache)
        self.providers.append((tp, op))
        return toy_task(), target, optimizer

    @property
    def optimizer_prompts(self) -> list[str]:
        return [p for _, op in self.providers for p in op.prompts]


async def wait_for(pilot, predicate: Callable[[], object], *, timeout: float = 30.0, what: str = "condition"):
    """Let the app work until ``predicate()`` holds (a generous ceiling, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


SIZE = (120, 40)


@pytest.fixture(autouse=True)
def quiet_terminal(monkeypatch, tmp_path):
    """No cursor blink (stable frames), no user config file.  A test module
    that imports it gets it for every test."""
    monkeypatch.setattr(ReflectLoopApp, "cursor_blink", False)
    monkeypatch.setenv("REFLECTLOOP_CONFIG", str(tmp_path / "no-user-config.toml"))


class Recorder:
    """message_hook: every message any pump of the app processes, in order."""

    def __init__(self):
        self.messages = []

    def __call__(self, message):
        self.messages.append(message)

    def of(self, kind):
        return [m for m in self.messages if isinstance(m, kind)]


def loop_screen(app) -> LoopScreen:
    return next(s for s in app.screen_stack if isinstance(s, LoopScreen))


def open_cards(app) -> list[ProposalCard]:
    return [c for c in app.screen.query(ProposalCard) if c.is_open]


async def wait_open(pilot, kind=None, *, what=None, timeout: float = 30.0):
    def ready():
        cards = open_cards(pilot.app)
        return cards if cards and (kind is None or cards[0].proposal.kind == kind) else None

    return await wait_for(pilot, ready, timeout=timeout, what=what or f"an open {kind or ''} card")


async def submit(pilot, text: str, screen=None) -> None:
    """Type a line into the input line (of ``screen``, default the loop screen) and press Enter."""
    line = (screen or loop_screen(pilot.app)).command_line
    line.focus()
    await pilot.pause()
    line.value = text
    await pilot.press("enter")
    await pilot.pause()


async def finish_step0(pilot, hook: Recorder) -> None:
    """Accept the initial prompts, close the review, and wait until step 0 is recorded."""
    for _ in await wait_open(pilot, "candidate", what="the initial prompts"):
        await pilot.press("a")
        await pilot.pause()
    await pilot.press("d")
    await wait_for(pilot, lambda: hook.of(RunIdle), what="step 0 to finish")


async def past_step0(pilot) -> None:
    """Accept the initial prompts and say Done, without a message_hook (snapshots have none):
    idle, and the screen has handled it (the status says so)."""
    screen = loop_screen(pilot.app)
    for _ in await wait_open(pilot, "candidate", what="the initial prompts"):
        await pilot.press("a")
        await pilot.pause()
    await pilot.press("d")
    await wait_for(pilot, lambda: screen.query(StepSummary) and screen.driver.state is RunState.IDLE
                   and screen.status.phase == "idle", what="step 0")


def plain(widget: Static) -> str:
    visual = widget.render()
    return visual.plain if hasattr(visual, "plain") else str(visual)


def last_line(screen: LoopScreen) -> str:
    """The newest system line of the transcript."""
    return plain(screen.query(".system").last())
