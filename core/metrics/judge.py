"""An LLM judge: a third model role scores each output against a rubric,
pass/fail or on a 1-5 scale, and its reason becomes the feedback.

The judge is called through ``core.llm`` (``purpose="judge"``), so it is
cached, recorded and costed like every call.  A reply whose verdict cannot be
read errors the example: it is left out of the score, never scored 0, and
the reply is kept in ``MetricResult.raw`` for the person to see.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

from reflectloop.core.llm.base import ProviderError
from reflectloop.core.metrics.base import Aggregate, MetricError, MetricResult, TaskExample, as_text, mean_aggregate
from reflectloop.core.types import Message, Params

SCALES = ("pass_fail", "1-5")
MAX_REASON = 400

SYSTEM = (
    "You are a careful, strict evaluator. You judge one response against a rubric "
    "and reply exactly in the format you are asked for."
)
_REASON_FIRST = 'Reply with a line "Reason: " giving one or two sentences, then '
REPLY_FORMAT = {
    "pass_fail": _REASON_FIRST + 'a line "Verdict: PASS" or "Verdict: FAIL".',
    "1-5": _REASON_FIRST + 'a line "Score: N" where N is 1 (worst) to 5 (best).',
}
EXPECTED = {"pass_fail": 'a line "Verdict: PASS" or "Verdict: FAIL"', "1-5": 'a line "Score: N" with N from 1 to 5'}


@dataclass(frozen=True)
class Judge:
    kind: ClassVar[str] = "judge"
    needs_model: ClassVar[bool] = True
    rubric: str
    scale: str = "pass_fail"
    model: str = ""  # a model spec; the run's --judge overrides it
    max_tokens: int = 256
    show_target: bool = True  # show the gold answer, when there is one, as a reference
    llm: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise MetricError(f"judge: unknown scale {self.scale!r} (known: {', '.join(SCALES)})")
        if not self.rubric.strip():
            raise MetricError("judge: the rubric is empty")
        if self.max_tokens < 1:
            raise MetricError(f"judge: max_tokens must be at least 1 (got {self.max_tokens})")

    def with_model(self, llm) -> Judge:
        """This judge calling ``llm`` (a ``core.llm.LLM`` in the judge role)."""
        judge = dataclasses.replace(self)
        object.__setattr__(judge, "llm", llm)
        return judge

    def messages(self, example: TaskExample, value: Any) -> tuple[Message, ...]:
        parts = [f"## Rubric\n{self.rubric.strip()}", "## Input\n" + _fields(example)]
        if self.show_target and example.targets:
            parts.append("## Reference answer\n" + " | ".join(example.targets))
        parts += [f"## Response to judge\n{as_text(value)}", f"## Your reply\n{REPLY_FORMAT[self.scale]}"]
        return Message("system", SYSTEM), Message("user", "\n\n".join(parts))

    async def score(self, example: TaskExample, value: Any) -> MetricResult:
        if self.llm is None:
            raise MetricError("the judge metric has no model: pass --judge SPEC or set model in [metric]")
        params = Params(temperature=0.0, max_tokens=self.max_tokens)
        try:
            # A reply with no verdict is a failed result: never cached, so a resume asks the judge again.
            completion = await self.llm.complete(self.messages(example, value), params, purpose="judge",
                                                 keep=lambda c: verdict_result(c.text, self.scale).error is None)
        except ProviderError as exc:
            return MetricResult.errored(f"the judge call failed: {exc}", call_failed=True)
        return verdict_result(completion.text, self.scale)

    def aggregate(self, pairs: Sequence[tuple[TaskExample, MetricResult]]) -> Aggregate:
        return mean_aggregate([r for _, r in pairs])


def _fields(example: TaskExample) -> str:
    lines = []
    for name, value in example.fields.items():
        lines.append(f"{name}:\n{value}" if "\n" in value else f"{name}: {value}")
    return "\n".join(lines) or "(none)"


# ------------------------------------------------------------------ verdicts
class VerdictError(ValueError):
    """A judge reply with no readable verdict."""


_MARKDOWN = re.compile(r"[*_#`]+")
_VERDICT = re.compile(r"^\W*verdict\W*?[:=]?\s*(pass(?:ed)?|fail(?:ed)?)\b", re.IGNORECASE | re.MULTILINE)
_SCORE = re.compile(r"^\W*score\W*?[:=]\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*5\b|out of 5\b)?", re.IGNORECASE | re.MULTILINE)
_REASON = re.compile(
    r"^\W*reason(?:ing)?\W*?[:=]\s*(.+?)(?=^\W*(?:verdict|score)\W*?[:=]?|\Z)", re.IGNORECASE | re.MULTILINE | re.DOTALL
)


def verdict_result(reply: str, scale: str) -> MetricResult:
    try:
        score, reason = parse_verdict(reply, scale)
    except VerdictError as exc:
        return MetricResult.errored(f"the judge's verdict could not be parsed: {exc}", raw=reply)
    return MetricResult(score, reason, answer=None, raw=reply)


def parse_verdict(reply: str, scale: str) -> tuple[float, str]:
    """(score in [0, 1], reason).  A JSON object with ``verdict``/``score``
    and ``reason`` keys is read first, then ``Verdict:``/``Score:`` lines;
    the last verdict given wins, as a judge may revise itself."""
    text = _MARKDOWN.sub("", reply or "")
    found = _from_json(text, scale) or _from_lines(text, scale)
    if found is None:
        raise VerdictError(f"no verdict in the reply (expected {EXPECTED[scale]})")
    verdict, reason = found
    return _to_score(verdict, scale), _short(reason)


def _from_json(text: str, scale: str) -> tuple[str, str] | None:
    key = "verdict" if scale == "pass_fail" else "score"
    decoder, found = json.JSONDecoder(), None
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            obj, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(obj, dict) and key in obj:
            found = (str(obj[key]), str(obj.get("reason", "")))
    return found


def _from_lines(text: str, scale: str) -> tuple[str, str] | None:
    matches = (_VERDICT if scale == "pass_fail" else _SCORE).findall(text)
    if not matches:
        return None
    reasons = _REASON.findall(text)
    reason = reasons[-1] if reasons else (_VERDICT if scale == "pass_fail" else _SCORE).sub("", text)
    return matches[-1], reason


def _to_score(verdict: str, scale: str) -> float:
    word = verdict.strip().casefold()
    if scale == "pass_fail":
        if word.startswith("pass"):
            return 1.0
        if word.startswith("fail"):
            return 0.0
        raise VerdictError(f"verdict {verdict!r} is neither PASS nor FAIL")
    try:
        number = float(word)
    except ValueError:
        raise VerdictError(f"score {verdict!r} is not a number from 1 to 5") from None
    if not math.isfinite(number) or number != int(number) or not 1 <= number <= 5:
        raise VerdictError(f"score {verdict!r} is not a whole number from 1 to 5")
    return (number - 1) / 4


def _short(reason: str) -> str:
    reason = " ".join(reason.split())
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"
