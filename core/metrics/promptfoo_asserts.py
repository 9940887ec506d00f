"""A promptfoo suite's assertions as reflectloop's metric (kind ``promptfoo``).

Each example carries its test's assertions (``example.target["assert"]``,
``defaultTest``'s merged in by the loader); each is graded as promptfoo grades
it (``promptfoo_checks``), its ``{{var}}`` slots filled from the test's vars.
The example's score is promptfoo's: the weighted mean of the assertions'
scores (``weight`` defaults to 1; all weights 0 score 0).  The feedback lists
every assertion with its pass, score and reason, and whether promptfoo would
pass the test: every assertion passing, or with a test ``threshold`` the score
reaching it.

``python`` runs ``file://x.py[:function]`` as promptfoo calls it, in worker
processes with a timeout (``promptfoo_python``); the source is kept in the
metric's options so a session runs the copy it started with.  ``llm-rubric``
asks the judge model (``--judge``, else the assertion's ``provider``);
``similar`` compares embeddings (cosine, threshold 0.75 as promptfoo's) from
the assertion's own provider where it names one (its model made by the run,
``with_models``), else from the judge model.  An assertion that cannot run (a Python error or timeout, a
failed call) errors its example, which is left out of the score: never
graded 0, where promptfoo would fail the test with score 0 for it.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

from reflectloop.core.llm.base import ProviderError
from reflectloop.core.metrics import promptfoo_checks as checks
from reflectloop.core.metrics.base import (
    Aggregate, MetricError, MetricResult, Request, TaskExample, mean_aggregate, quote,
)
from reflectloop.core.metrics.judge import Judge
from reflectloop.core.metrics.nunjucks import parse, render
from reflectloop.core.metrics.promptfoo_python import PythonAssertions, Unscored, context
from reflectloop.core.metrics.python import DEFAULT_TIMEOUT

BASE_TYPES = (
    "equals", "contains", "icontains", "contains-any", "contains-all", "icontains-any", "icontains-all",
    "starts-with", "regex", "is-json", "contains-json", "python", "llm-rubric", "similar",
)
ALL_TYPES = BASE_TYPES + tuple(f"not-{t}" for t in BASE_TYPES)
# promptfoo's other assertion types, recognised so they are refused by name (never read as text).
OTHER_TYPES = (
    "javascript", "cost", "latency", "perplexity", "perplexity-score", "levenshtein", "rouge-n", "bleu", "gleu",
    "meteor", "is-xml", "contains-xml", "is-sql", "contains-sql", "is-html", "contains-html", "is-refusal",
    "is-valid-openai-tools-call", "is-valid-openai-function-call", "is-valid-function-call", "tool-call-f1",
    "trajectory", "model-graded-closedqa", "model-graded-factuality", "factuality", "answer-relevance",
    "context-faithfulness", "context-recall", "context-relevance", "g-eval", "select-best", "max-score",
    "moderation", "webhook", "classifier", "finish-reason", "assert-set", "human", "pi", "guardrails",
    "word-count", "ruby", "search-rubric", "conversation-relevance",
)
ASSERT_KEYS = ("type", "value", "weight", "threshold", "provider", "metric", "config")
NEEDS_VALUE = tuple(t for t in BASE_TYPES if t not in ("is-json", "contains-json"))
MODEL_TYPES = ("llm-rubric", "similar")
SIMILAR_THRESHOLD = 0.75  # promptfoo's default for similar


def grading_provider(assertion: dict, test: dict) -> Any:
    """The provider an llm-rubric or similar assertion grades with, as
    promptfoo picks it: its own, else its test's ``options.provider``; None: the judge's."""
    return assertion.get("provider") or (test.get("options") or {}).get("provider")


def provider_key(provider: Any) -> str:
    """A provider as written, as a key of the metric's ``embedders``."""
    return json.dumps(provider, sort_keys=True)


def supported() -> str:
    return ", ".join(ALL_TYPES)


def check_assertion(raw: Any, where: str) -> dict:
    """One assertion as written, checked: every problem a MetricError naming it."""
    if not isinstance(raw, dict):
        raise MetricError(f"{where}: an assertion is a mapping with a type, got {raw!r}")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise MetricError(f"{where}: an assertion has no type (supported: {supported()})")
    if kind not in ALL_TYPES:
        raise MetricError(f"{where}: the assertion type {kind!r} is not supported by reflectloop "
                        f"(supported: {supported()})")
    unknown = [k for k in raw if k not in ASSERT_KEYS]
    if unknown:
        raise MetricError(f"{where}: the {kind} assertion's key {unknown[0]!r} is not supported "
                        f"(supported: {', '.join(ASSERT_KEYS)})")
    base = kind.removeprefix("not-")
    if base in NEEDS_VALUE and raw.get("value") in (None, "", []):
        raise MetricError(f"{where}: the {kind} assertion needs a value")
    for key in ("weight", "threshold"):
        if key in raw and (isinstance(raw[key], bool) or not isinstance(raw[key], (int, float)) or raw[key] < 0):
            raise MetricError(f"{where}: the {kind} assertion's {key} must be a number, at least 0 (got {raw[key]!r})")
    if base == "python" and not str(raw["value"]).startswith("file://"):
        raise MetricError(f"{where}: a python assertion's value must be file://path.py (inline code is not supported)")
    if base == "regex":
        try:
            checks.compile_regex(str(raw["value"]))
        except MetricError as exc:
            raise MetricError(f"{where}: {exc}") from None
    for text in _strings(raw.get("value")):
        parse(text, f"{where}: the {kind} assertion's value")
    return {k: raw[k] for k in ASSERT_KEYS if k in raw}


@dataclass(frozen=True)
class PromptfooAsserts:
    kind: ClassVar[str] = "promptfoo"
    python: dict = field(default_factory=dict)  # a python assertion's file, as written -> its source
    model: str = ""  # the judge's model spec from an assertion's provider; --judge overrides it
    needs_model: bool = False  # an llm-rubric, or a similar with no provider of its own, is in the suite
    labels: dict = field(default_factory=dict)  # a mapped provider's spec -> its label in the suite
    embedders: dict = field(default_factory=dict)  # a similar assertion's own provider (key) -> spec, base_url
    timeout: float = DEFAULT_TIMEOUT  # seconds one python assertion may take
    base_dir: str = ""
    reads_request: ClassVar[bool] = True  # a python assertion's context has the prompt and the provider
    llm: Any = field(default=None, init=False, repr=False, compare=False)
    runner: PythonAssertions = field(init=False, repr=False, compare=False)
    clients: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # embedders' models

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise MetricError(f"timeout must be a positive number of seconds (got {self.timeout!r})")
        object.__setattr__(self, "runner", PythonAssertions(self.python, self.timeout))

    def with_model(self, llm) -> PromptfooAsserts:
        return self._copy(llm=llm)

    def with_workers(self, workers: int) -> PromptfooAsserts:
        """This metric running up to ``workers`` calls of each python assertion at once, in pools of its own."""
        return self._copy(runner=PythonAssertions(self.python, self.timeout, max(1, workers)))

    def with_models(self, make: Callable[[str, str | None], Any]) -> PromptfooAsserts:
        """This metric with a model for each similar assertion's own provider, ``make(spec, base_url)``."""
        return self._copy(clients={k: make(e["spec"], e["base_url"] or None) for k, e in self.embedders.items()})

    def models(self) -> list:
        """The models this metric made its own calls with (the run counts and closes them)."""
        return list(self.clients.values())

    def _copy(self, **runtime: Any) -> PromptfooAsserts:
        metric = dataclasses.replace(self)
        for name in ("llm", "runner", "clients"):
            object.__setattr__(metric, name, runtime.get(name, getattr(self, name)))
        return metric

    def close(self) -> None:
        """Stop the python assertions' worker processes (the run's close)."""
        self.runner.close()

    def aggregate(self, pairs: Sequence[tuple[TaskExample, MetricResult]]) -> Aggregate:
        return mean_aggregate([r for _, r in pairs])

    async def score(self, example: TaskExample, value: Any, request: Request = Request()) -> MetricResult:
        test = example.target if isinstance(example.target, dict) else {}
        output = value if isinstance(value, str) else checks.js_text(value)
        lines, total, weights, failed = [], 0.0, 0.0, False
        for number, assertion in enumerate(test.get("assert", ()), 1):
            try:
                grade = await self._grade(assertion, output, example, test, request)
            except Unscored as exc:
                return MetricResult.errored(f"assertion {number} ({assertion['type']}): {exc}",
                                            call_failed=exc.call_failed)
            weight = float(assertion.get("weight", 1))
            if weight == 0:  # promptfoo passes an assertion of weight 0, whatever it graded
                grade = dataclasses.replace(grade, passed=True)
            total, weights, failed = total + grade.score * weight, weights + weight, failed or not grade.passed
            lines.append(f"{'PASS' if grade.passed else 'FAIL'} {_label(assertion)} score {grade.score:g}"
                         f"{f' weight {weight:g}' if weight != 1 else ''}: {grade.reason}")
        score = total / weights if weights > 0 else 0.0
        passed = not failed
        if isinstance(test.get("threshold"), (int, float)):
            passed = score >= test["threshold"]
        head = f"promptfoo would {'pass' if passed else 'fail'} this test (score {score:.2f})"
        return MetricResult(score, "\n".join([head, *lines]))

    async def _grade(self, assertion: dict, output: str, example: TaskExample, test: dict,
                     request: Request) -> checks.Grade:
        kind = assertion["type"]
        inverse, base = kind.startswith("not-"), kind.removeprefix("not-")
        value = _filled(assertion.get("value"), example)
        if base == "equals":
            return checks.equals(output, value, inverse)
        if base in ("contains", "icontains", "contains-any", "contains-all", "icontains-any", "icontains-all"):
            mode = base.rpartition("-")[2] if "-" in base else "one"
            return checks.contains(output, value, inverse, fold=base.startswith("i"), mode=mode)
        if base == "starts-with":
            return checks.starts_with(output, value, inverse)
        if base == "regex":
            return checks.regex(output, value, inverse)
        if base in ("is-json", "contains-json"):
            grade = checks.is_json if base == "is-json" else checks.contains_json
            return grade(output, value if isinstance(value, dict) else None, inverse)
        if base == "python":
            returned = await self.runner.call(value, output, context(assertion, test, output, request, self.labels))
            try:
                return checks.python_grade(returned, assertion.get("threshold"), inverse)
            except MetricError as exc:
                raise Unscored(f"{value}: {exc}") from None
        if base == "llm-rubric":
            return await self._rubric(assertion, value, output, example, inverse)
        return await self._similar(assertion, value, output, inverse, grading_provider(assertion, test))

    async def _rubric(self, assertion, value, output, example, inverse) -> checks.Grade:
        judge = Judge(rubric=checks.js_text(value), show_target=False).with_model(self._model())
        result = await judge.score(example, output)
        if result.error is not None or result.score is None:
            raise Unscored(result.error or "the judge gave no score", call_failed=result.call_failed)
        threshold = assertion.get("threshold")
        raw = result.score >= threshold if threshold is not None else result.score >= 1.0
        ok = raw != inverse
        return checks.Grade(ok, result.score if not inverse else 1.0 - result.score, result.feedback)

    async def _similar(self, assertion, value, output, inverse, provider) -> checks.Grade:
        expected = [checks.js_text(v) for v in value] if isinstance(value, list) else [checks.js_text(value)]
        own = provider is not None and provider_key(provider) in self.embedders  # a session before them: the judge's
        model = self.clients.get(provider_key(provider)) if own else self._model()
        if model is None:
            raise MetricError(f"the similar assertion's provider {provider_key(provider)} has no model: "
                              "the run makes one for each such provider")
        try:
            vectors = await model.embed([*expected, output], purpose="judge")
        except ProviderError as exc:
            raise Unscored(f"the embeddings call failed: {exc}", call_failed=True) from None
        similarities = [checks.cosine(v, vectors[-1]) for v in vectors[:-1]]
        return checks.similar(similarities, float(assertion.get("threshold", SIMILAR_THRESHOLD)), inverse)

    def _model(self):
        if self.llm is None:
            raise MetricError("the suite's llm-rubric / similar assertions need a model: pass --judge SPEC "
                              "or give the assertion a provider")
        return self.llm


def _filled(value: Any, example: TaskExample) -> Any:
    """An assertion's value with its ``{{var}}`` slots filled from the test's vars."""
    fields = dict(example.fields)
    if isinstance(value, str):
        return render(value, fields, "an assertion's value")
    if isinstance(value, list):
        return [_filled(v, example) for v in value]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _label(assertion: dict) -> str:
    value = assertion.get("value")
    if value is None or isinstance(value, dict):
        return assertion["type"]
    return f"{assertion['type']} {quote(checks.js_text(value), 60)}"
