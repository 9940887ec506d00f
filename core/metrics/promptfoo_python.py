"""A promptfoo ``python`` assertion, run as reflectloop runs a Python metric.

``file://x.py[:function]`` (default ``get_assert``) is called
``function(output, context)`` as promptfoo calls it, in worker processes of
``core.metrics.pool`` (one pool per function, up to the run's concurrency):
one that raises, returns what promptfoo cannot read, crashes its process or
outlives ``timeout`` seconds errors its example with that cause, never a
score, and the run goes on; Ctrl+C abandons the wait at once.  The code run
is the source the session stored, written to the cache (``python_source``).

``context`` holds what promptfoo 0.123's holds where reflectloop has it:
``prompt`` (the prompt sent, its vars filled: the text of a lone user
message, else the messages as JSON), ``vars``, ``test`` (vars, assert,
options, metadata …), ``config`` (the assertion's), ``provider`` (``id``:
the model that answered, ``label``), ``providerResponse`` (``output``);
``logProbs`` is None (reflectloop asks for none).
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reflectloop.core.metrics.base import MetricError, Request
from reflectloop.core.metrics.pool import MetricCrashed, MetricPool, MetricTimeout
from reflectloop.core.metrics.python_source import materialise

DEFAULT_FUNCTION = "get_assert"


class Unscored(Exception):
    """An assertion that could not be graded: its example errors with this cause."""

    def __init__(self, message: str, *, call_failed: bool = False) -> None:
        super().__init__(message)
        self.call_failed = call_failed


def python_reference(value: str) -> tuple[str, str]:
    """(file, function) of a ``file://x.py[:function]`` value."""
    path, colon, function = value[len("file://") :].rpartition(":")
    if not colon or not path.endswith(".py"):
        path, function = value[len("file://") :], DEFAULT_FUNCTION
    return path, function


def prompt_text(messages: tuple) -> str:
    """The prompt as promptfoo's ``context.prompt`` has it: a lone user
    message's text, else the chat as JSON."""
    if len(messages) == 1 and messages[0].role == "user":
        return messages[0].content
    return json.dumps([{"role": m.role, "content": m.content} for m in messages], ensure_ascii=False)


def context(assertion: dict, test: dict, output: str, request: Request, labels: dict) -> dict:
    """promptfoo's ``context`` for one python assertion (plain values, sent to a worker)."""
    whole = {"options": {}, "metadata": {}, **copy.deepcopy(test)}
    config = assertion.get("config")
    return {
        "prompt": prompt_text(request.messages), "vars": dict(whole.get("vars", {})), "test": whole,
        "config": copy.deepcopy(config) if config is not None else None, "logProbs": None,
        "provider": {"id": request.model, "label": labels.get(request.model, "")},
        "providerResponse": {"output": output},
    }


@dataclass
class PythonAssertions:
    """The suite's python assertions' worker pools, started on first use."""

    sources: dict  # a python assertion's file, as written -> its source
    timeout: float
    workers: int = 0  # 0: one per CPU; the run sets its concurrency
    pools: dict = field(default_factory=dict)

    async def call(self, value: str, output: str, context: dict) -> Any:
        """What the function returned; Unscored with the cause otherwise."""
        pool = self._pool(value)
        try:
            outcome, returned = await pool.call(output, context, self.timeout)
        except MetricTimeout:
            raise Unscored(f"{value} timed out after {self.timeout:g} s; its process was stopped") from None
        except MetricCrashed as exc:
            raise Unscored(f"{value} failed: {exc}") from None
        if outcome == "raised":
            raise Unscored(f"{value} raised {returned}")
        return returned

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()

    def _pool(self, value: str) -> MetricPool:
        if value not in self.pools:
            path, function = python_reference(value)
            source = self.sources.get(path)
            if source is None:
                raise MetricError(f"the python assertion {value} has no stored source")
            copy_ = materialise(Path(path).name, source)
            self.pools[value] = MetricPool(f"{copy_.name}:{function}", str(copy_.parent),
                                           self.workers or os.cpu_count() or 1)
        return self.pools[value]
