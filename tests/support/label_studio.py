"""A real Label Studio for tests: the ``label-studio`` package that
``.ci/peers/label-studio.sh`` installs in its own venv (outside the
repository: its pins clash with the project's), started on 127.0.0.1 and a
free port with a fresh data folder (sqlite) and an admin whose API token the
test knows.

``label_studio_server`` is a session-scoped fixture yielding a
``LabelStudio`` (``.url``, ``.token``, ``.started_in``: seconds until it
answered).  Missing locally, the test is skipped (a failure under
REFLECTLOOP_STRICT=1, by the suite's conftest).  The server is stopped at
teardown and, on Linux, dies with the test process (``PR_SET_PDEATHSIG``).
Sentry and analytics are off: a test server sends nothing anywhere.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.llama_server import _answers, _die_with, _libc, _tail, free_port, stop_process

# Its first start runs every database migration into the fresh sqlite file
# (30-80 s on a shared 2-core machine): a ceiling, not a timing check.
START_TIMEOUT = 300.0
STOP_GRACE = 15.0
ADMIN = "admin@example.com"


def peers_dir() -> Path:
    return Path(os.environ.get("REFLECTLOOP_PEERS") or Path.home() / ".cache" / "reflectloop-peers")


def label_studio_binary() -> Path:
    return peers_dir() / "label-studio" / "bin" / "label-studio"


@dataclass
class LabelStudio:
    url: str
    token: str
    process: subprocess.Popen
    started_in: float


def _environment(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))}
    env.update(LABEL_STUDIO_BASE_DATA_DIR=str(data), SENTRY_DSN="", FRONTEND_SENTRY_DSN="",
               COLLECT_ANALYTICS="false")
    return env


def start_label_studio(data: Path, *, timeout: float = START_TIMEOUT) -> LabelStudio:
    """A running server over ``data`` (an empty folder), answering ``/health``."""
    binary = label_studio_binary()
    port, token = free_port(), secrets.token_hex(20)
    command = [str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
               "--data-dir", str(data), "--username", ADMIN, "--password", secrets.token_hex(8),
               "--user-token", token, "--enable-legacy-api-token"]
    log = data / "server.log"
    began = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_environment(data), cwd=data,
                                   preexec_fn=_die_with(os.getpid()) if _libc is not None else None)
    url = f"http://127.0.0.1:{port}"
    while not _answers(f"{url}/health"):
        if process.poll() is not None:
            raise RuntimeError(f"label-studio exited with {process.returncode}:\n{_tail(log)}")
        if time.monotonic() - began > timeout:
            stop_process(process, STOP_GRACE)
            raise RuntimeError(f"label-studio did not answer {url}/health within {timeout:g} s:\n{_tail(log)}")
        time.sleep(0.25)
    return LabelStudio(url, token, process, time.monotonic() - began)


@pytest.fixture(scope="session")
def label_studio_server(tmp_path_factory) -> Iterator[LabelStudio]:
    if not label_studio_binary().is_file():
        pytest.skip(f"label-studio is not installed at {label_studio_binary()}: run .ci/peers/label-studio.sh")
    server = start_label_studio(tmp_path_factory.mktemp("label-studio"))
    try:
        yield server
    finally:
        stop_process(server.process, STOP_GRACE)
