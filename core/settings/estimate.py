"""What one step of a run will ask of its models, before it starts: calls,
tokens and, for priced models, cost, per role.

Calls follow from the configuration and the method, which counts its own
calls per step (``Method.step_calls``: errors, samples, candidates per
parent; whether it reflects, writes analysis and revision in one call, or
writes demonstrations).  Tokens are the calls times a typical
request and answer: the answer caps when set (so an upper bound), else a
typical answer length.  Dev evaluations are counted once per new prompt, as
the loop keeps them; the test set is counted every step (an upper bound: a
best prompt that stays the best is not tested again).  A task file's judge
is not counted.
"""
from __future__ import annotations

from dataclasses import dataclass

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.llm.pricing import cost, price
from reflectloop.core.methods import method_class
from reflectloop.core.types import Usage

# Typical lengths in tokens, from the embedded default's requests: a target
# request is the prompt plus one input and the answer line; an optimizer
# request is a meta-prompt with the prompt and a few errors.
TARGET_REQUEST = 180
TARGET_ANSWER = 100
OPTIMIZER_REQUEST = 600
OPTIMIZER_ANSWER = 300


@dataclass(frozen=True)
class RoleEstimate:
    role: str  # "target" | "optimizer"
    spec: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # None: a hosted model the price table does not list

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class StepEstimate:
    step: int
    roles: tuple[RoleEstimate, ...]

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.roles)

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.roles)

    @property
    def cost(self) -> float | None:
        costs = [r.cost for r in self.roles]
        return None if None in costs else sum(c for c in costs if c is not None)

    @property
    def priced(self) -> bool:
        """Some model costs money (a local model is free)."""
        return any(r.cost is None or r.cost > 0 for r in self.roles)


def optimizer_calls(config: RunConfig, step: int) -> int:
    if step == 0:
        return 0 if config.initial_prompts else config.init_prompts
    return method_class(config.method).step_calls(config).optimizer


def target_calls(config: RunConfig, step: int) -> int:
    if step == 0:
        return config.init_prompts * config.dev_size + config.test_size
    return method_class(config.method).step_calls(config).target + config.test_size


def optimizer_choices(config: RunConfig, step: int) -> int:
    """Answers per optimizer call: a request's n under released sampling (each answer is generated, and billed)."""
    return 1 if step == 0 else method_class(config.method).step_calls(config).choices


def _role(role: str, spec: str, calls: int, request: int, answer: int, choices: int = 1) -> RoleEstimate:
    usage = Usage(calls * request, calls * choices * answer)
    spent = cost(spec, usage) if price(spec).known else None
    return RoleEstimate(role, spec, calls, usage.prompt_tokens, usage.completion_tokens, spent)


def estimate_step(config: RunConfig, step: int = 1) -> StepEstimate:
    """One step's calls, tokens and cost; step 0 writes and scores the initial prompts."""
    return StepEstimate(step, (
        _role("target", config.target, target_calls(config, step), TARGET_REQUEST,
              config.target_max_tokens or TARGET_ANSWER),
        _role("optimizer", config.optimizer_spec, optimizer_calls(config, step), OPTIMIZER_REQUEST,
              config.optimizer_max_tokens or OPTIMIZER_ANSWER, optimizer_choices(config, step)),
    ))


def headline(estimate: StepEstimate) -> str:
    return (f"step {estimate.step}: about {estimate.calls:,} calls, {estimate.tokens:,} tokens"
            + _cost_text(estimate))


def describe(estimate: StepEstimate) -> str:
    """The headline, then one line per role, for the start screen."""
    lines = [headline(estimate)]
    lines += [f"  {r.role} {r.spec}: {r.calls:,} calls, {r.tokens:,} tokens" for r in estimate.roles]
    return "\n".join(lines)


def _cost_text(estimate: StepEstimate) -> str:
    if not estimate.priced:
        return ", free (local models)"
    total = estimate.cost
    return ", cost unknown (a model missing from the price table)" if total is None else f", about ${total:.4f}"
