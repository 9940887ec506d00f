"""A metric written by the user: ``module:function(example, output)``
returning a score in [0, 1] or ``(score, feedback text)``.

``module`` is an importable module name, or a ``.py`` file; a relative file
and a module beside the task file are found from the task file's folder.
``example`` is a ``TaskExample``, read by attribute (``.fields``,
``.targets``, ``.target``) or like a mapping (``example["target"]``,
``example["subject"]`` for a field); ``output`` is what the output contract
extracted: text, or a dict for a JSON contract.  A function that raises,
returns something else or outlives ``timeout`` seconds (default 60) errors
that example (left out of the score, the cause recorded); one that cannot be
loaded stops the task from loading.

The function runs in worker processes (``core.metrics.pool``), up to
``workers`` at once (the run sets its concurrency), so a slow metric does not
hold up the event loop and a stuck one is killed at its timeout.  ``measure``
(used where no event loop runs) calls it in this process, without a timeout.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from reflectloop.core.metrics.base import MetricError, MetricResult, SyncMetric, TaskExample, check_score
from reflectloop.core.metrics.pool import MetricCrashed, MetricPool, MetricTimeout
from reflectloop.core.metrics.python_loader import load_function

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class PythonMetric(SyncMetric):
    kind: ClassVar[str] = "python"
    function: str  # "module:function" or "path/to/file.py:function"
    timeout: float = DEFAULT_TIMEOUT  # seconds one example may take
    base_dir: str = ""  # the task file's folder; set by the task file, not written in it
    workers: int = field(default=0, init=False, compare=False)  # 0: one per CPU; the run sets its concurrency
    call: Callable = field(init=False, repr=False, compare=False)
    pool: MetricPool | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise MetricError(f"python: timeout must be a positive number of seconds (got {self.timeout!r})")
        # Loaded here too, so a metric that cannot be loaded stops the task from loading.
        object.__setattr__(self, "call", load_function(self.function, Path(self.base_dir or ".")))

    def with_workers(self, workers: int) -> PythonMetric:
        """This metric running up to ``workers`` examples at once, in a pool of its own."""
        metric = dataclasses.replace(self)
        object.__setattr__(metric, "workers", max(1, workers))
        return metric

    def measure(self, example: TaskExample, value: Any) -> MetricResult:
        try:
            returned = self.call(example, value)
        except Exception as exc:  # the user's code: any failure errors this example only
            return self._raised(f"{type(exc).__name__}: {exc}", example)
        return self._checked(returned, example)

    async def score(self, example: TaskExample, value: Any) -> MetricResult:
        pool = self.pool
        if pool is None:  # started on first use: a task loaded to be listed or exported starts nothing
            pool = MetricPool(self.function, self.base_dir, self.workers or os.cpu_count() or 1)
            object.__setattr__(self, "pool", pool)
        try:
            outcome, returned = await pool.call(example.plain(), value, self.timeout)
        except MetricTimeout:
            return MetricResult.errored(
                f"metric {self.function} timed out after {self.timeout:g} s (example {example.id!r}); "
                "its process was stopped")
        except MetricCrashed as exc:
            return MetricResult.errored(f"metric {self.function} failed: {exc} (example {example.id!r})")
        if outcome == "raised":
            return self._raised(returned, example)
        return self._checked(returned, example)

    def close(self) -> None:
        """Stop the worker processes (the run's close)."""
        if self.pool is not None:
            self.pool.close()

    def _raised(self, cause: str, example: TaskExample) -> MetricResult:
        return MetricResult.errored(f"metric {self.function} raised {cause} (example {example.id!r})")

    def _checked(self, returned: Any, example: TaskExample) -> MetricResult:
        try:
            return _result(returned, f"metric {self.function}")
        except MetricError as exc:
            return MetricResult.errored(f"{exc} (example {example.id!r})")


def _result(returned: Any, who: str) -> MetricResult:
    if isinstance(returned, tuple):
        if len(returned) != 2 or not isinstance(returned[1], str):
            raise MetricError(f"{who} returned {returned!r}: expected a score or (score, feedback text)")
        return MetricResult(check_score(returned[0], who), returned[1].strip())
    return MetricResult(check_score(returned, who))
