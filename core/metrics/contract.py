"""The output contract: what the target model's reply must be, and how the
value a metric scores is read out of it.

``raw`` text, ``answer`` (today's ``{"answer": ...}`` line with the lenient
fallbacks of ``core.evaluation.scoring``), a ``label`` from a set, a ``json`` object
(optionally checked against a JSON schema) or a ``regex`` capture.  A reply
that breaks the contract is not passed to the metric: it scores the
contract's ``violation_score`` (default 0) with the violation as feedback.
``truncated`` (the reply was cut by max_tokens) marks a reply as not
following its contract where the cut can hide that (raw text, the answer line).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from reflectloop.core.metrics.base import MetricError, TaskExample, quote
from reflectloop.core.metrics.text import compile_pattern
from reflectloop.core.evaluation.scoring import PROTOCOLS, normalize, score_output


@dataclass(frozen=True)
class Parsed:
    value: Any  # text, or a dict for a JSON contract; None on a violation
    followed: bool  # kept to the contract exactly (not only through a lenient fallback)
    violation: str | None = None


def violated(reason: str) -> Parsed:
    return Parsed(None, False, reason)


class _Contract:
    violation_score: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.violation_score <= 1.0:
            raise MetricError(f"violation_score must be in [0, 1], got {self.violation_score!r}")


@dataclass(frozen=True)
class RawText(_Contract):
    kind: ClassVar[str] = "raw"
    violation_score: float = 0.0

    def parse(self, output: str, example: TaskExample, truncated: bool = False) -> Parsed:
        text = (output or "").strip()
        return Parsed(text, not truncated) if text else violated("the output is empty")

    def describe(self) -> str:
        return "free text"


@dataclass(frozen=True)
class AnswerLine(_Contract):
    """The study's tasks: a JSON ``{"answer": ...}``, else what the fallbacks
    find — read by ``core.evaluation.scoring`` itself, so the answer and its format
    following are today's; ``protocol = "study"`` reads as the study's code."""

    kind: ClassVar[str] = "answer"
    protocol: str = "reflectloop"
    violation_score: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.protocol not in PROTOCOLS:
            raise MetricError(f"unknown protocol {self.protocol!r} (known: {', '.join(PROTOCOLS)})")

    def parse(self, output: str, example: TaskExample, truncated: bool = False) -> Parsed:
        answer, _, followed = score_output(output, example.targets, protocol=self.protocol, truncated=truncated)
        return Parsed(answer, followed) if answer is not None else violated("no answer found in the output")

    def describe(self) -> str:
        return 'a final line of JSON like {"answer": "..."}'


@dataclass(frozen=True)
class LabelSet(_Contract):
    """One label of ``labels``: the whole reply (case, quotes and a final
    period aside), or with ``lenient`` the only label the reply names."""

    kind: ClassVar[str] = "label"
    labels: tuple[str, ...]
    lenient: bool = True
    violation_score: float = 0.0
    _words: tuple[re.Pattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.labels or any(not label.strip() for label in self.labels):
            raise MetricError("a label contract needs a non-empty list of non-empty labels")
        words = tuple(re.compile(rf"(?<!\w){re.escape(label.strip())}(?!\w)", re.IGNORECASE) for label in self.labels)
        object.__setattr__(self, "_words", words)

    def parse(self, output: str, example: TaskExample, truncated: bool = False) -> Parsed:
        whole = normalize(output or "")
        for label in self.labels:
            if whole == normalize(label):
                return Parsed(label, True)
        named = [label for label, word in zip(self.labels, self._words) if word.search(output or "")]
        if self.lenient and len(named) == 1:
            return Parsed(named[0], False)
        choices = ", ".join(self.labels)
        if len(named) > 1:
            return violated(f"the output names several labels ({', '.join(named)}); expected one of: {choices}")
        return violated(f"the output {quote(output or '', 40)} is not one of the labels: {choices}")

    def describe(self) -> str:
        return "exactly one of the labels: " + ", ".join(self.labels)


@dataclass(frozen=True)
class RegexCapture(_Contract):
    """The first match of ``pattern``; its value is the group named
    ``answer``, else group 1, else the whole match."""

    kind: ClassVar[str] = "regex"
    pattern: str
    ignore_case: bool = False
    violation_score: float = 0.0
    compiled: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "compiled", compile_pattern(self.pattern, self.ignore_case, "output contract"))

    def parse(self, output: str, example: TaskExample, truncated: bool = False) -> Parsed:
        match = self.compiled.search(output or "")
        if match is None:
            return violated(f"the output has no match of /{self.pattern}/")
        if "answer" in self.compiled.groupindex:
            value = match.group("answer")
        else:
            value = match.group(1) if self.compiled.groups else match.group(0)
        return Parsed((value or "").strip(), True)

    def describe(self) -> str:
        return f"text matching the regular expression /{self.pattern}/"


@dataclass(frozen=True)
class JsonObject(_Contract):
    """A JSON object: the whole reply, a fenced block, or the last object in
    the text; with ``schema`` it must also validate (``jsonschema``)."""

    kind: ClassVar[str] = "json"
    schema: dict | None = None
    schema_file: str = ""  # a JSON file, relative to the task file
    base_dir: str = ""  # the task file's folder; set by the task file
    violation_score: float = 0.0
    validator: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.schema is not None and self.schema_file:
            raise MetricError("give the output contract either schema or schema_file, not both")
        schema = self.schema if self.schema is not None else _read_schema(self.schema_file, self.base_dir)
        object.__setattr__(self, "validator", None if schema is None else make_validator(schema))

    def parse(self, output: str, example: TaskExample, truncated: bool = False) -> Parsed:
        obj, whole = find_object(output or "")
        if obj is None:
            return violated("the output holds no JSON object")
        if self.validator is not None:
            problem = schema_problem(self.validator, obj)
            if problem:
                return violated(f"the JSON object breaks the schema: {problem}")
        return Parsed(obj, whole)

    def describe(self) -> str:
        if self.validator is None:
            return "a JSON object"
        return "a JSON object matching this JSON schema: " + json.dumps(self.validator.schema, ensure_ascii=False)


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)\n\s*```", re.DOTALL | re.IGNORECASE)


def find_object(text: str) -> tuple[dict | None, bool]:
    """(the object, whether the reply was exactly that object)."""
    stripped = text.strip()
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return whole, True
    fenced = [b for b in _FENCE.findall(text) if isinstance(_loads(b), dict)]
    if fenced:
        return _loads(fenced[-1]), False
    return _last_object(text), False


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _last_object(text: str) -> dict | None:
    """The last top-level object: after one is read, the search goes on
    after its end, so an inner object is never taken for the answer."""
    decoder, found, pos = json.JSONDecoder(), None, text.find("{")
    while pos != -1:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except ValueError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(obj, dict):
            found = obj
        pos = text.find("{", end)
    return found


def _read_schema(name: str, base_dir: str) -> dict | None:
    if not name:
        return None
    path = Path(name).expanduser()
    path = path if path.is_absolute() else Path(base_dir or ".") / path
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetricError(f"schema_file {name!r} not found ({path})") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MetricError(f"schema_file {name!r} is not readable JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise MetricError(f"schema_file {name!r} must hold a JSON object")
    return schema


def make_validator(schema: dict) -> Any:
    try:
        import jsonschema
    except ImportError:
        raise MetricError(
            "a JSON schema in the output contract needs the 'jsonschema' package: pip install jsonschema"
        ) from None
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise MetricError(f"the output contract's JSON schema is not valid: {exc.message}") from None
    return cls(schema)


def schema_problem(validator: Any, obj: dict) -> str | None:
    """The first violation (by path, so the message is stable), or None."""
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return None
    where = "/".join(str(p) for p in errors[0].absolute_path)
    return f"at {where}: {errors[0].message}" if where else errors[0].message
