"""``reflectloop merge PACKET... --out MERGED``: join annotated packets of
one session into a new session holding every annotator's decisions (their
whole history, undos included).  ``reflectloop audit MERGED`` reports the
agreement between them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reflectloop.tui.subcommands import plain


def run(args: argparse.Namespace) -> int:
    from reflectloop.sessions.packets import merge

    out = merge([Path(p) for p in args.packets], Path(args.out))
    print(f"{len(args.packets)} packets merged into {out}\nagreement: reflectloop audit {out} --section agreement",
          file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("merge", help="join annotated packets into one session for the agreement audit",
                       description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("packets", nargs="+", metavar="PACKET", help="packets written by reflectloop assign")
    p.add_argument("--out", required=True, metavar="MERGED", help="the merged session to write (must not exist)")
    p.set_defaults(func=run)
