"""A Python child process for the storage tests, whose output is read with a deadline.

The deadline only bounds a hang (a child that stopped writing fails the test
with its stderr instead of blocking the suite); no assertion depends on it.
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANG = 120.0  # seconds without a line before a child counts as hung


class Child:
    def __init__(self, code: str, *args: str, commands: bool = False) -> None:
        """``commands``: the child reads commands from its stdin, sent with :meth:`send`."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args], cwd=ROOT, env=env,
            stdin=subprocess.PIPE if commands else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._buffer = b""
        self._eof = False

    def line(self) -> str | None:
        """The next complete line of its stdout; None once it ended."""
        deadline = time.monotonic() + HANG
        while b"\n" not in self._buffer:
            if self._eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                self.proc.kill()
                self.proc.wait(timeout=HANG)
                raise AssertionError(f"child wrote no line for {HANG:.0f} s: {self._stderr()}")
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                self._eof = not chunk
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def lines_until(self, marker: str) -> list[str]:
        """Every line before ``marker``; fails if the child ends without writing it."""
        seen = []
        while (line := self.line()) != marker:
            assert line is not None, f"child ended before {marker!r}: {self._stderr()}"
            seen.append(line)
        return seen

    def send(self, command: str) -> None:
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def kill(self) -> list[str]:
        """SIGKILL it; returns the complete lines it wrote that were not read yet."""
        self.proc.kill()
        self.proc.wait(timeout=HANG)
        rest = self._buffer + self.proc.stdout.read()  # the pipe is at EOF once it is dead
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        self._buffer, self._eof = b"", True
        return rest.decode().split("\n")[:-1]  # an unterminated last line was never acknowledged

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")[-2000:]
