"""What every optimization method shares: asking the optimizer through a
template, parsing tagged output, writing the initial prompts."""
from __future__ import annotations

import asyncio
import random
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Sequence

from core.config import RunConfig
from core.types import ErrorCase, Example, Message, Params, Prompt, Task


@dataclass(frozen=True)
class Draft:
    """One proposal as the optimizer wrote it, before the loop gives it an id."""

    text: str
    raw: str
    parse_error: str | None = None


@dataclass(frozen=True)
class StepContext:
    """What a method may look at when it reflects on or refines one parent."""

    step: int
    parent: Prompt
    errors: tuple[ErrorCase, ...]
    lineage: tuple[Prompt, ...] = ()  # the parent's ancestors, oldest first
    history: tuple[tuple[Prompt, float], ...] = ()  # every prompt scored on dev so far
    examples: tuple[Example, ...] = ()  # example problems (OPRO), when no errors are left


def template(name: str) -> Template:
    text = resources.files("core.methods").joinpath("templates", f"{name}.txt").read_text()
    return Template(text)


def fill(name: str, **slots: object) -> str:
    # substitute() raises on a missing slot: a template and its caller must agree.
    return template(name).substitute({k: str(v) for k, v in slots.items()})


_TAGS = {"START": ("<START>", "<END>"), "INS": ("<INS>", "</INS>")}


def parse_tagged(raw: str, tag: str = "START") -> list[Draft]:
    """Every ``<START>…<END>`` span of the output, as drafts.

    Output without tags is kept whole as one draft marked with a parse error,
    so the reviewer sees it and the session records it.  An opened but never
    closed last tag (a reply cut at max_tokens) still yields its text."""
    opener, closer = _TAGS[tag]
    spans = re.findall(re.escape(opener) + r"(.*?)" + re.escape(closer), raw, re.S)
    drafts = [Draft(s.strip(), raw) for s in spans if s.strip()]
    tail = raw.rsplit(closer, 1)[-1] if spans else raw
    if opener in tail:
        rest = tail.split(opener, 1)[1].strip()
        if rest:
            drafts.append(Draft(rest, raw))
    if drafts:
        return drafts
    if not raw.strip():
        return [Draft("", raw, "the optimizer returned nothing")]
    # Small optimizers often ignore the tags: keep the whole output, flagged,
    # so the reviewer decides whether it is usable.
    return [Draft(raw.strip(), raw, f"no {opener}…{closer} tags: the whole output was taken")]


def parse_at_most(raw: str, n: int, tag: str = "START") -> list[Draft]:
    """The first n tagged spans; untagged output stays one flagged draft."""
    drafts = parse_tagged(raw, tag)
    return drafts if drafts[0].parse_error else drafts[:n]


def untag(raw: str) -> str:
    """The text with the tag markers removed (for whole-text feedback)."""
    for opener, closer in _TAGS.values():
        raw = raw.replace(opener, "").replace(closer, "")
    return raw.strip()


def format_errors(errors: Sequence[ErrorCase], *, with_output: bool = True) -> str:
    blocks = []
    for i, e in enumerate(errors, 1):
        lines = [f"## Example {i}", f"Input:\n{e.input}", f"Correct answer: {e.gold[0] if e.gold else ''}"]
        if with_output:
            lines.append(f"Model's output:\n{e.output.strip()}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def format_examples(examples: Sequence[Example]) -> str:
    return "\n\n".join(f"Input:\n{e.input}\nOutput: {e.targets[0]}" for e in examples)


class Method(ABC):
    """Base of the six methods.  Subclasses set the class attributes and
    override ``reflect``/``refine`` (and ABO ``demonstrate``)."""

    name = ""
    reflects = True
    uses_demonstration = False
    once_per_step = False  # True: only the best parent is refined each step (OPRO)

    def __init__(self, optimizer, task: Task, config: RunConfig):
        self.optimizer = optimizer
        self.task = task
        self.config = config

    def params(self, sample: int = 0) -> Params:
        c = self.config
        return Params(
            temperature=c.optimizer_temperature,
            top_p=c.optimizer_top_p,
            max_tokens=c.optimizer_max_tokens,
            sample=sample,
            seed=c.seed,
        )

    async def ask(self, text: str, *, purpose: str, sample: int = 0) -> str:
        completion = await self.optimizer.complete((Message("user", text),), self.params(sample), purpose=purpose)
        return completion.text

    async def initialize(self, n: int) -> list[Draft]:
        """n initial instructions, each written from a different seeded draw of ini examples."""

        async def one(k: int) -> Draft:
            rng = random.Random(f"{self.config.seed}:init:{k}")
            shown = rng.sample(list(self.task.ini), min(self.config.init_examples, len(self.task.ini)))
            text = fill("init", task_desc=self.task.description, examples=format_examples(shown))
            return parse_tagged(await self.ask(text, purpose="init", sample=k))[0]

        return list(await asyncio.gather(*(one(k) for k in range(n))))

    async def reflect(self, ctx: StepContext) -> list[Draft]:
        return []

    def implicit_reflection(self, ctx: StepContext) -> str:
        """What stands in for feedback when a method writes none (OPRO's trajectory)."""
        return ""

    @abstractmethod
    async def refine(self, ctx: StepContext, feedback: Sequence[str]) -> list[Draft]:
        """Candidate prompts for ``ctx.parent`` from the accepted feedback."""

    async def demonstrate(self, instruction: str, example: Example) -> Draft | None:
        return None
