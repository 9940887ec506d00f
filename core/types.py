"""Plain data passed between the layers of reflectloop.

Everything here is a dataclass with no behaviour beyond small helpers, so the
loop, the store, the CLI and the TUI can exchange it freely.  ``core`` never
imports ``sessions`` or ``tui``.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Sequence

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
    # Choices asked of one request (the API's ``n``): a provider without it
    # draws them as separate requests (``core.llm.client.LLM.choices``).
    n: int = 1


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
    # Every choice's text of a request that asked for n > 1 (``text`` is the first); empty otherwise.
    choices: tuple[str, ...] = ()

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


# ---------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Example:
    id: str
    input: str
    targets: tuple[str, ...]  # every accepted gold string
    # A task file's example: its named input fields (``input`` is then their
    # rendering for the person) and the target as the data wrote it (a string,
    # a list or a JSON object).  Empty for the study's one-input tasks.
    fields: dict[str, str] = field(default_factory=dict, hash=False)
    target: Any = field(default=None, hash=False)


class TaskScorer(Protocol):
    """How a task puts one example to the target and scores the reply: the
    study's request and exact match (``core.metrics.task.EXACT_MATCH``, per
    the run's protocol), or a task file's message template, output contract
    and metric (``core.metrics.task.FileScorer``).  Every task carries one."""

    def messages(self, prompt: Prompt, example: Example, protocol: str) -> tuple[Message, ...]: ...

    async def score(self, example: Example, completion: Completion, protocol: str,
                    messages: tuple[Message, ...] = ()) -> ExampleResult:
        """The reply scored; ``messages``: what was sent for it."""
        ...

    def aggregate(self, examples: Sequence[Example], results: Sequence[ExampleResult]) -> float | None:
        """The prompt's score when it is not the mean of its examples' (label macro-F1); None: the mean."""
        ...


@dataclass(frozen=True)
class Task:
    name: str  # the spec string, e.g. "gen:navigate"
    description: str
    ini: tuple[Example, ...]
    dev: tuple[Example, ...]
    test: tuple[Example, ...]
    initial_prompts: tuple[str, ...] = ()  # given initial prompts, when the source has them
    answer_hint: str = ""  # e.g. 'A letter, "A" or "B"' — how answers look
    # A task file (``core.tasks.taskfile.TaskSpec``), whose template and scorer
    # are ``scorer``; None for every other task.
    taskfile: Any = field(default=None, compare=False, repr=False)
    scorer: TaskScorer = field(kw_only=True, compare=False, repr=False)


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
    errored: str | None = None  # cause, when the call (or a judge's verdict) failed for good (not "wrong")
    # Where an errored example failed: "call" (the target's or the judge's call
    # failed for good: another attempt may succeed) or "metric" (the metric or
    # the judge's verdict could not score the output).  None when not errored
    # and in sessions written before it was recorded.
    failed_in: str | None = None
    # A task file's metric: the graded score in [0, 1] and its feedback text;
    # ``correct`` then means "not an error" (the score reached the threshold).
    # None for exact match, whose score is ``correct``.
    score: float | None = None
    feedback: str = ""

    @property
    def value(self) -> float:
        """The example's score: the graded one when there is one, else 1 or 0."""
        return self.score if self.score is not None else float(self.correct)


@dataclass(frozen=True)
class Evaluation:
    prompt_id: str
    split: Literal["dev", "test"]
    results: tuple[ExampleResult, ...]
    # The metric's own score of the prompt when it is not the mean of the
    # examples' scores (label macro-F1); None: the mean.
    aggregate: float | None = None
    # Adaptive evaluation dropped the prompt before it saw the whole dev set:
    # its score is over ``results`` only, not comparable with a full one.
    partial: bool = False

    @property
    def scored(self) -> tuple[ExampleResult, ...]:
        return tuple(r for r in self.results if r.errored is None)

    @property
    def score(self) -> float | None:
        """The prompt's score over its scored examples; None when no example
        was scored (every one errored): what was not measured has no number."""
        scored = self.scored
        if not scored:
            return None
        if self.aggregate is not None:
            return self.aggregate
        return sum(r.value for r in scored) / len(scored)

    @property
    def errored(self) -> tuple[ExampleResult, ...]:
        """The examples that could not be scored, each with its cause."""
        return tuple(r for r in self.results if r.errored is not None)

    @property
    def errors(self) -> tuple[ExampleResult, ...]:
        return tuple(r for r in self.scored if not r.correct)


# ------------------------------------------------------------------- review
ProposalKind = Literal["feedback", "candidate", "demonstration"]
# "undo" withdraws the annotator's standing decision on the proposal (see sessions/decisions.py)
DecisionKind = Literal["accept", "edit", "reject", "add", "undo"]


@dataclass(frozen=True)
class ErrorCase:
    """One error shown to the optimizer (and to the person)."""

    example_id: str
    input: str
    gold: tuple[str, ...]
    output: str
    answer: str | None
    # A task file's error: its input fields, its graded score and the metric's
    # feedback, shown to the optimizer; empty/None for exact match.
    fields: dict[str, str] = field(default_factory=dict, hash=False)
    score: float | None = None
    feedback: str = ""


_ID = re.compile(r"s(\d+)/(.+)/(feedback|candidate|demonstration)/([^/@]*?)(h?)(?:@(.+)|(\d+))", re.DOTALL)


@dataclass(frozen=True)
class ProposalId:
    """A proposal's id, ``s<step>/<parent>/<kind>/<tag><index>``: built from
    its parts, so a resumed step re-proposes the same ids.  Sessions keep it
    as this string; ``ProposalId.parse`` reads it back, ``str`` writes it.

    ``parent`` is the prompt the proposal answers ("task" for the initial
    prompts; a demonstration's candidate), a prompt id that may hold "/".
    ``tag`` keeps the groups of one parent, kind and step apart: "" (the
    LLM's), "hf" (candidates refined from a person's feedback), GEPA's
    iteration "i3.", or both ("i3.hf").  A person's own text is ``human``
    ("h" before the index, ``…/hfh0``); an annotator's own reflection on a
    packet's error set names the annotator instead of an index (``…/i3.h@ana``)."""

    step: int
    parent: str
    kind: str
    tag: str = ""
    index: int = 0
    human: bool = False
    annotator: str = ""  # set: the annotator's own reflection (``human``), no index

    @classmethod
    def parse(cls, text: str) -> ProposalId:
        m = _ID.fullmatch(text)
        if m is None:
            raise ValueError(f"not a proposal id: {text!r}")
        step, parent, kind, tag, human, annotator, index = m.groups()
        return cls(int(step), parent, kind, tag, int(index or 0), bool(human), annotator or "")

    def __str__(self) -> str:
        return self.group + (f"@{self.annotator}" if self.annotator else str(self.index))

    @property
    def group(self) -> str:
        """The id up to the index: what the proposals of one review share."""
        return f"s{self.step}/{self.parent}/{self.kind}/{self.tag}{'h' if self.human else ''}"

    @property
    def round(self) -> str:
        """GEPA's iteration the tag names ("i3." of "i3.hf"), else ""."""
        return self.tag[: self.tag.rindex(".") + 1] if "." in self.tag else ""


@dataclass(frozen=True)
class Proposal:
    """Something the optimizer proposed that a reviewer decides on.

    ``id`` is a ``ProposalId``'s string (step, parent, kind, tag, index):
    deterministic, so a resumed step re-proposes the same ids and recorded
    decisions can be replayed."""

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
    errors_left_out: int = 0  # the last N of ``errors`` were not shown, so that the request fit the optimizer's context


@dataclass(frozen=True)
class Decision:
    """One judgement on a proposal.  Decisions are only ever added: an
    ``undo`` supersedes the same annotator's standing decision on the
    proposal, so a proposal's history is read, not rewritten."""

    proposal_id: str
    kind: DecisionKind
    text: str | None = None  # the edited or added text
    by: str = "auto"  # "auto" | "human" | "script"
    at: float = field(default_factory=time.time)
    labels: tuple[str, ...] = ()  # rubric label ids (core/rubric.py) the annotator ticked
    rationale: str = ""  # why, in the annotator's words
    annotator: str = ""  # who decided; "" in sessions written before annotators were recorded

    def keeps(self, proposal: Proposal) -> str | None:
        """The text this decision keeps of ``proposal``: its own on an accept
        (for unparsed output: the reviewer chose to use it as is), the edit's
        on an edit (an edit's text wins); None when it keeps nothing (a
        rejection, an undo, or no text to keep)."""
        text = {"accept": proposal.text, "edit": self.text}.get(self.kind)
        return text if text and text.strip() else None


# ---------------------------------------------------------------- selection
@dataclass(frozen=True)
class Pick:
    """One GEPA iteration's plan: reflect on ``parent_id`` over ``minibatch``."""

    iteration: int
    parent_id: str
    minibatch: tuple[str, ...]  # dev example ids as drawn; a padded epoch may hold one twice
    skipped: str | None = None  # why no mutation is tried this iteration
    task: int = 0  # its place in the iteration's round (a round of several proposals: 0, 1, ...)

    @property
    def examples(self) -> tuple[str, ...]:
        """The minibatch's distinct examples, in order: what is shown and evaluated."""
        return tuple(dict.fromkeys(self.minibatch))


@dataclass(frozen=True)
class Gate:
    """GEPA's gate on one new candidate: a full dev evaluation or not."""

    iteration: int
    parent_id: str
    candidate_id: str
    before: float  # the parent's sum over the minibatch
    after: float  # the candidate's sum over the same positions
    compared: int  # minibatch positions both were scored on
    task: int = 0  # the pick's place in its round
    dropped: str = ""  # set: it passed, but the round's selection did not keep it (why)

    @property
    def accepted(self) -> bool:
        # Strictly better: a tie spends no full evaluation, as in the package.
        return self.compared > 0 and self.after > self.before and not self.dropped

    @property
    def reason(self) -> str:
        if not self.compared:
            return "no minibatch example was scored for both parent and candidate"
        verdict = "does not improve on" if self.after <= self.before else "improves on"
        said = f"minibatch score {self.after:g} {verdict} the parent's {self.before:g} ({self.compared} examples)"
        return f"{said}, but {self.dropped}" if self.dropped else said


@dataclass(frozen=True)
class StepRecord:
    step: int
    beam: tuple[str, ...]  # prompt ids kept (GEPA: its Pareto front, best mean first)
    # every prompt evaluated this step → dev score; None: no example was scored
    dev_scores: dict[str, float | None]
    best_id: str
    dev_best: float | None  # the tested prompt's dev score; the loop never selects one without a score
    test: float | None  # None: no test set, or no test example was scored
    tokens: int
    calls: int
    cost: float = 0.0
    notes: tuple[str, ...] = ()  # e.g. "no errors left on dev: beam kept"
    # A method that selects its own way (GEPA) says what it did; the study's
    # beam leaves these empty, and sessions written before them decode so.
    picks: tuple[Pick, ...] = ()  # each iteration's parent and minibatch
    gates: tuple[Gate, ...] = ()  # each new candidate's minibatch comparison with its parent
    front: dict[str, int] = field(default_factory=dict)  # front member -> dev examples it is best on
    method_state: dict[str, Any] = field(default_factory=dict)  # the selection's state after the step, to resume from
    evaluation: str = "full"  # how the step's candidates were scored (adaptive: raced, see core.step.adaptive)
    calls_saved: int = 0  # target calls adaptive evaluation did not make, against full evaluation
