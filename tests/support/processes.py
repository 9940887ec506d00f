"""Reading a child process's output without ever blocking for good.

A bare ``readline()`` on a pipe waits forever when the child hangs before it
prints; the test then hangs instead of failing.  ``read_line`` waits at most
``timeout`` seconds and says what the child did instead.  ``interrupted_once``
sends a child Ctrl+C once it has got somewhere.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from typing import Callable

DEFAULT_TIMEOUT = 120.0  # a ceiling for a child's start-up, not a timing check


def read_line(process: subprocess.Popen, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The child's next line of standard output (without its newline).

    The child's stdout must be a binary pipe (``stdout=subprocess.PIPE``
    without ``text=True``): it is read straight from its descriptor, so
    nothing is left in a Python buffer.  Raises ``RuntimeError`` when the child
    exits first and ``TimeoutError`` when no whole line comes in time."""
    if process.stdout is None:
        raise ValueError("read_line needs a child started with stdout=subprocess.PIPE")
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no line from pid {process.pid} within {timeout:g} s (so far: {data!r})")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1)  # one byte at a time: never read past the line
        if not chunk:
            raise RuntimeError(f"pid {process.pid} closed its output (exit status {process.poll()}) after {data!r}")
        data += chunk
    return data[:-1].decode()


def interrupted_once(command: list[str], started: Callable[[], bool], *, cwd, env, ceiling: float = 120.0):
    """Run ``command``, send it SIGINT once ``started()`` holds, and return
    (exit code, stdout, stderr).  ``ceiling`` bounds a child that never gets
    there; after the SIGINT it has 60 s to stop (a child waiting on a stuck
    metric would take far longer), else it is killed."""
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + ceiling
        while not started():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < end, "the child never got to the point to interrupt"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return child.returncode, out, err


def alive(pid: int) -> bool:
    """The process ``pid`` still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
