"""What every metric shares: the example it sees, the result it returns, the
summary over a prompt's examples, and the checks of its options.

A metric is a dataclass whose fields are its options, so a task file's
``[metric]`` table maps onto it one key per field and an unknown key can be
refused with the known ones listed.
"""
from __future__ import annotations

import dataclasses
import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


class MetricError(ValueError):
    """A metric or output contract that cannot be built or used as
    configured; the message names the option, the file and the problem.
    A ValueError, so every entry point reports it as bad input."""


@dataclass(frozen=True)
class TaskExample:
    """One example as a metric (and a template) sees it.

    ``targets`` are the accepted gold strings (empty when the task has no
    gold answer, e.g. free text judged by a rubric); ``target`` is the target
    as the data wrote it: a string, a list of strings or a JSON object."""

    id: str
    fields: Mapping[str, str]
    targets: tuple[str, ...] = ()
    target: Any = None
    split: str | None = None  # "ini" | "dev" | "test" when the data says

    # Read like a mapping too (a metric written as ``example["target"]``): an
    # input field by its name, else ``target``, ``targets``, ``id``, ``split``.
    _OWN = ("target", "targets", "id", "split")

    def __getitem__(self, key: str) -> Any:
        if key in self.fields:
            return self.fields[key]
        if key in self._OWN:
            return getattr(self, key)
        raise KeyError(f"{key!r}: the example has the fields {', '.join(map(repr, self.fields)) or 'none'} "
                       f"and {', '.join(map(repr, self._OWN))}")

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        return [*self.fields, *(k for k in self._OWN if k not in self.fields)]

    def __contains__(self, key: object) -> bool:
        return key in self.fields or key in self._OWN

    def plain(self) -> TaskExample:
        """A copy made of plain values (a dict of fields), for another process."""
        return TaskExample(self.id, dict(self.fields), tuple(self.targets), self.target, self.split)

    @classmethod
    def from_example(cls, example: Any) -> TaskExample:
        """A loop ``core.types.Example`` as a metric sees it: a task file's
        fields and target, else the one field ``input`` and the gold list."""
        fields = example.fields or {"input": example.input}
        target = example.target if example.target is not None else list(example.targets)
        return cls(example.id, fields, example.targets, target)


@dataclass(frozen=True)
class Request:
    """What produced an output: the messages sent (``core.types.Message``)
    and the spec of the model that answered.  Handed only to a metric that
    reads it (``reads_request``): a promptfoo python assertion's ``prompt``
    and ``provider``."""

    messages: tuple = ()
    model: str = ""


@dataclass(frozen=True)
class MetricResult:
    """The score of one output, in [0, 1], and why.

    ``error`` set means the example could not be scored (a metric function
    that raised, a judge verdict that could not be parsed): ``score`` is then
    None and the example is left out of the prompt's score, never counted
    as 0.  ``answer`` is what the metric compared (the predicted label, the
    extracted number), ``raw`` a judge's full reply."""

    score: float | None
    feedback: str = ""
    answer: str | None = None
    followed: bool = True  # the output kept to the output contract
    error: str | None = None
    raw: str = ""
    # The error is a call that failed for good (a judge's endpoint), which
    # another attempt may get through, not the metric failing on the output.
    call_failed: bool = False

    @classmethod
    def errored(cls, error: str, *, raw: str = "", answer: str | None = None, call_failed: bool = False) -> MetricResult:
        return cls(None, error=error, raw=raw, answer=answer, call_failed=call_failed)


@dataclass(frozen=True)
class Aggregate:
    """A prompt's score over its scored examples, with the metric's other
    statistics (e.g. accuracy beside macro-F1); None when no example was scored."""

    score: float | None
    scored: int
    errored: int
    stats: Mapping[str, float | None] = field(default_factory=dict)


def check_score(value: float, who: str) -> float:
    """``value`` as a float in [0, 1], else MetricError naming ``who``."""
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)) or isinstance(value, complex):
        raise MetricError(f"{who} returned {value!r}: expected a number in [0, 1]")
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise MetricError(f"{who} returned {value!r}: a score must be in [0, 1]")
    return number


def checked(result: MetricResult, who: str) -> MetricResult:
    """``result`` if its score is a number in [0, 1] (or it is errored); else
    the example errored with the cause: a score out of range, NaN or not a
    number is never clipped, rounded or counted."""
    if result.error is not None:
        return result
    if result.score is None:
        return MetricResult.errored(f"{who} returned no score", raw=result.raw, answer=result.answer)
    try:
        return dataclasses.replace(result, score=check_score(result.score, who))
    except MetricError as exc:
        return MetricResult.errored(str(exc), raw=result.raw, answer=result.answer)


def mean_aggregate(results: Sequence[MetricResult]) -> Aggregate:
    """The mean over the scored examples; none scored: no score, never 0."""
    scores = [r.score for r in results if r.error is None and r.score is not None]
    mean = sum(scores) / len(scores) if scores else None
    return Aggregate(mean, len(scores), len(results) - len(scores), {"mean": mean})


# ------------------------------------------------------------------ options
def build_options(cls: type, table: Mapping[str, Any], where: str, *, injected: Mapping[str, Any] | None = None) -> Any:
    """``cls(**table)`` after checking every key is one of its init fields
    and each value has the field's simple type (str, bool, number, list).
    ``injected`` options are set by the caller, never read from the table;
    those the class lacks are dropped."""
    injected = injected or {}
    known = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in injected}
    unknown = [k for k in table if k not in known]
    if unknown:
        raise MetricError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known)) or 'none'})"
        )
    missing = [n for n, f in known.items() if _required(f) and n not in table]
    if missing:
        raise MetricError(f"{where}: missing key {missing[0]!r}")
    values = {name: _typed(value, known[name], f"{where}: {name!r}") for name, value in table.items()}
    extra = {k: v for k, v in injected.items() if any(f.name == k for f in dataclasses.fields(cls))}
    try:
        return cls(**values, **extra)
    except MetricError as exc:
        raise MetricError(f"{where}: {exc}") from None


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


_SIMPLE: dict[str, Any] = {"str": str, "bool": bool, "float": (int, float), "int": int, "dict": dict}


def _typed(value: Any, f: dataclasses.Field, where: str) -> Any:
    """Check against the annotation's first simple type name; lists become
    tuples so the dataclasses stay hashable."""
    annotation = str(f.type)
    if annotation.startswith("tuple"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise MetricError(f"{where} must be a list of strings")
        return tuple(value)
    name = annotation.split("|")[0].strip()
    expected = _SIMPLE.get(name)
    if expected is None:
        return value
    wrong_bool = isinstance(value, bool) and name != "bool"
    if wrong_bool or not isinstance(value, expected):
        raise MetricError(f"{where} must be a {_TYPE_WORDS[name]}, got {value!r}")
    return float(value) if name == "float" else value


_TYPE_WORDS = {
    "str": "string", "bool": "boolean (true or false)", "float": "number", "int": "whole number", "dict": "table",
}


# ------------------------------------------------------------ sync metrics
class SyncMetric(ABC):
    """Base of the metrics that need no model: ``measure`` is the whole job;
    ``score`` gives them the async interface the judge needs."""

    needs_model = False

    @abstractmethod
    def measure(self, example: TaskExample, value: Any) -> MetricResult:
        """The score (and feedback) of one output."""

    async def score(self, example: TaskExample, value: Any) -> MetricResult:
        return self.measure(example, value)

    def aggregate(self, pairs: Sequence[tuple[TaskExample, MetricResult]]) -> Aggregate:
        return mean_aggregate([r for _, r in pairs])


def as_text(value: Any) -> str:
    """An output value as text: a JSON object (from a JSON contract) in its
    canonical form, so text metrics still compare it deterministically."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def quote(text: str, limit: int = 80) -> str:
    """A value for a feedback line, cut so feedback stays short."""
    text = " ".join(str(text).split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
