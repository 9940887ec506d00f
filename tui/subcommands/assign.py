"""``reflectloop assign SESSION --annotators a,b,c``: one annotation packet
per annotator over the same error sets.

Each packet is a session holding the source's LLM proposals and their error
sets, none of its decisions; it runs no model.  It is blind: the optimizer's
text of an error set is shown only after the annotator's own reflection on
it.  Open one with ``reflectloop tui --session PACKET``; join them with
``reflectloop merge``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reflectloop.tui.subcommands import plain


def run(args: argparse.Namespace) -> int:
    from reflectloop.core.rubric import load_rubric
    from reflectloop.sessions.packets import assign

    source = Path(args.session)
    folder = Path(args.output) if args.output else source.with_name(source.name.removesuffix(".session") + "-packets")
    steps = [int(s) for s in args.steps.split(",")] if args.steps else None
    names = [a.strip() for a in args.annotators.split(",")]
    for path in assign(source, names, folder, load_rubric(args.rubric), steps):
        print(path)
    print("open each with: reflectloop tui --session PACKET; then: reflectloop merge PACKET... --out MERGED",
          file=sys.stderr)
    return 0


def _steps(value: str) -> str:
    if not all(part.strip().isdigit() for part in value.split(",")):
        raise argparse.ArgumentTypeError(f"steps must be comma separated step numbers, not {value!r}")
    return value


def register(sub) -> None:
    p = sub.add_parser("assign", help="write one blind annotation packet per annotator over the same error sets",
                       description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("session", help="the session whose proposals are annotated")
    p.add_argument("--annotators", required=True, metavar="A,B,C", help="annotator names, comma separated")
    p.add_argument("--steps", type=_steps, metavar="K,L", help="only these steps (default: every step with proposals)")
    p.add_argument("--rubric", metavar="TOML", help="the label rubric (default: the study's questions)")
    p.add_argument("-o", "--output", help="folder of the packets (default: <session>-packets beside it)")
    p.set_defaults(func=run)
