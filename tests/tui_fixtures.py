"""Helpers for the TUI tests: scripted models injected into the app, a
deterministic config, and polling a running app for a condition."""
from __future__ import annotations

import asyncio
from typing import Callable

from core.config import RunConfig
from core.llm.cache import MemoryCache
from tests.scripted import optimizer_by_rules, scripted_llm, toy_target, toy_task

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
    return RunConfig(**{**base, **changes})


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
