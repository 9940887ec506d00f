"""A promptfoo ``similar`` assertion that names its own ``provider`` embeds
with it, as promptfoo does, where it maps onto reflectloop's (OpenAI's
embeddings, at an OpenAI-compatible ``apiBaseUrl``); any other is refused by
name.  Without one it embeds with the judge model.

A real HTTP embeddings endpoint (``tests.support.embeddings_server``) and the
fake chat endpoint; the run's own wiring makes the model.
"""
from __future__ import annotations

import asyncio

import pytest
import yaml

from reflectloop.core.llm.registry import make_llm
from reflectloop.core.metrics.promptfoo_asserts import provider_key
from reflectloop.core.tasks import TaskError
from reflectloop.core.tasks.promptfoo import load_suite
from reflectloop.sessions.store import SessionStore
from tests.support.cli import cli, fake_flags
from tests.support.embeddings_server import EmbeddingsServer
from tests.support.fake_server import FakeServer

PROMPT = "Answer in one word.\n\nQuestion: {{q}}"


def suite(folder, asserts: list, *, options: dict | None = None):
    test: dict = {"vars": {"q": "Capital of France?"}, "assert": asserts}
    if options is not None:
        test["options"] = options
    path = folder / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump({"prompts": [PROMPT], "providers": ["openai:chat:m"], "tests": [test]}))
    return path


def make(spec: str, base_url: str | None):
    return make_llm(spec, role="judge", base_url=base_url, cache=None)


@pytest.fixture
def embeddings(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "dummy-key-for-the-local-endpoint")
    with EmbeddingsServer() as server:
        yield server


def test_a_similar_assertions_own_provider_embeds_and_is_not_the_judge(tmp_path, embeddings):
    own = {"id": "openai:embedding:emb", "config": {"apiBaseUrl": embeddings.url}}
    spec = load_suite(suite(tmp_path, [{"type": "similar", "value": "Paris", "provider": own},
                                       {"type": "llm-rubric", "value": "names a city", "provider": "openai:chat:g"}]))
    metric = spec.scorer.metric
    assert metric.embedders == {provider_key(own): {"spec": "openai:emb", "base_url": embeddings.url}}
    assert (metric.model, metric.needs_model) == ("openai:g", True)  # the judge is the llm-rubric's
    only_similar = load_suite(suite(tmp_path, [{"type": "similar", "value": "Paris", "provider": own}]))
    assert not only_similar.scorer.metric.needs_model and only_similar.scorer.metric.model == ""
    metric = only_similar.scorer.metric.with_models(make)
    result = asyncio.run(metric.score(only_similar.examples[0], "paris"))
    assert result.score == pytest.approx(1.0) and embeddings.models == ["emb"]
    asyncio.run(metric.models()[0].aclose())


def test_a_provider_per_kind_and_the_tests_options_provider_are_honoured(tmp_path, embeddings):
    options = {"provider": {"embedding": {"id": "openai:embeddings:e2", "config": {"apiBaseUrl": embeddings.url}},
                            "text": "openai:chat:judge"}}
    spec = load_suite(suite(tmp_path, [{"type": "similar", "value": "Paris"},
                                       {"type": "llm-rubric", "value": "names a city"}], options=options))
    metric = spec.scorer.metric
    assert list(metric.embedders.values()) == [{"spec": "openai:e2", "base_url": embeddings.url}]
    assert metric.model == "openai:judge"


@pytest.mark.parametrize("provider", [
    "ollama:embeddings:nomic-embed-text", "anthropic:messages:claude-3-5-haiku-latest", "openai:chat:gpt-4o-mini",
    {"id": "huggingface:sentence-similarity:all-MiniLM-L6-v2"}, {"text": "openai:chat:gpt-4o-mini"},
])
def test_a_similar_provider_reflectloop_cannot_embed_with_is_refused_by_name(tmp_path, provider):
    with pytest.raises(TaskError) as caught:
        load_suite(suite(tmp_path, [{"type": "similar", "value": "Paris", "provider": provider}]))
    message = str(caught.value)
    name = provider if isinstance(provider, str) else provider.get("id", "")
    assert "test 1" in message and "is not one reflectloop embeds with" in message and name in message
    assert "openai:embedding:MODEL" in message


def test_a_run_embeds_with_the_assertions_provider_and_records_its_calls(capsys, tmp_path, embeddings):
    own = {"id": "openai:embedding:emb", "config": {"apiBaseUrl": embeddings.url}}
    path = suite(tmp_path, [{"type": "similar", "value": "{{q}}", "threshold": 0.1, "provider": own}])
    session = tmp_path / "s.session"
    with FakeServer() as server:
        code, _, err = cli(capsys, "run", "--task", f"promptfoo:{path}", "--steps", "1", "--beam", "1",
                           "--session", session, *fake_flags(server.openai_url))
    assert code == 0, err
    assert "judge" not in err  # no judge model is made, nor borrowed from the optimizer
    with SessionStore.open(session, read_only=True) as store:
        results = [r for _, ev in store.evaluations() for r in ev.results]
        calls = [c for c in store.calls() if c.model == "openai:emb"]
    assert results and all(r.errored is None and r.score is not None for r in results)
    assert calls and {c.role for c in calls} == {"judge"} and set(embeddings.models) == {"emb"}
