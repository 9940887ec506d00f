"""Metrics that compare output text with the gold strings: the study's
answer match on a whole reply, normalized exact match, contains, a regular
expression, and token-F1."""
from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from reflectloop.core.metrics.base import MetricError, MetricResult, SyncMetric, TaskExample, as_text, quote
from reflectloop.core.evaluation.scoring import PROTOCOLS, is_correct, score_output, study_correct
from reflectloop.core.types import Completion


def no_target(example: TaskExample) -> MetricResult:
    return MetricResult.errored(f"example {example.id!r} has no target to compare with")


def expected(example: TaskExample) -> str:
    """The gold answer for a feedback line: the first, and how many more."""
    more = len(example.targets) - 1
    return quote(example.targets[0]) + (f" (or {more} other accepted answers)" if more > 0 else "")


@dataclass(frozen=True)
class AnswerMatch(SyncMetric):
    """The study's tasks' scoring (``core.evaluation.scoring.score_output``): the answer
    read out of the whole reply (a ``Completion``, so a cut reply is known) as
    ``protocol`` reads it, compared with any accepted answer; 1 or 0, with no
    feedback, and the format following of that protocol."""

    kind: ClassVar[str] = "answer_match"
    protocol: str = "reflectloop"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise MetricError(f"unknown protocol {self.protocol!r} (known: {', '.join(PROTOCOLS)})")

    def measure(self, example: TaskExample, value: Any) -> MetricResult:
        reply: Completion = value
        answer, correct, followed = score_output(reply.text, example.targets, protocol=self.protocol,
                                                 truncated=reply.truncated)
        return MetricResult(float(correct), answer=answer, followed=followed)


@dataclass(frozen=True)
class ExactMatch(SyncMetric):
    """Today's scoring: normalized exact match against any accepted answer."""

    kind: ClassVar[str] = "exact"

    def correct(self, answer: str, targets: tuple[str, ...]) -> bool:
        return is_correct(answer, targets)

    def measure(self, example: TaskExample, value: Any) -> MetricResult:
        if not example.targets:
            return no_target(example)
        answer = as_text(value)
        if self.correct(answer, example.targets):
            return MetricResult(1.0, answer=answer)
        return MetricResult(0.0, f"expected {expected(example)}, got {quote(answer)}", answer=answer)


@dataclass(frozen=True)
class StudyMatch(ExactMatch):
    """The study code's comparison (``core.evaluation.scoring.study_correct``), for
    ``--protocol study``: the first line before a period, punctuation
    removed, compared word by word."""

    kind: ClassVar[str] = "study_exact"

    def correct(self, answer: str, targets: tuple[str, ...]) -> bool:
        return study_correct(answer, targets)


@dataclass(frozen=True)
class Contains(SyncMetric):
    """1 when the output contains any accepted answer."""

    kind: ClassVar[str] = "contains"
    case_sensitive: bool = False

    def measure(self, example: TaskExample, value: Any) -> MetricResult:
        if not example.targets:
            return no_target(example)
        text = self._fold(as_text(value))
        if any(self._fold(t) in text for t in example.targets):
            return MetricResult(1.0)
        return MetricResult(0.0, f"the output does not contain {expected(example)}")

    def _fold(self, text: str) -> str:
        text = " ".join(text.split())
        return text if self.case_sensitive else text.casefold()


@dataclass(frozen=True)
class RegexMatch(SyncMetric):
    """1 when the output matches ``pattern`` (searched, or the whole output
    with ``fullmatch``); needs no gold answer."""

    kind: ClassVar[str] = "regex"
    pattern: str
    ignore_case: bool = False
    fullmatch: bool = False
    compiled: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", compile_pattern(self.pattern, self.ignore_case, "metric"))

    def measure(self, example: TaskExample, value: Any) -> MetricResult:
        text = as_text(value).strip()
        match = self.compiled.fullmatch(text) if self.fullmatch else self.compiled.search(text)
        if match:
            return MetricResult(1.0, answer=match.group(0))
        how = "match" if self.fullmatch else "contain a match of"
        return MetricResult(0.0, f"the output does not {how} /{self.pattern}/")


def compile_pattern(pattern: str, ignore_case: bool, who: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise MetricError(f"{who} pattern {pattern!r} is not a valid regular expression: {exc}") from None


# ----------------------------------------------------------------- token F1
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def tokens(text: str) -> list[str]:
    """SQuAD's normalization: lower case, no punctuation, no articles."""
    text = _ARTICLES.sub(" ", str(text).casefold().translate(_PUNCTUATION))
    return text.split()


def token_f1(predicted: list[str], gold: list[str]) -> float:
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class TokenF1(SyncMetric):
    """The best token-F1 against any accepted answer; the feedback names the
    gold words the output missed and the words it added."""

    kind: ClassVar[str] = "token_f1"

    def measure(self, example: TaskExample, value: Any) -> MetricResult:
        if not example.targets:
            return no_target(example)
        predicted = tokens(as_text(value))
        score, gold = max((token_f1(predicted, tokens(t)), tokens(t)) for t in example.targets)
        if score == 1.0:
            return MetricResult(1.0)
        return MetricResult(score, _word_feedback(predicted, gold, score))


def _word_feedback(predicted: list[str], gold: list[str], score: float) -> str:
    missing = list((Counter(gold) - Counter(predicted)).elements())
    extra = list((Counter(predicted) - Counter(gold)).elements())
    parts = [f"token F1 {score:.2f}"]
    if missing:
        parts.append("missing: " + ", ".join(dict.fromkeys(missing[:8])))
    if extra:
        parts.append("extra: " + ", ".join(dict.fromkeys(extra[:8])))
    return "; ".join(parts)
