"""A one-line progress bar for the CLI, on stderr, drawn only on a terminal."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from reflectloop.core.events import Event, Note, PhaseStarted, Progress, StepDone


class ProgressBar:
    width = 28

    def __init__(self, stream: TextIO | None = None, *, method: str = ""):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.method = method
        self.phase = ""
        self._last = 0.0

    def __call__(self, event: Event) -> None:
        match event:
            case PhaseStarted(step=step, phase=phase, detail=detail):
                self.phase = f"step {step} {phase} {detail}".strip()
                self._draw(self.phase, force=True)
            case Progress(step=step, label=label, done=done, total=total):
                filled = int(self.width * done / max(total, 1))
                bar = "█" * filled + "·" * (self.width - filled)
                self._draw(f"step {step} {label:<4} [{bar}] {done}/{total}", force=done == total)
            case Note(step=step, text=text):
                self._print(f"step {step}: {text}")
            case StepDone():
                self._clear()

    def _draw(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.live or (not force and now - self._last < 0.1):
            return
        self._last = now
        prefix = f"{self.method} " if self.method else ""
        self.stream.write("\r\x1b[2K" + (prefix + text)[:120])
        self.stream.flush()

    def _clear(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def _print(self, text: str) -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()
