"""Glue shared by the CLI and the TUI: a run = task + models + method + loop,
recorded into a session.  The one place that wires ``core`` to ``sessions``."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core import paths
from core.config import RunConfig, from_dict
from core.events import Event
from core.llm import Budget, default_cache, make_llm
from core.loop import Loop
from core.methods import make_method
from core.review import Reviewer
from core.tasks import load_task
from core.types import CallRecord
from sessions.recorder import Recorder
from sessions.resume import load_state, replay_reviewer
from sessions.store import SessionStore


def default_session_path(config: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    task = config.task.replace(":", "-").replace("/", "_")
    return paths.sessions_dir() / f"{stamp}-{task}-{config.method}.session"


@dataclass
class Run:
    config: RunConfig
    store: SessionStore
    loop: Loop
    listeners: list[Callable[[Event], None]] = field(default_factory=list)

    @property
    def target(self):
        return self.loop.target

    @property
    def optimizer(self):
        return self.loop.optimizer

    async def close(self) -> None:
        for model in {id(m): m for m in (self.target, self.optimizer)}.values():
            await model.aclose()
        self.store.close()


def _models(config: RunConfig, on_call: Callable[[CallRecord], None]):
    cache = default_cache() if config.cache else None
    budget = Budget(config.max_cost, config.max_tokens) if (config.max_cost or config.max_tokens) else None
    common = dict(concurrency=config.concurrency, cache=cache, budget=budget, on_call=on_call)
    target = make_llm(config.target, role="target", base_url=config.target_base_url, **common)
    optimizer = make_llm(config.optimizer, role="optimizer", base_url=config.optimizer_base_url, **common)
    return target, optimizer


def _build(config: RunConfig, store: SessionStore, reviewer: Reviewer, state=None, listeners=(), injected=None) -> Run:
    """``injected``: (task, target, optimizer) made by the caller — tests use
    scripted models; everything else is built from the config's specs."""
    if injected:
        task, target, optimizer = injected
    else:
        task = load_task(
            config.task, data_dir=config.data_dir, seed=config.seed, dev_size=config.dev_size, test_size=config.test_size
        )
    recorder = Recorder(store)
    listeners = [recorder, *listeners]

    def emit(event: Event) -> None:
        for listener in listeners:
            listener(event)

    if injected:
        target.on_call = optimizer.on_call = recorder.on_call
    else:
        target, optimizer = _models(config, recorder.on_call)
    method = make_method(config.method, optimizer, task, config)
    loop = Loop(
        task=task, config=config, method=method, target=target, optimizer=optimizer,
        reviewer=reviewer, emit=emit, state=state,
    )
    return Run(config, store, loop, listeners)


def start_run(
    config: RunConfig,
    reviewer: Reviewer,
    *,
    session: str | Path | None = None,
    listeners: tuple[Callable[[Event], None], ...] = (),
    injected=None,
) -> Run:
    path = Path(session) if session else default_session_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = SessionStore.create(path, config.to_dict())
    try:
        return _build(config, store, reviewer, listeners=listeners, injected=injected)
    except Exception:
        store.close()
        raise


def resume_run(
    session: str | Path,
    reviewer: Reviewer,
    *,
    listeners: tuple[Callable[[Event], None], ...] = (),
    overrides: dict | None = None,
    injected=None,
) -> Run:
    """Continue a session exactly where it stood, mid-step included.

    ``overrides`` may change how far to go (steps) or the budget, never what
    the session is (task, method, models, seed, sizes)."""
    store = SessionStore.open(session)
    try:
        if "imported_from" in store.config:
            raise ValueError(f"{store.path.name} is an imported annotation set: it is read-only")
        config = from_dict({**store.config, **(overrides or {})})
        state = load_state(store)
        return _build(config, store, replay_reviewer(store, reviewer), state, listeners, injected)
    except Exception:
        store.close()
        raise


# Settings a continued session may change: how far to go and what it may spend.
RESUMABLE = ("steps", "max_cost", "max_tokens", "concurrency")


def start_or_resume(
    config: RunConfig,
    reviewer: Reviewer,
    *,
    session: str | Path | None,
    values: dict,
    listeners: tuple[Callable[[Event], None], ...] = (),
    injected=None,
) -> Run:
    """Continue ``session`` if it exists (with the RESUMABLE settings of
    ``values``), else start it."""
    if session and Path(session).exists():
        keep = {k: v for k, v in values.items() if k in RESUMABLE}
        return resume_run(session, reviewer, listeners=listeners, overrides=keep, injected=injected)
    return start_run(config, reviewer, session=session, listeners=listeners, injected=injected)
