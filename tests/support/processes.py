"""Reading a child process's output without ever blocking for good.

A bare ``readline()`` on a pipe waits forever when the child hangs before it
prints; the test then hangs instead of failing.  ``read_line`` waits at most
``timeout`` seconds and says what the child did instead.
"""
from __future__ import annotations

import os
import select
import subprocess
import time

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
