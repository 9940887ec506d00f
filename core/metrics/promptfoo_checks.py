"""promptfoo's deterministic assertions, each as promptfoo grades it: a
pass, a score in [0, 1] and a reason.  ``not-`` forms invert the pass (and
the score) as promptfoo does.  The values arrive with their ``{{var}}``
slots already filled from the test.
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from reflectloop.core.metrics.base import MetricError, quote
from reflectloop.core.metrics.contract import make_validator, schema_problem


@dataclass(frozen=True)
class Grade:
    """One assertion's result, as promptfoo's GradingResult has it."""

    passed: bool
    score: float
    reason: str


def binary(passed: bool, inverse: bool, reason: str) -> Grade:
    ok = passed != inverse
    return Grade(ok, 1.0 if ok else 0.0, "Assertion passed" if ok else reason)


def js_text(value: Any) -> str:
    """A value as JavaScript's String() writes it (1 not 1.0, true not True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def items(value: Any) -> list[str]:
    """A -any / -all value: a list, or a comma-separated string (quotes kept together)."""
    if isinstance(value, list):
        return [js_text(v) for v in value]
    row = next(csv.reader([js_text(value)], skipinitialspace=True), [])
    return [cell.strip() for cell in row if cell.strip()]


def equals(output: str, value: Any, inverse: bool) -> Grade:
    if isinstance(value, (dict, list)):
        try:
            same = json.loads(output) == value
        except ValueError:
            same = False
        return binary(same, inverse, f"Expected output to {'not ' if inverse else ''}equal {json.dumps(value)}")
    expected = js_text(value)
    return binary(output == expected, inverse,
                  f"Expected output {quote(output)} to {'not ' if inverse else ''}equal {quote(expected)}")


def contains(output: str, value: Any, inverse: bool, *, fold: bool, mode: str) -> Grade:
    """``mode``: "one" (contains), "any" or "all"; ``fold``: case-insensitive."""
    wanted = [js_text(value)] if mode == "one" else items(value)
    text = output.lower() if fold else output
    found = [w for w in wanted if (w.lower() if fold else w) in text]
    passed = bool(found) if mode in ("one", "any") else len(found) == len(wanted)
    what = {"one": "contain", "any": "contain one of", "all": "contain all of"}[mode]
    shown = quote(wanted[0]) if mode == "one" else ", ".join(map(quote, wanted))
    return binary(passed, inverse, f"Expected output to {'not ' if inverse else ''}{what} {shown}")


def starts_with(output: str, value: Any, inverse: bool) -> Grade:
    expected = js_text(value)
    return binary(output.startswith(expected), inverse,
                  f"Expected output to {'not ' if inverse else ''}start with {quote(expected)}")


def regex(output: str, value: Any, inverse: bool) -> Grade:
    pattern = compile_regex(js_text(value))
    return binary(pattern.search(output) is not None, inverse,
                  f"Expected output to {'not ' if inverse else ''}match regex {quote(pattern.pattern)}")


def compile_regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise MetricError(f"the regex {pattern!r} is not valid: {exc}") from None


def is_json(output: str, schema: dict | None, inverse: bool) -> Grade:
    try:
        found = [json.loads(output)]
    except ValueError:
        return binary(False, inverse, "Expected output to be valid JSON")
    return _json_grade(found, schema, inverse, "be valid JSON")


def contains_json(output: str, schema: dict | None, inverse: bool) -> Grade:
    found = json_values(output)
    if not found:
        return binary(False, inverse, "Expected output to contain valid JSON")
    return _json_grade(found, schema, inverse, "contain valid JSON")


def _json_grade(found: list, schema: dict | None, inverse: bool, what: str) -> Grade:
    if schema is None:
        return binary(True, inverse, f"Expected output to not {what}")
    validator = make_validator(schema)
    problems = [schema_problem(validator, value) for value in found]
    passed = any(p is None for p in problems)
    reason = f"JSON does not conform to the schema: {problems[-1]}" if not passed else f"Expected output to not {what}"
    return binary(passed, inverse, reason)


def json_values(text: str) -> list:
    """The objects in ``text`` as promptfoo finds them: from each ``{``, the
    shortest balanced span that parses (YAML flow style, so ``{a: 1}`` too;
    one cut off at the end is closed), the search going on after it."""
    found: list = []
    i = text.find("{")
    while i != -1:
        value, end = _object_at(text, i)
        if value is not None:
            found.append(value)
        i = text.find("{", end if value is not None else i + 1)
    return found


def _object_at(text: str, start: int) -> tuple[dict | None, int]:
    import yaml

    depth = 0
    for j in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0 or j == len(text) - 1:
            try:
                value = yaml.safe_load(text[start : j + 1] + "}" * max(depth, 0))
            except yaml.YAMLError:
                value = None
            if isinstance(value, dict):
                return value, j + 1
            if depth == 0:
                return None, j + 1
    return None, len(text)


def cosine(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b)) / norm if norm else 0.0


def similar(similarities: list[float], threshold: float, inverse: bool) -> Grade:
    """The output against each expected text: similar to any one of them (not-:
    to none), each similarity a cosine."""
    if inverse:
        closest = max(similarities)
        passed = closest < threshold
        return Grade(passed, 1.0 - closest, "Assertion passed" if passed
                     else f"Similarity {closest:.2f} is not below the threshold {threshold:g}")
    best = max(similarities)
    return Grade(best >= threshold, best, "Assertion passed" if best >= threshold
                 else f"Similarity {best:.2f} is below the threshold {threshold:g}")


def python_grade(returned: Any, threshold: float | None, inverse: bool) -> Grade:
    """What a Python assertion returned, read as promptfoo reads it: a bool,
    a number (passing above 0, or at its threshold), a GradingResult dict
    (``pass``, ``score``, ``reason``), or those as text."""
    if isinstance(returned, str):
        returned = _python_text(returned)
    if isinstance(returned, bool):
        return binary(returned, inverse, f"Python code returned {js_text(returned)}")
    if isinstance(returned, (int, float)):
        raw = returned >= threshold if threshold is not None else returned > 0
        ok = raw != inverse
        return Grade(ok, float(returned), "Assertion passed" if ok else f"Python code returned {js_text(raw)}")
    if isinstance(returned, dict):
        return _python_dict(returned, threshold, inverse)
    raise MetricError(f"a Python assertion must return a bool, a number or a dict with pass, score and reason; "
                      f"got {returned!r}")


def _python_text(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if text.strip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise MetricError(f"a Python assertion returned text that is not valid JSON: {exc}") from None
    try:
        return float(text)
    except ValueError:
        raise MetricError(f"a Python assertion returned {text!r}: not true, false, a number or JSON") from None


def _python_dict(result: dict, threshold: float | None, inverse: bool) -> Grade:
    if "pass" not in result and "pass_" not in result or "score" not in result:
        raise MetricError(f"a Python assertion's dict needs 'pass' and 'score' (and may give 'reason'): got {result!r}")
    passed = bool(result.get("pass", result.get("pass_")))
    score = result["score"]
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise MetricError(f"a Python assertion's score must be a number, got {score!r}")
    reason = str(result.get("reason", ""))
    if threshold is not None and score < threshold:
        passed, reason = False, f"Python score {js_text(score)} is less than threshold {js_text(threshold)}: {reason}"
    ok = passed != inverse
    if ok != passed:
        reason = "Assertion passed" if ok else f"Python code returned {js_text(passed)}"
    return Grade(ok, float(score), reason)
