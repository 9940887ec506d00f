"""``reflectloop best SESSION [--format text|json|python] [-o FILE]``: the
winning prompt with its message template filled, ready to paste."""
from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from reflectloop.sessions.best import best_prompt, save_best, write_best

    best = best_prompt(args.path)
    for note in best.notes:
        print(f"warning: {note}", file=sys.stderr)
    if args.output:
        fmt = save_best(args.output, best, args.format)
        print(f"best prompt ({best.prompt_id}, {fmt}) written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(write_best(best, args.format or "text"))
    return 0


def register(sub) -> None:
    from reflectloop.sessions.best import FORMATS

    p = sub.add_parser("best", help="the best prompt of a session with its template filled, ready to paste")
    p.add_argument("path", help="the session")
    p.add_argument("--format", choices=FORMATS,
                   help="text (each message under its role), json (str.format templates and scores) or python "
                        "(a module with MESSAGES and messages(**fields)); default: text, or the -o file's suffix")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(func=run)
