"""What calls cost, and the budget that stops a run when it is spent.

Prices are list prices in USD per million tokens (input, output) for
standard, non-batch, non-cached use.  A snapshot of a listed model
(``gpt-4o-2024-08-06``, ``claude-3-5-sonnet-20241022``, ``-latest``) costs
what the listed model costs, so the table need not list every snapshot; any
other name is unknown rather than guessed (``claude-opus-4-6`` is not
``claude-opus-4``, ``gpt-5.1`` is not ``gpt-5``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from reflectloop.core.llm.base import BudgetExceeded
from reflectloop.core.types import Usage


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M prompt tokens
    output: float  # USD per 1M completion tokens
    known: bool = True  # False: a hosted model missing from the table, priced at 0


FREE = Price(0.0, 0.0)
UNKNOWN = Price(0.0, 0.0, known=False)

_OPENAI = {
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "gpt-4": Price(30.00, 60.00),
    "gpt-4-32k": Price(60.00, 120.00),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4-1106-preview": Price(10.00, 30.00),
    "gpt-4-0125-preview": Price(10.00, 30.00),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-2024-05-13": Price(5.00, 15.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.5-preview": Price(75.00, 150.00),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "o1": Price(15.00, 60.00),
    "o1-mini": Price(1.10, 4.40),
    "o3": Price(2.00, 8.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    # embedding models: input tokens only
    "text-embedding-3-small": Price(0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.0),
    "text-embedding-ada-002": Price(0.10, 0.0),
}

_ANTHROPIC = {
    "claude-3-haiku": Price(0.25, 1.25),
    "claude-3-sonnet": Price(3.00, 15.00),
    "claude-3-opus": Price(15.00, 75.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-opus-4": Price(15.00, 75.00),
    "claude-opus-4-1": Price(15.00, 75.00),
    "claude-opus-4-5": Price(5.00, 25.00),
}

_TABLES = {"openai": _OPENAI, "anthropic": _ANTHROPIC}

# Dates (2024-08-06, 20241022), four-digit snapshots (0613) and aliases.
_SNAPSHOT = re.compile(r"(-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest|preview))+")


def price(spec: str) -> Price:
    """The price of a model spec: local models are free, unlisted hosted
    models are priced at 0 but flagged ``known=False``."""
    provider, _, model = spec.partition(":")
    if provider == "local":
        return FREE
    listed = listed_name(_TABLES.get(provider, {}), model)
    return _TABLES[provider][listed] if listed is not None else UNKNOWN


def listed_name(table: Mapping[str, object], model: str) -> str | None:
    """The entry of ``table`` that ``model`` is, or is a snapshot of; None if none."""
    if model in table:
        return model
    matches = [name for name in table if model.startswith(name) and _SNAPSHOT.fullmatch(model[len(name):])]
    return max(matches, key=len) if matches else None


def cost(spec: str, usage: Usage) -> float:
    p = price(spec)
    return (usage.prompt_tokens * p.input + usage.completion_tokens * p.output) / 1_000_000


@dataclass
class Budget:
    """Limits on a run's spending, shared by all its models.  ``None`` means
    no limit.  Calls already in flight when the limit is reached still
    complete, so a run may overshoot by at most its concurrent calls."""

    max_cost: float | None = None
    max_tokens: int | None = None
    spent_cost: float = 0.0
    spent_tokens: int = 0

    def __post_init__(self) -> None:
        for name in ("max_cost", "max_tokens"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"a budget's {name} must not be negative, got {value}")

    def charge(self, cost: float, tokens: int) -> None:
        self.spent_cost += cost
        self.spent_tokens += tokens

    @property
    def exceeded(self) -> bool:
        return self._reason() is not None

    def check(self) -> None:
        reason = self._reason()
        if reason is not None:
            raise BudgetExceeded(reason)

    def _reason(self) -> str | None:
        if self.max_cost is not None and self.spent_cost >= self.max_cost:
            return f"budget spent: ${self.spent_cost:.4f} of ${self.max_cost:.4f}"
        if self.max_tokens is not None and self.spent_tokens >= self.max_tokens:
            return f"budget spent: {self.spent_tokens} of {self.max_tokens} tokens"
        return None


@dataclass
class Meter:
    """What the calls made within one context spent (``metering``): the loop
    meters the next step's read-ahead apart from the step it runs in."""

    calls: int = 0
    tokens: int = 0
    cost: float = 0.0

    def charge(self, cost: float, tokens: int) -> None:
        self.calls += 1
        self.tokens += tokens
        self.cost += cost

    def totals(self) -> tuple[int, int, float]:
        """(tokens, calls, cost), the order of a step's usage."""
        return self.tokens, self.calls, self.cost


# The meter of the running context; a task started in a context that set one
# charges it too (``asyncio`` copies the context into every task it starts).
metering: ContextVar[Meter | None] = ContextVar("reflectloop_meter", default=None)
