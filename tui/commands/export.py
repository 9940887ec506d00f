"""``reflectloop export PATH --format jsonl|csv|hf [-o FILE]``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ("jsonl", "csv", "hf")


def run(args: argparse.Namespace) -> int:
    from sessions.export import export, export_name
    from sessions.store import SessionStore

    source = Path(args.path)
    out = Path(args.output) if args.output else Path(export_name(source, args.format))
    with SessionStore.open(source, read_only=True) as store:
        n = export(store, args.format, out)
    print(f"{n} reviewed proposals written to {out}", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("export", help="annotation data: one record per reviewed proposal")
    p.add_argument("path", help="the session")
    p.add_argument("--format", choices=FORMATS, default="jsonl",
                   help="jsonl, csv, or hf (a folder that datasets.load_dataset reads) (default: jsonl)")
    p.add_argument("-o", "--output", help="file (folder for hf) to write (default: the session's name, here)")
    p.set_defaults(func=run)
