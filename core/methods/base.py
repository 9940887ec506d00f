"""What every optimization method shares: asking the optimizer through a
template (its replies read by ``core.methods.parsing``), writing the initial prompts.

Every request is made to fit the optimizer's context before it is sent: a
request about errors shows fewer of them (the drafts say how many were left
out); one that cannot fit, or that the model's server refuses as over its
context, is not an error of the run but a failed draft with its cause, which
the step records and goes on from.  The fit is a function of the request, so
a resumed step asks (and replays from the cache) the very same requests."""
from __future__ import annotations

import asyncio
import hashlib
import json
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from string import Template
from typing import ClassVar, Mapping, Protocol, Sequence, TypeVar

from reflectloop.core.evaluation.prompting import STUDY_SYSTEM
from reflectloop.core.llm.base import ContextExceeded
from reflectloop.core.methods.facts import STUDY_SAMPLING, MethodFacts, StepCalls, split
from reflectloop.core.methods.parsing import Draft, Reply, parse_at_most, parse_reply, parse_study
from reflectloop.core.step.selection import BeamSelection, Selection
from reflectloop.core.types import ErrorCase, Example, Message, Params, Prompt, Task

O = TypeVar("O")


class RunSettings(Protocol):
    """What a method reads of a run's settings.  ``core.settings.config.RunConfig`` is
    one; it imports the method registry, so the methods name only this."""

    @property
    def protocol(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def beam(self) -> int: ...
    @property
    def dev_size(self) -> int: ...
    @property
    def init_examples(self) -> int: ...
    @property
    def errors(self) -> int | None: ...
    @property
    def optimizer_temperature(self) -> float: ...
    @property
    def optimizer_top_p(self) -> float: ...
    @property
    def optimizer_max_tokens(self) -> int | None: ...
    @property
    def selection_mode(self) -> str: ...
    @property
    def n_errors(self) -> int: ...
    @property
    def n_per_parent(self) -> int: ...
    @property
    def n_samples(self) -> int: ...
    @property
    def sampling_mode(self) -> str: ...

    def options_of(self, kind: type[O]) -> O: ...


@dataclass(frozen=True)
class Request:
    """A request whose text shows the first ``n`` errors of its context:
    ``build(n)``, for n from ``errors`` down to 0, so that it can be made to fit."""

    build: Callable[[int], str]
    errors: int = 0


@dataclass(frozen=True)
class Rollout:
    """One minibatch example as GEPA's optimizer sees it, right or wrong."""

    example_id: str
    input: str
    output: str
    score: float
    feedback: str  # the metric's feedback (exact match: the expected answer and what was read)


@dataclass(frozen=True)
class StepContext:
    """What a method may look at when it reflects on or refines one parent."""

    step: int
    parent: Prompt
    errors: tuple[ErrorCase, ...]  # GEPA: the failures of its minibatch
    lineage: tuple[Prompt, ...] = ()  # the parent's ancestors, oldest first
    history: tuple[tuple[Prompt, float], ...] = ()  # every prompt scored on dev so far
    examples: tuple[Example, ...] = ()  # example problems (OPRO), when no errors are left
    minibatch: tuple[Rollout, ...] = ()  # GEPA: the whole minibatch with scores and feedback
    iteration: int | None = None  # GEPA: the iteration, so each one asks the optimizer afresh


def template(name: str) -> Template:
    text = resources.files("reflectloop.core.methods").joinpath("templates", f"{name}.txt").read_text()
    return Template(text)


def fill(name: str, **slots: object) -> str:
    # substitute() raises on a missing slot: a template and its caller must agree.
    return template(name).substitute({k: str(v) for k, v in slots.items()})


def answer_object(gold: str) -> str:
    """A gold answer as the study's templates show it to the optimizer: the
    answer object the target is asked to write (template.py:38,94,134)."""
    return json.dumps({"answer": gold}, ensure_ascii=False)


def format_errors(errors: Sequence[ErrorCase], *, with_output: bool = True, with_answer: bool = False,
                  protocol: str = "reflectloop") -> str:
    """The error set as the optimizer reads it.  ``with_output=False`` shows
    inputs and gold answers only (APO's refinement, as the study's code);
    ``with_answer`` adds the answer read out of the output (PromptAgent).
    Under ``study`` the gold is shown as an answer object, as the study's
    error layouts show it.  Errors with outputs are numbered, a single one too
    (the study's one-error layout leaves its index unfilled: a defect
    avoided); under ``study`` a single error without output has no header,
    as the study's example layout (template.py:51-56).
    A task file's error (graded) also shows its score and the metric's
    feedback; one with no gold answer (judged free text) shows none."""
    blocks = []
    numbered = with_output or protocol != "study" or len(errors) > 1
    for i, e in enumerate(errors, 1):
        lines = [f"## Example {i}"] if numbered else []
        lines.append(f"Input:\n{e.input}")
        if e.gold or e.score is None:
            gold = e.gold[0] if e.gold else ""
            lines.append(f"Correct answer: {answer_object(gold) if protocol == 'study' and e.gold else gold}")
        if with_output:
            lines.append(f"Model's output:\n{e.output.strip()}")
        if with_answer:
            lines.append(f"Model's answer: {e.answer if e.answer is not None else '(none found)'}")
        if e.score is not None:
            lines.append(f"Score: {e.score:.2f} (1 is perfect)")
            if e.feedback:
                lines.append(f"Feedback: {e.feedback}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def format_examples(examples: Sequence[Example]) -> str:
    return "\n\n".join(f"Input:\n{e.input}\nOutput: {e.targets[0] if e.targets else '(judged by the metric)'}"
                         for e in examples)


def where_it_sits(task: Task) -> str:
    """For a task file: where the optimized text goes in the target's
    messages (the rest of them, slots named), put before every meta-prompt
    so the optimizer writes text that fits there.  Empty for other tasks,
    whose requests stay the study's."""
    if task.taskfile is None:
        return ""
    return f"## Where the prompt is used\n{task.taskfile.template.describe()}\n\n"


def draw_seed(seed: int, draw: str) -> int:
    """The seed of one draw: the run's seed and what is drawn for (step and
    parent), so a parent that survives into a later step gets fresh samples
    while a re-run of the same step asks the very same (cached) requests."""
    digest = hashlib.sha256(f"{seed}:{draw}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def draw_of(ctx: StepContext) -> str:
    base = f"s{ctx.step}/{ctx.parent.id}"
    return base if ctx.iteration is None else f"{base}/i{ctx.iteration}"


class Method(ABC):
    """Base of the methods.  Subclasses set ``name`` and their facts and
    override ``reflect``/``refine`` (and ABO ``demonstrate``)."""

    name = ""
    uses_demonstration = False
    one_per_sample = True  # each sample is one candidate (False: a request asks for several)
    # The method's defaults, per protocol (the study's code where it differs).
    defaults: MethodFacts
    study_defaults: MethodFacts | None = None  # the study's intended counts (``--sampling intended``)
    # The counts the study's released code runs (``--sampling released``):
    # samples = the ``n`` of one request per parent.
    released_defaults: MethodFacts | None = None
    # The dataclass of the method's own settings (``core.methods.facts.setting``
    # fields), named ``<name>_<field>`` as flags and keys; None: it has none.
    options_class: ClassVar[type | None] = None
    # What the method does differently with a shared setting, added to that
    # setting's help: {setting: note}.
    notes: ClassVar[Mapping[str, str]] = {}

    def __init__(self, optimizer, task: Task, config: RunSettings):
        self.optimizer = optimizer
        self.task = task
        self.config = config

    @classmethod
    def facts(cls, protocol: str = "reflectloop", sampling: str | None = None) -> MethodFacts:
        """The defaults under ``protocol`` and, for the study, ``sampling`` (unset: the study's default)."""
        if protocol != "study":
            return cls.defaults
        if (sampling or STUDY_SAMPLING) == "released" and cls.released_defaults is not None:
            return cls.released_defaults
        return cls.study_defaults if cls.study_defaults is not None else cls.defaults

    @classmethod
    def refusal(cls, settings: RunSettings) -> str | None:
        """Why the method cannot run with ``settings``, if it cannot."""
        return None

    @classmethod
    def step_calls(cls, settings: RunSettings) -> StepCalls:
        """The calls one step asks for (the estimate shown before a run):
        per beam member, its reflections, revisions and demonstrations, and
        each candidate scored on the dev set."""
        samples, _ = split(settings.n_per_parent, settings.n_samples, cls.one_per_sample)
        # Released sampling asks for a parent's samples in one request of n choices.
        requests = 1 if settings.sampling_mode == "released" else samples
        reflect, refine = cls.calls_per_parent(requests, settings.protocol)
        demonstrations = settings.n_per_parent if cls.uses_demonstration else 0
        # Released, every optimizer request asks for the same n (its reflections' and demonstrations' too).
        return StepCalls(settings.beam * (reflect + refine + demonstrations),
                         settings.beam * settings.n_per_parent * settings.dev_size,
                         samples if settings.sampling_mode == "released" else 1)

    @classmethod
    def calls_per_parent(cls, requests: int, protocol: str) -> tuple[int, int]:
        """(reflection calls, revision calls) for one parent whose samples take ``requests``."""
        return int(cls.facts(protocol).reflects), requests

    reflects = True  # derived from ``defaults`` for each subclass: never set by hand

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "defaults" in cls.__dict__:
            cls.reflects = cls.defaults.reflects

    @property
    def protocol(self) -> str:
        return self.config.protocol

    def sampling(self) -> tuple[int, int]:
        """(samples, candidates per sample) for this run's candidates per parent."""
        return split(self.config.n_per_parent, self.config.n_samples, self.one_per_sample)

    @property
    def released(self) -> bool:
        """Samples drawn as the study's released code draws them: one request with ``n`` choices."""
        return self.config.sampling_mode == "released"

    def unread_choices(self) -> int:
        """The ``n`` of a request of which only the first choice is read (APO's
        reflection, PromptAgent's feedback, ABO's demonstrations): the released
        code sends every request with its ``n`` (AutoPrompter.py:474,658,894); 1 otherwise."""
        return self.sampling()[0] if self.released else 1

    def params(self, sample: int = 0, draw: str = "") -> Params:
        c = self.config
        return Params(
            temperature=c.optimizer_temperature,
            top_p=c.optimizer_top_p,
            max_tokens=c.optimizer_max_tokens,
            sample=sample,
            seed=draw_seed(c.seed, draw),
        )

    def about_errors(self, ctx: StepContext, build: Callable[[Sequence[ErrorCase]], str]) -> Request:
        """A request showing ``ctx.errors``, which may show fewer of them (the first ones) to fit."""
        return Request(lambda n: build(ctx.errors[:n]), len(ctx.errors))

    async def ask(self, request: str | Request, *, purpose: str, draw: str, sample: int = 0, choices: int = 1) -> Reply:
        """One optimizer sample of the request, fitted to the optimizer's
        context.  ``draw`` names what it is drawn for (see :func:`draw_seed`).
        ``choices``: the request asks for that many, of which only the first
        is read (as the study's released code reads some of its requests)."""
        return (await self.ask_choices(request, purpose=purpose, draw=draw, sample=sample, n=choices))[0]

    async def ask_choices(self, request: str | Request, *, purpose: str, draw: str, n: int,
                          sample: int = 0) -> list[Reply]:
        """The ``n`` choices of one request, fitted to the optimizer's context
        once; a request that cannot fit is one failed reply (one request failed)."""
        if isinstance(request, str):
            text = request
            request = Request(lambda shown: text)
        params = replace(self.params(sample, draw), n=n)
        shown = request.errors
        messages = self._messages(request, shown)
        cause = await self.optimizer.overflow(messages, params)
        while cause is not None and shown > 0:
            shown -= 1
            messages = self._messages(request, shown)
            cause = await self.optimizer.overflow(messages, params)
        left_out = request.errors - shown
        if cause is not None:
            return [Reply(None, left_out, cause)]
        try:
            if n == 1:  # one choice: the call every optimizer (and every wrapper of one) answers
                completions = [await self.optimizer.complete(messages, params, purpose=purpose)]
            else:
                completions = await self.optimizer.choices(messages, params, purpose=purpose)
        except ContextExceeded as exc:  # a server that knows its context better than we do
            return [Reply(None, left_out, str(exc))]
        return [Reply(completion, left_out) for completion in completions]

    def _messages(self, request: Request, shown: int) -> tuple[Message, ...]:
        user = Message("user", where_it_sits(self.task) + request.build(shown))
        # The study's code sends its system message with every optimizer request (AutoPrompter.py:475,541,659,792,864).
        return (Message("system", STUDY_SYSTEM), user) if self.protocol == "study" else (user,)

    async def ask_samples(self, request: str | Request, *, purpose: str, draw: str, n: int) -> list[Reply]:
        """n samples of the request: under released sampling the ``n`` choices
        of one request, as the study's released code asks (its ``n`` in every
        optimizer conf, e.g. AutoPrompter.py:474), or its one failed reply;
        otherwise n requests."""
        if self.released:
            return await self.ask_choices(request, purpose=purpose, draw=draw, n=n)
        return list(await asyncio.gather(*(self.ask(request, purpose=purpose, draw=draw, sample=k) for k in range(n))))

    async def candidates(self, text: str | Request, ctx: StepContext, tag: str = "START") -> list[Draft]:
        """The candidates of one refine request, drawn as :meth:`sampling` says:
        the first tagged span of each sample, or the first spans each sample
        was asked for, at most the run's candidates per parent.  Under
        ``--protocol study``, every span of every sample, as the study keeps them."""
        samples, per_sample = self.sampling()
        replies = await self.ask_samples(text, purpose="refine", draw=draw_of(ctx), n=samples)
        if self.protocol == "study":
            return [d for reply in replies for d in parse_study(reply, tag)]
        if self.one_per_sample:
            return [parse_reply(reply, tag)[0] for reply in replies]
        drafts = [d for reply in replies for d in parse_at_most(reply, per_sample, tag)]
        return drafts[: self.config.n_per_parent]

    async def initialize(self, n: int) -> list[Draft]:
        """n initial instructions, each written from a different seeded draw of ini examples."""

        async def one(k: int) -> Draft:
            rng = random.Random(f"{self.config.seed}:init:{k}")
            shown = rng.sample(list(self.task.ini), min(self.config.init_examples, len(self.task.ini)))
            text = fill("init", task_desc=self.task.description, examples=format_examples(shown))
            return parse_reply(await self.ask(text, purpose="init", draw="init", sample=k))[0]

        return list(await asyncio.gather(*(one(k) for k in range(n))))

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        return []

    def implicit_reflection(self, ctx: StepContext) -> str:
        """What stands in for feedback when a method writes none (OPRO's trajectory)."""
        return ""

    @abstractmethod
    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        """Candidate prompts for ``ctx.parent`` from the accepted feedback."""

    async def demonstrate(self, instruction: str, example: Example, draw: str) -> Draft | None:
        return None

    def selection(self) -> Selection:
        """How the loop picks this method's parents and keeps its candidates: the study's beam."""
        c = self.config
        return BeamSelection(c.beam, c.selection_mode, c.seed, self.reflects, first_at_tie=c.protocol == "study")
