"""Scripted fakes for unit tests of the loop's logic (never for integration).

``ScriptedProvider`` answers like a model by rules on the prompt text, and
records every request (``prompts``: the last message's text; ``requests``:
the messages and params); an answer may be a :class:`Reply` to give a finish
reason (``cut(text)``: a reply cut by max_tokens); wrap it in the real ``core.llm.client.LLM`` so caching,
counters and call records are the real ones.  ``ScriptedReviewer`` decides by
a function of each proposal and records every request it saw.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable

from reflectloop.core.llm.client import LLM
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.metrics.task import EXACT_MATCH
from reflectloop.core.review import ReflectRequest, Reviewer, ReviewRequest, ReviewResult
from reflectloop.core.types import Completion, Decision, Example, Message, Params, Proposal, Task, Usage


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str | None = "stop"


def cut(text: str) -> Reply:
    """An answer the provider cut at max_tokens."""
    return Reply(text, "length")


class ScriptedProvider:
    default_concurrency = 4

    def __init__(self, spec: str, answer: Callable[[str, Params], str | Reply]):
        self.spec = spec
        self.answer = answer
        self.prompts: list[str] = []
        self.requests: list[tuple[tuple[Message, ...], Params]] = []

    @property
    def calls(self) -> int:
        return len(self.prompts)

    async def complete(self, messages, params: Params) -> Completion:
        text = messages[-1].content
        self.prompts.append(text)
        self.requests.append((tuple(messages), params))
        out = self.answer(text, params)
        reply = out if isinstance(out, Reply) else Reply(out)
        usage = Usage(len(text) // 4, len(reply.text) // 4)
        return Completion(reply.text, usage, 0.0, False, self.spec, finish_reason=reply.finish_reason)

    async def aclose(self) -> None:
        pass


def toy_task(n_dev: int = 6, n_test: int = 4) -> Task:
    """Questions 'q<i>' whose answer is '<i>'."""
    ex = lambda split, i: Example(f"{split}/{i}", f"q{i}", (str(i),))
    return Task(
        "toy", "answer with the number in the question",
        ini=tuple(ex("ini", i) for i in range(5)),
        dev=tuple(ex("dev", i) for i in range(n_dev)),
        test=tuple(ex("test", i) for i in range(100, 100 + n_test)),
        scorer=EXACT_MATCH,
    )


def toy_target(text: str, params: Params) -> str:
    """Right on every question when the prompt says GOOD; on even ones when it
    says HALF; wrong otherwise.  Reads the input under either protocol's layout."""
    n = int(re.search(r"Input:?\nq(\d+)", text).group(1))
    right = "GOOD" in text or ("HALF" in text and n % 2 == 0)
    return json.dumps({"answer": str(n) if right else "wrong"})


def optimizer_by_rules(rules: dict[str, str | Callable[[str, Params], str]]) -> Callable[[str, Params], str]:
    """The first rule whose key occurs in the prompt gives the answer."""

    def answer(text: str, params: Params) -> str:
        for key, out in rules.items():
            if key in text:
                return out(text, params) if callable(out) else out
        raise AssertionError(f"no scripted answer for prompt: {text[:200]!r}")

    return answer


def scripted_llm(spec: str, answer, *, role: str, cache=None, on_call=None) -> tuple[LLM, ScriptedProvider]:
    provider = ScriptedProvider(spec, answer)
    return LLM(provider, role=role, cache=cache if cache is not None else MemoryCache(), on_call=on_call), provider


@dataclass
class ScriptedReviewer(Reviewer):
    decide: Callable[[Proposal], Decision | None] = lambda p: Decision(p.id, "accept", by="script")
    own_reflection: tuple[str, ...] = ()  # given in reflect_first (blind)
    add: Callable[[ReviewRequest], tuple[str, ...]] = lambda r: ()
    requests: list[ReviewRequest] = field(default_factory=list)
    reflections: list[ReflectRequest] = field(default_factory=list)

    async def reflect_first(self, request: ReflectRequest) -> tuple[str, ...]:
        self.reflections.append(request)
        return self.own_reflection

    async def review(self, request: ReviewRequest) -> ReviewResult:
        self.requests.append(request)
        decisions = {}
        for p in request.proposals:
            d = self.decide(p)
            if d is not None:
                decisions[p.id] = d
        return ReviewResult(decisions, self.add(request))
