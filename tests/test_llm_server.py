"""``openai:MODEL`` against a real OpenAI-compatible server: llama-cpp-python's
server running SmolLM2 (see ``tests/llama_server.py``)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.llm import make_llm
from core.types import CallRecord, Message, Params
from tests.llama_server import free_port, llama_server, running_llama_server  # noqa: F401  (the fixture)

MESSAGES = (Message("system", "You answer in one short sentence."), Message("user", "Name a colour of the sky."))


@pytest.fixture
def no_openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.mark.asyncio
async def test_completion_from_the_server_with_provider_usage(llama_server, no_openai_key):
    records: list[CallRecord] = []
    llm = make_llm("openai:smollm2", role="target", base_url=llama_server, cache=None, on_call=records.append)
    completion = await llm.complete(MESSAGES, Params(temperature=0.0, max_tokens=16), purpose="evaluate")
    await llm.aclose()
    assert completion.text.strip() and completion.model == "openai:smollm2"
    assert not completion.usage.estimated
    assert completion.usage.prompt_tokens > 10 and 0 < completion.usage.completion_tokens <= 16
    [record] = records
    assert record.error is None and record.usage == completion.usage
    assert record.cost == 0.0 and not llm.price.known  # a server's model has no list price


@pytest.mark.asyncio
async def test_server_honours_seed_and_stop(llama_server, no_openai_key):
    llm = make_llm("openai:smollm2", role="optimizer", base_url=llama_server, cache=None)
    hot = Params(temperature=1.0, max_tokens=24, seed=7)
    first, second = [await llm.complete(MESSAGES, hot) for _ in range(2)]
    stopped = await llm.complete(MESSAGES, Params(max_tokens=24, stop=(" ",)))
    await llm.aclose()
    assert first.text == second.text
    assert " " not in stopped.text.strip()


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
        server_pid = int(parent.stdout.readline())
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
