"""Plain data passed between the layers of reflectloop.

Everything here is a dataclass with no behaviour beyond small helpers, so the
loop, the store, the CLI and the TUI can exchange it freely.  ``core`` never
imports ``sessions`` or ``tui``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]


# --------------------------------------------------------------------- models
@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Params:
    """Sampling parameters of one call.  ``sample`` is the index of a sample
    drawn with otherwise identical inputs: it is part of the cache key, so n
    samples are n cached calls and a re-run replays all of them."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int | None = None  # None: as many as the provider allows
    sample: int = 0
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False  # True when counted with tiktoken, not reported by the provider


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    latency: float  # seconds, of the successful attempt (0.0 when cached)
    cached: bool
    model: str  # the spec string of the model that answered
    # Why generation ended, in OpenAI's words: "stop" (the model finished or
    # hit a stop string), "length" (cut by max_tokens or the context), or
    # what the provider said otherwise; None when the provider did not say.
    finish_reason: str | None = None

    @property
    def truncated(self) -> bool:
        """The text was cut by a token limit, not ended by the model."""
        return self.finish_reason == "length"


@dataclass(frozen=True)
class CallRecord:
    """One call (or one failed attempt) as the session records it."""

    model: str
    role: str  # "target" | "optimizer" | other purpose label
    purpose: str  # e.g. "evaluate", "reflect", "refine", "init", "demonstrate"
    messages: tuple[Message, ...]
    params: Params
    text: str | None  # None for a failed attempt and for embeddings (their texts are the messages)
    usage: Usage | None
    latency: float
    cached: bool
    attempt: int  # 1-based attempt number
    error: str | None = None  # cause of a failed attempt
    cost: float = 0.0
    at: float = field(default_factory=time.time)
    finish_reason: str | None = None  # as in Completion; None for failures and old sessions

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


# ---------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Example:
    id: str
    input: str
    targets: tuple[str, ...]  # every accepted gold string


@dataclass(frozen=True)
class Task:
    name: str  # the spec string, e.g. "gen:navigate"
    description: str
    ini: tuple[Example, ...]
    dev: tuple[Example, ...]
    test: tuple[Example, ...]
    initial_prompts: tuple[str, ...] = ()  # given initial prompts, when the source has them
    answer_hint: str = ""  # e.g. 'A letter, "A" or "B"' — how answers look


# -------------------------------------------------------------------- prompts
@dataclass(frozen=True)
class Prompt:
    id: str
    instruction: str
    demonstration: str | None = None  # ABO: a worked example of following the instruction
    parent_id: str | None = None
    step: int = 0
    origin: str = "init"  # "init" | "given" | "llm" | "human" | "edited"
    feedback_ids: tuple[str, ...] = ()  # the feedback proposals it was refined from


@dataclass(frozen=True)
class ExampleResult:
    example_id: str
    output: str
    answer: str | None
    correct: bool
    followed_format: bool
    errored: str | None = None  # cause, when the call failed for good (not "wrong")


@dataclass(frozen=True)
class Evaluation:
    prompt_id: str
    split: Literal["dev", "test"]
    results: tuple[ExampleResult, ...]

    @property
    def scored(self) -> tuple[ExampleResult, ...]:
        return tuple(r for r in self.results if r.errored is None)

    @property
    def score(self) -> float:
        scored = self.scored
        return sum(r.correct for r in scored) / len(scored) if scored else 0.0

    @property
    def errors(self) -> tuple[ExampleResult, ...]:
        return tuple(r for r in self.scored if not r.correct)


# ------------------------------------------------------------------- review
ProposalKind = Literal["feedback", "candidate", "demonstration"]
DecisionKind = Literal["accept", "edit", "reject", "add"]


@dataclass(frozen=True)
class ErrorCase:
    """One error shown to the optimizer (and to the person)."""

    example_id: str
    input: str
    gold: tuple[str, ...]
    output: str
    answer: str | None


@dataclass(frozen=True)
class Proposal:
    """Something the optimizer proposed that a reviewer decides on.

    ``id`` is deterministic (step, parent, kind, index), so a resumed step
    re-proposes the same ids and recorded decisions can be replayed."""

    id: str
    step: int
    kind: ProposalKind
    parent_id: str
    text: str
    errors: tuple[ErrorCase, ...] = ()  # the error set it answers
    raw: str = ""  # the optimizer's full output it was parsed from
    parse_error: str | None = None  # set when the output could not be parsed
    author: str = "llm"  # "llm" | "human"
    for_candidate: str | None = None  # demonstrations: the candidate prompt id
    truncated: bool = False  # the optimizer's output was cut by max_tokens (finish reason "length")


@dataclass(frozen=True)
class Decision:
    proposal_id: str
    kind: DecisionKind
    text: str | None = None  # the edited or added text
    by: str = "auto"  # "auto" | "human" | "script"
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class StepRecord:
    step: int
    beam: tuple[str, ...]  # prompt ids kept
    dev_scores: dict[str, float]  # every prompt evaluated this step → dev score
    best_id: str
    dev_best: float
    test: float | None
    tokens: int
    calls: int
    cost: float = 0.0
    notes: tuple[str, ...] = ()  # e.g. "no errors left on dev: beam kept"
