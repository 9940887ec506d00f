"""``reflectloop fork PATH --step K``: a new session from step K's beam."""
from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from reflectloop.sessions.fork import fork

    source = Path(args.path)
    target = Path(args.output) if args.output else source.with_name(f"{source.name.removesuffix('.session')}-fork{args.step}.session")
    fork(source, args.step, target)
    print(f"forked {source.name} at step {args.step} into {target}\n"
          f"continue with: reflectloop run --session {target}  (or reflectloop tui --session {target})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("fork", help="start a new session from step K's beam of another one")
    p.add_argument("path", help="the session to fork")
    p.add_argument("--step", type=int, required=True, help="the completed step whose beam the fork starts from")
    p.add_argument("-o", "--output", help="the new session's path (default: beside the source)")
    p.set_defaults(func=run)
