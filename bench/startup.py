"""Start-up time of the TUI: launch to the first interactive frame.

Each run is a fresh interpreter.  ``app`` runs ``ReflectLoopApp`` (the start
screen, as ``reflectloop`` opens) headless and reports the moment the start
screen has been composed, mounted and painted once; ``textual`` only imports
textual, the floor any Textual app pays (a one-widget app is measured too,
for scale).  The runs alternate, ``--repeat``
times each, and the medians are printed with their ratio.

    python bench/startup.py [--repeat 5]

Not a test: nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

APP = r"""
import time
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.screens.start import StartScreen

class Bench(ReflectLoopApp):
    def on_ready(self) -> None:
        self._probe = self.set_interval(0.002, self._check)

    def _check(self) -> None:
        if isinstance(self.screen, StartScreen) and self.screen.is_mounted:
            self._probe.stop()
            self.screen.call_after_refresh(self._painted)

    def _painted(self) -> None:
        print(time.time(), flush=True)
        self.exit()

Bench().run(headless=True, size=(120, 40))
"""

TEXTUAL = "import time, textual; print(time.time(), flush=True)"

# For scale: the smallest Textual app (one Static) to its first frame, measured the same way.
MINIMAL = r"""
import time
from textual.app import App
from textual.widgets import Static

class Minimal(App):
    def compose(self):
        yield Static("hello")

    def on_ready(self) -> None:
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        print(time.time(), flush=True)
        self.exit()

Minimal().run(headless=True, size=(120, 40))
"""


def launch(code: str, env: dict) -> float:
    """Seconds from starting the interpreter to the time it prints."""
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return float(out.stdout.strip().splitlines()[-1]) - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "REFLECTLOOP_HOME": home, "REFLECTLOOP_CONFIG": str(Path(home) / "none.toml"),
               "PYTHONPATH": str(ROOT)}
        launch(TEXTUAL, env)  # warm the file cache once, for both
        launch(APP, env)
        app, textual, minimal = [], [], []
        for _ in range(args.repeat):
            textual.append(launch(TEXTUAL, env))
            minimal.append(launch(MINIMAL, env))
            app.append(launch(APP, env))
    med_app, med_textual, med_minimal = (statistics.median(x) for x in (app, textual, minimal))
    runs = lambda xs: " ".join(f"{t:.3f}" for t in xs)
    print(f"import textual              median {med_textual:.3f} s   runs {runs(textual)}")
    print(f"minimal Textual first frame median {med_minimal:.3f} s   runs {runs(minimal)}")
    print(f"reflectloop first frame     median {med_app:.3f} s   runs {runs(app)}")
    print(f"ratio reflectloop / import textual:  {med_app / med_textual:.2f}")
    print(f"ratio reflectloop / minimal app:     {med_app / med_minimal:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
