"""The README's headless examples, run as written on the embedded model.

Reads the ``reflectloop run`` lines of README.md's "Headless runs" section,
every code block of it,
runs each one from the repository's root as a fresh clone would (its own
empty ``REFLECTLOOP_HOME``: no cached answer, no config file), one after
the other, and prints each one's wall time and exit code.  A run on the
embedded model takes minutes on two cores: this is a benchmark, not part of
the test suite.

    python bench/readme_examples.py [--only N] [--list] [--keep-home DIR]

``--only N`` runs the N-th example (from 1); ``--keep-home DIR`` uses DIR as
the home (and keeps it), so a second pass shows what the cache saves.
The exit status is 0 when every example exited 0.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Headless runs"
COMMAND = re.compile(r"^\.venv/bin/reflectloop (run .*)$")


def examples(readme: Path = ROOT / "README.md") -> list[str]:
    """The ``reflectloop run`` command lines of the section's code blocks, as written."""
    text = readme.read_text()
    start = text.index(SECTION)
    section = text[start:].split("\n## ", 1)[0]
    blocks = section.split("```")[1::2]  # the insides of the fenced blocks
    lines, pending = [], ""
    for line in "\n".join(blocks).splitlines():
        line = pending + line.strip()
        pending = ""
        if line.endswith("\\"):  # a command continued on the next line
            pending = line[:-1].rstrip() + " "
            continue
        match = COMMAND.match(line)
        if match:
            lines.append(match.group(1))
    if not lines:
        raise SystemExit(f"README.md: no reflectloop run line under {SECTION!r}")
    return lines


def run_one(command: str, home: Path) -> tuple[float, int, str]:
    """(wall seconds, exit code, last line of stderr) of one example."""
    env = {**os.environ, "REFLECTLOOP_HOME": str(home), "REFLECTLOOP_CONFIG": str(home / "no-config.toml"),
           "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "reflectloop", *shlex.split(command)]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "")
    return seconds, done.returncode, last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", type=int, metavar="N", help="run only the N-th example (from 1)")
    parser.add_argument("--list", action="store_true", help="print the examples and exit")
    parser.add_argument("--keep-home", type=Path, metavar="DIR", help="use DIR as REFLECTLOOP_HOME and keep it")
    args = parser.parse_args(argv)
    found = examples()
    if args.list:
        print("\n".join(f"{k}. reflectloop {c}" for k, c in enumerate(found, 1)))
        return 0
    chosen = list(enumerate(found, 1))
    if args.only is not None:
        if not 1 <= args.only <= len(found):
            parser.error(f"--only must be between 1 and {len(found)}")
        chosen = [chosen[args.only - 1]]
    home = f"in {args.keep_home} (its cache kept)" if args.keep_home else "each from an empty home"
    print(f"{os.cpu_count()} cores; README examples on the embedded model, {home}", flush=True)
    worst = 0
    for k, command in chosen:
        if args.keep_home:
            args.keep_home.mkdir(parents=True, exist_ok=True)
            seconds, code, last = run_one(command, args.keep_home)
        else:
            with tempfile.TemporaryDirectory(prefix="readme-example-") as home:
                seconds, code, last = run_one(command, Path(home))
        minutes, rest = divmod(round(seconds), 60)
        print(f"{k}. exit {code}  {minutes} min {rest:02d} s  reflectloop {command}", flush=True)
        if code != 0:
            print(f"   {last}", flush=True)
        worst = worst or code
    return 0 if worst == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
