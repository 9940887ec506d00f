"""The one way a run is opened and driven, for every entry point.

The CLI (``run``, ``--method all``, ``--repeats``), the TUI and the benches
all call :func:`open_run` and then :meth:`Run.step` / :meth:`Run.drive`.  It
is the one place that wires ``core`` (task, models, method, loop) to a
session store; it knows nothing of Textual.

A run is new, resumed (the session exists: it continues exactly where it
stood, mid-step included, with recorded decisions replayed) or forked (see
``sessions.fork``; a fork is then resumed).  Decisions reach the store only
through the loop's seam (``ReviewRequest.record`` and the review result),
written by the :class:`~sessions.recorder.Recorder`.
"""
from __future__ import annotations

import dataclasses
import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from reflectloop.core.settings import paths
from reflectloop.core.settings.config import RunConfig, from_stored
from reflectloop.core.events import Event
from reflectloop.core.step.failures import EvaluationFailed
from reflectloop.core.llm import Budget, default_cache, make_llm
from reflectloop.core.llm.base import BudgetExceeded
from reflectloop.core.step.loop import Loop
from reflectloop.core.methods import make_method
from reflectloop.core.rubric import RubricError, resolve_annotator
from reflectloop.core.review import ReplayReviewer, Reviewer
from reflectloop.core.tasks import load_task
from reflectloop.core.tasks import stored as stored_task
from reflectloop.core.tasks.filetask import with_spec
from reflectloop.core.types import CallRecord, Decision, StepRecord, Task
from reflectloop.sessions.recorder import Recorder
from reflectloop.sessions.resume import load_state, replay_reviewer
from reflectloop.sessions.stored_task import USE_STORED, resume_task
from reflectloop.sessions.storage import LOG_NAME
from reflectloop.sessions.store import SessionStore

Listener = Callable[[Event], None]
# (task, target, optimizer) made by the caller instead of from the config's specs
# (tests use scripted models), or a function of the config that makes them; a
# fourth item is the judge model of a task file's judge metric.
Injected = tuple | Callable[[RunConfig], tuple] | None

# Settings a continued session may change: how far to go, what it may spend,
# how many errored examples an evaluation may have (a session stopped by a
# deterministic failure can be finished with a looser bound), and where its
# models are served (a changed base URL is said on opening).
RESUMABLE = ("steps", "max_cost", "max_tokens", "concurrency", "annotator", "max_errored", "target_base_url",
             "optimizer_base_url")
MOVABLE = ("target_base_url", "optimizer_base_url")


def resumable(values: Mapping) -> dict:
    """The settings of ``values`` that a continued session takes."""
    return {k: values[k] for k in RESUMABLE if k in values}


def session_path(config: RunConfig | None, *, label: str | None = None, folder: bool = False,
                 root: Path | None = None) -> Path:
    """The one function that names sessions and folders of sessions:
    ``<time>-<task>-<label or method>`` under the sessions folder, with
    ``.session`` unless it is a ``folder`` (``compare``, ``apo-x3``).
    Without a config (an imported set) the task part is left out."""
    parts = [time.strftime("%Y%m%d-%H%M%S")]
    if config is not None:
        parts.append(config.task.replace(":", "-").replace("/", "_"))
    if not label:
        assert config is not None, "a session without a config is named by its label"
        label = config.method
    parts.append(label)
    name = "-".join(parts) + ("" if folder else ".session")
    return (root or paths.sessions_dir()) / name


def is_session(path: str | Path) -> bool:
    return (Path(path) / LOG_NAME).is_file()


def find_sessions(root: Path | None = None, limit: int | None = None) -> list[Path]:
    """Session folders under ``root`` (default: the sessions folder), also one
    level down (the folders of ``--method all`` and ``--repeats``), newest first."""
    root = root or paths.sessions_dir()
    if not root.is_dir():
        return []
    found = [p.parent for pattern in (f"*/{LOG_NAME}", f"*/*/{LOG_NAME}") for p in root.glob(pattern)]
    found.sort(key=lambda p: (p / LOG_NAME).stat().st_mtime, reverse=True)
    return found[:limit] if limit else found


@dataclass
class Drive:
    """What :meth:`Run.drive` did: the records of this go, and why it stopped early."""

    records: list[StepRecord] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early: the budget's message, or the failed evaluation's
    # What stopped it: "budget" (spent; exit 3) or "errored" (an evaluation errored on more than
    # --max-errored of its examples, the step unfinished and unrecorded; exit 4); None when it did not stop.
    kind: str | None = None


@dataclass
class Run:
    config: RunConfig
    store: SessionStore
    loop: Loop
    resumed: bool = False
    known_decisions: Mapping[str, Decision] = field(default_factory=dict)  # recorded before this sitting
    mid_step: bool = False  # the session was opened in the middle of a step
    moved: tuple[str, ...] = ()  # a base URL this sitting changed, said on opening
    task_notes: tuple[str, ...] = ()  # how the resumed task was found (a moved or changed file)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What is worth saying on opening: the session's recovered damage,
        how its task was found, the task file's findings (a field no template
        uses), a changed base URL."""
        taskfile = self.loop.task.taskfile
        judge = judge_note(self.config, self.loop.task)
        return (*self.store.warnings, *self.task_notes, *(taskfile.warnings if taskfile is not None else ()),
                *self.moved, *([judge] if judge else ()))

    @property
    def target(self):
        return self.loop.target

    @property
    def optimizer(self):
        return self.loop.optimizer

    @property
    def path(self) -> Path:
        return self.store.path

    @property
    def records(self) -> list[StepRecord]:
        return self.loop.state.records

    @property
    def next_step(self) -> int:
        return self.loop.next_step

    @property
    def done(self) -> bool:
        return self.loop.next_step >= self.config.steps

    async def step(self) -> StepRecord:
        """Run one step.  Raises ``BudgetExceeded`` when the budget stops it."""
        record = await self.loop.run_step()
        # What a run holds (its prompts, evaluations, records) lives until it
        # closes.  Unfrozen, the cyclic collector walks it all again in a full
        # collection (tens of ms) that falls at the next step's start, while
        # the step's first requests wait; ``close`` hands it back.
        gc.freeze()
        return record

    async def drive(self, steps: int | None = None, on_record: Callable[[StepRecord], None] | None = None) -> Drive:
        """Run ``steps`` more steps (default: up to the configured number),
        reporting each record; the budget, or an evaluation that failed
        beyond ``--max-errored``, ends it cleanly (``Drive.stopped``, ``Drive.kind``):
        the step under way is not recorded and a resume redoes it."""
        result = Drive()
        until = self.config.steps if steps is None else self.next_step + steps
        try:
            while self.next_step < until:
                record = await self.step()
                result.records.append(record)
                if on_record:
                    on_record(record)
        except BudgetExceeded as exc:
            result.stopped, result.kind = str(exc), "budget"
        except EvaluationFailed as exc:
            result.stopped, result.kind = str(exc), "errored"
        return result

    async def close(self) -> None:
        try:
            for model in self.loop.models():
                await model.aclose()
        finally:
            _close_metric(self.loop.task)  # a Python metric's worker processes
            self.store.close()
            gc.unfreeze()  # what the run held is collected once it is garbage


def _models(config: RunConfig, on_call: Callable[[CallRecord], None], task: Task):
    """Target, optimizer and, for a task file's judge metric, the judge: one
    cache and one budget, so the judge's calls are cached, recorded and costed
    like the others."""
    cache = default_cache() if config.cache else None
    budget = Budget(config.max_cost, config.max_tokens) if (config.max_cost or config.max_tokens) else None
    common: dict[str, Any] = dict(concurrency=config.concurrency, cache=cache, budget=budget, on_call=on_call)
    target = make_llm(config.target, role="target", base_url=config.target_base_url, **common)
    # The study gives each method its own optimizer model (``optimizers``).
    optimizer = make_llm(config.optimizer_spec, role="optimizer", base_url=config.optimizer_base_url, **common)
    spec = judge_spec(config, task)
    borrowed = spec is not None and judge_note(config, task) is not None  # the optimizer's model, at its URL
    judge = make_llm(spec, role="judge", base_url=config.optimizer_base_url if borrowed else None, **common) if spec else None
    return target, optimizer, judge, metric_model_maker(common)


def metric_model_maker(common: dict) -> Callable[[str, str | None], Any]:
    """How a metric's own models (a promptfoo similar assertion's embeddings
    provider) are made: as the judge, with the run's cache, budget and records."""
    return lambda spec, base_url: make_llm(spec, role="judge", base_url=base_url, **common)


def judge_spec(config: RunConfig, task: Task) -> str | None:
    """The judge's model spec: ``--judge``, else the metric's own ``model``,
    else the optimizer's (:func:`judge_note` says so); None when the task has
    no judge metric."""
    metric = task.taskfile.scorer.metric if task.taskfile is not None else None
    if metric is None or not getattr(metric, "needs_model", False):
        return None
    return config.judge or metric.model or config.optimizer_spec


def judge_note(config: RunConfig, task: Task) -> str | None:
    """What a person is told when the judge borrows the optimizer's model."""
    metric = task.taskfile.scorer.metric if task.taskfile is not None else None
    if metric is None or not getattr(metric, "needs_model", False) or config.judge or metric.model:
        return None
    return (f"the judge metric names no model: it uses the optimizer's, {config.optimizer_spec} "
            "(pass --judge SPEC or set model in [metric] for another)")


def with_judge(task: Task, judge) -> Task:
    """``task`` whose judge metric calls ``judge``."""
    if judge is None or task.taskfile is None:
        return task
    scorer = task.taskfile.scorer
    scorer = dataclasses.replace(scorer, metric=scorer.metric.with_model(judge))
    return with_spec(task, dataclasses.replace(task.taskfile, scorer=scorer))


def with_metric_workers(task: Task, workers: int | None) -> Task:
    """``task`` whose Python metric runs up to ``workers`` examples at once
    (the run's concurrency; unset: one per CPU)."""
    metric = task.taskfile.scorer.metric if task.taskfile is not None else None
    if metric is None or not hasattr(metric, "with_workers") or not workers:
        return task
    scorer = dataclasses.replace(task.taskfile.scorer, metric=metric.with_workers(workers))
    return with_spec(task, dataclasses.replace(task.taskfile, scorer=scorer))


def with_metric_models(task: Task, make: Callable[[str, str | None], Any] | None) -> Task:
    """``task`` whose metric has the models it names itself (made by ``make``)."""
    metric = task.taskfile.scorer.metric if task.taskfile is not None else None
    if metric is None or make is None or not hasattr(metric, "with_models"):
        return task
    scorer = dataclasses.replace(task.taskfile.scorer, metric=metric.with_models(make))
    return with_spec(task, dataclasses.replace(task.taskfile, scorer=scorer))


def _close_metric(task: Task) -> None:
    close = getattr(task.taskfile.scorer.metric, "close", None) if task.taskfile is not None else None
    if close is not None:
        close()


def _parts(config: RunConfig, recorder: Recorder, injected: Injected, task: Task | None = None):
    """The task (``task``: the one a resumed session stored) and the models,
    from the config's specs unless injected."""
    made = injected(config) if callable(injected) else injected
    make = None  # injected models: the metric makes none of its own
    if made:
        task, target, optimizer, *rest = made
        judge = rest[0] if rest else None
        for model in (target, optimizer, *([judge] if judge else [])):
            model.on_call = recorder.on_call
    else:
        task = task if task is not None else load_task(
            config.task, data_dir=config.data_dir, seed=config.seed, dev_size=config.dev_size,
            test_size=config.test_size,
        )
        target, optimizer, judge, make = _models(config, recorder.on_call, task)
    task = with_metric_models(with_judge(task, judge), make)
    return with_metric_workers(task, config.concurrency), target, optimizer, judge


def _given_prompts(config: RunConfig, task: Task) -> RunConfig:
    """A task file's prompts are where its run starts (a person tunes the
    prompt the application uses today); the optimizer writes initial
    prompts only when the file gives none or other prompts are named."""
    if task.taskfile is not None and task.initial_prompts and not config.initial_prompts:
        return config.replace(initial_prompts="task")
    return config


def _loop(config, task, target, optimizer, reviewer, recorder, listeners: Iterable[Listener], state=None,
          judge=None) -> Loop:
    chain = [recorder, *listeners]

    def emit(event: Event) -> None:
        for listener in chain:
            listener(event)

    method = make_method(config.method, optimizer, task, config)
    return Loop(task=task, config=config, method=method, target=target, optimizer=optimizer,
                reviewer=reviewer, emit=emit, state=state, judge=judge, annotator=_annotator(config))


def _annotator(config: RunConfig) -> str:
    """Who writes the person's own texts of this run: a configured name that
    is not usable is refused; with none, the login name, if there is one."""
    try:
        return resolve_annotator(None, config.annotator)
    except RubricError:
        if config.annotator:
            raise
        # No login name (a container without a passwd entry): a headless run still runs, its own texts
        # unattributed; the TUI refuses a person's decisions until a name is given.
        return ""


def _start(config, reviewer, path: Path, listeners, injected) -> Run:
    # Everything that can refuse the input (task, models, method) is built
    # before the session exists, so a refused run leaves nothing behind.
    recorder = Recorder(None)
    task, target, optimizer, judge = _parts(config, recorder, injected)
    config = _given_prompts(config, task)
    loop = _loop(config, task, target, optimizer, reviewer, recorder, listeners, judge=judge)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = stored_task.dump(task, data_dir=config.data_dir)  # the session holds its task as resolved
    recorder.store = SessionStore.create(path, config.to_dict(), task=stored)
    return Run(config, recorder.store, loop)


def _resume(path: Path, reviewer, overrides: dict, listeners, injected, use_stored: bool = False) -> Run:
    store = SessionStore.open(path)
    try:
        if "imported_from" in store.config:
            raise ValueError(f"{store.path.name} is an imported annotation set: it is read-only")
        if "packet" in store.config or "merged" in store.config:
            how = (f"annotate it with reflectloop tui --session {store.path}" if "packet" in store.config
                   else f"audit it with reflectloop audit {store.path}")
            raise ValueError(f"{store.path.name} is an annotation packet or a merged set of packets: it runs "
                             f"no model; {how}")
        config = from_stored({**store.config, **overrides})
        replay: ReplayReviewer = replay_reviewer(store, reviewer)
        recorder = Recorder(store, known=replay.decisions)
        task, notes = (None, []) if injected else resume_task(store, config, use_stored=use_stored)
        task, target, optimizer, judge = _parts(config, recorder, injected, task)
        state = load_state(store)
        loop = _loop(config, task, target, optimizer, replay, recorder, listeners, state, judge=judge)
        phase = store.state() or {}
        mid = phase.get("phase") not in (None, "start") and phase.get("step") == loop.next_step
        moved = tuple(f"{k} changed from {store.config.get(k) or '(none)'} to {overrides[k] or '(none)'} "
                      "for this sitting" for k in MOVABLE if k in overrides and overrides[k] != store.config.get(k))
        return Run(config, store, loop, resumed=True, known_decisions=replay.decisions, mid_step=mid, moved=moved,
                   task_notes=tuple(notes))
    except Exception:
        store.close()
        raise


def open_run(
    config: RunConfig | None,
    reviewer: Reviewer,
    *,
    session: str | Path | None = None,
    overrides: dict | None = None,
    listeners: Iterable[Listener] = (),
    injected: Injected = None,
) -> Run:
    """Continue ``session`` if it holds a session, else start one there (or
    at :func:`session_path` when none is given).

    A continued session keeps what it is (task, method, models, seed, sizes):
    ``config`` is not used for it (it may be None) and of ``overrides`` only
    the :data:`RESUMABLE` settings apply, and :data:`USE_STORED` continues
    it with its stored task when the task's files changed.  A new session is
    ``config`` with ``overrides`` applied."""
    overrides = dict(overrides or {})
    use_stored = bool(overrides.pop(USE_STORED, False))
    if session and is_session(session):
        return _resume(Path(session), reviewer, resumable(overrides), tuple(listeners), injected, use_stored)
    if config is None:
        raise ValueError(f"{session}: no such session" if session else "a new run needs its settings")
    if overrides:
        config = config.replace(**overrides)
    path = Path(session) if session else session_path(config)
    return _start(config, reviewer, path, tuple(listeners), injected)
