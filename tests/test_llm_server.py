"""``openai:MODEL`` against a real OpenAI-compatible server: llama-cpp-python's
server running SmolLM2 (see ``tests/llama_server.py``): completions, finish
reasons, embeddings, and the fixture's own life cycle."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from reflectloop.core.llm import MemoryCache, make_llm
from reflectloop.core.types import CallRecord, Message, Params
from tests.llama_server import (  # noqa: F401  (llama_server is the fixture)
    free_port,
    llama_server,
    read_line,
    running_llama_server,
)

MESSAGES = (Message("system", "You answer in one short sentence."), Message("user", "Name a colour of the sky."))


@pytest.fixture
def no_openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.mark.asyncio
async def test_completion_from_the_server_with_provider_usage(llama_server, no_openai_key):
    records: list[CallRecord] = []
    llm = make_llm("openai:smollm2", role="target", base_url=llama_server.base_url, cache=None, on_call=records.append)
    completion = await llm.complete(MESSAGES, Params(temperature=0.0, max_tokens=16), purpose="evaluate")
    await llm.aclose()
    assert completion.text.strip() and completion.model == "openai:smollm2"
    assert not completion.usage.estimated
    assert completion.usage.prompt_tokens > 10 and 0 < completion.usage.completion_tokens <= 16
    # Whatever the model said: it stopped by itself, or the cap of 16 cut it.
    assert completion.finish_reason == ("length" if completion.usage.completion_tokens == 16 else "stop")
    [record] = records
    assert record.error is None and record.usage == completion.usage
    assert record.finish_reason == completion.finish_reason
    assert record.cost == 0.0 and not llm.price.known  # a server's model has no list price


@pytest.mark.asyncio
async def test_an_answer_cut_by_max_tokens_is_flagged(llama_server, no_openai_key):
    records: list[CallRecord] = []
    llm = make_llm("openai:smollm2", role="optimizer", base_url=llama_server.base_url, cache=None, on_call=records.append)
    completion = await llm.complete(MESSAGES, Params(max_tokens=1))
    await llm.aclose()
    assert completion.usage.completion_tokens <= 1
    # One token cannot hold an answer: only an immediate end of turn is not a cut.
    assert completion.truncated == (completion.usage.completion_tokens == 1)
    assert completion.truncated or completion.text == ""
    assert records[0].truncated == completion.truncated


@pytest.mark.asyncio
async def test_server_honours_seed_and_stop(llama_server, no_openai_key):
    llm = make_llm("openai:smollm2", role="optimizer", base_url=llama_server.base_url, cache=None)
    hot = Params(temperature=1.0, max_tokens=24, seed=7)
    first, second = [await llm.complete(MESSAGES, hot) for _ in range(2)]
    stopped = await llm.complete(MESSAGES, Params(max_tokens=24, stop=(" ",)))
    await llm.aclose()
    assert first.text == second.text
    assert " " not in stopped.text.strip()


@pytest.mark.asyncio
async def test_embeddings_from_the_server_are_cached_per_text(llama_server, monkeypatch):
    secret = "sk-test-SECRET"
    monkeypatch.setenv("OPENAI_API_KEY", secret)  # sent to the server, never recorded
    records: list[CallRecord] = []
    cache = MemoryCache()
    llm = make_llm("openai:smollm2", role="embeddings", base_url=llama_server.base_url, cache=cache, on_call=records.append)
    first = await llm.embed(["The sky is blue.", "Count the apples.", "The sky is blue."])
    again = await llm.embed(["Count the apples.", "A new text."])
    await llm.aclose()
    dimensions = {len(v) for v in first + again}
    assert len(dimensions) == 1 and dimensions.pop() > 100  # one pooled vector per text, not one per token
    assert first[0] == first[2] and first[0] != first[1] and again[0] == first[1]
    assert llm.calls == 2 and llm.cache_hits == 1
    sent, hit, new = records
    assert [m.content for m in sent.messages] == ["The sky is blue.", "Count the apples."]
    assert not sent.usage.estimated and sent.usage.prompt_tokens > 4  # the server counted them
    assert hit.cached and [m.content for m in hit.messages] == ["Count the apples."]
    assert [m.content for m in new.messages] == ["A new text."] and all(r.purpose == "embed" for r in records)
    assert all(secret not in repr(r) for r in records)


def test_the_fixture_stops_a_server_that_answered():
    with running_llama_server() as server:
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=30) as response:
            models = json.load(response)
        running = server.process.poll() is None
    assert [m["id"] for m in models["data"]] == ["smollm2"]
    assert running and server.stopped_by_us and server.returncode == -signal.SIGTERM


def test_a_server_that_died_by_itself_fails_the_block():
    with pytest.raises(RuntimeError, match=r"died by itself with exit code -9"):
        with running_llama_server() as server:
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(30)
    assert not server.stopped_by_us


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_dies_with_its_parent():
    """A test process killed outright must not leave its server running."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from tests.llama_server import spawn_llama_server
        server = spawn_llama_server({free_port()})
        print(server.pid, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as parent:
        server_pid = int(read_line(parent.stdout, timeout=30))
        parent.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 15
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    survived = _alive(server_pid)
    if survived:
        os.kill(server_pid, signal.SIGKILL)
    assert not survived


def _alive(pid: int) -> bool:
    # The orphan is reaped by init once it exits; until then it is a zombie.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return status != "Z"


def test_a_server_that_cannot_start_fails_with_its_stderr(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match=r"llama server exited with \d+:\n(.|\n)*broken\.gguf"):
        with running_llama_server(model=broken, timeout=60):
            pass
