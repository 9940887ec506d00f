"""``reflectloop best SESSION [--format text|json|python] [-o FILE]``: the
winning prompt with its message template filled, ready to paste;
``--format promptfoo [--out DIR]``: a promptfoo suite's config and files
with the winning prompt, for ``promptfoo eval``."""
from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from reflectloop.sessions.best import best_prompt, save_best, write_best

    best = best_prompt(args.path)
    for note in best.notes:
        print(f"warning: {note}", file=sys.stderr)
    if args.format == "promptfoo":
        return _promptfoo(args, best)
    if args.output:
        fmt = save_best(args.output, best, args.format)
        print(f"best prompt ({best.prompt_id}, {fmt}) written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(write_best(best, args.format or "text"))
    return 0


def _promptfoo(args: argparse.Namespace, best) -> int:
    from pathlib import Path

    from reflectloop.sessions.best_promptfoo import left_out, save_promptfoo

    out = Path(args.out or args.output or f"{Path(args.path).stem}-promptfoo")
    written = save_promptfoo(best, out)
    for line in left_out(best):
        print(f"warning: {line}", file=sys.stderr)
    print(f"best prompt ({best.prompt_id}) written with its suite to {out}: {', '.join(p.name for p in written)}; "
          f"run it with: promptfoo eval -c {out / 'promptfooconfig.yaml'}", file=sys.stderr)
    return 0


def register(sub) -> None:
    from reflectloop.sessions.best import FORMATS

    p = sub.add_parser("best", help="the best prompt of a session with its template filled, ready to paste")
    p.add_argument("path", help="the session")
    p.add_argument("--format", choices=(*FORMATS, "promptfoo"),
                   help="text (each message under its role), json (str.format templates and scores) or python "
                        "(a module with MESSAGES and messages(**fields)); default: text, or the -o file's suffix; "
                        "promptfoo (a promptfoo:PATH task): the suite with the prompt, in the folder --out")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--out", help="--format promptfoo: the folder to write (default: SESSION-promptfoo)")
    p.set_defaults(func=run)
